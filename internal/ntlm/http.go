package ntlm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// NTLM and Negotiate over HTTP (MS-NTHT, RFC 4559) authenticate a
// connection, not a request: NEGOTIATE, 401 with the CHALLENGE, and
// AUTHENTICATE travel on one keep-alive connection. HTTPAuth keeps the
// state of each connection in a value that its ConnContext puts in the
// connection's context, so the state lives exactly as long as the
// connection.

// ErrNoConnContext: the http.Server does not call HTTPAuth.ConnContext, so
// there is no connection to bind the handshake to.
var ErrNoConnContext = errors.New("ntlm: http.Server.ConnContext does not install HTTPAuth.ConnContext")

// DefaultHandshakeTimeout bounds the time between the CHALLENGE and the
// AUTHENTICATE on one connection.
const DefaultHandshakeTimeout = 2 * time.Minute

// HTTPOptions configure HTTPAuth.
type HTTPOptions struct {
	// HandshakeTimeout: a CHALLENGE older than this is forgotten and the
	// AUTHENTICATE that answers it refused. Zero means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// SingleRequest is IIS's authPersistSingleRequest. False (IIS's
	// default): once a connection has authenticated, its later requests
	// without an Authorization header are the same user, which is what
	// clients that probe anonymously first (go-ntlmssp, Outlook) count on.
	// True: every request authenticates anew.
	SingleRequest bool
}

// HTTPAuth runs NTLM and Negotiate (SPNEGO-wrapped or raw NTLMSSP)
// handshakes for an http.Server. Install ConnContext in the server.
type HTTPAuth struct {
	srv  *Server
	opts HTTPOptions
}

// NewHTTPAuth returns an HTTPAuth authenticating with s.
func NewHTTPAuth(s *Server, o HTTPOptions) *HTTPAuth {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	return &HTTPAuth{srv: s, opts: o}
}

type connKey struct{ h *HTTPAuth }

// connState is the authentication state of one connection.
type connState struct {
	mu      sync.Mutex
	scheme  string // "NTLM" or "Negotiate" of the handshake in progress
	sess    *Session
	spnego  *spnegoAcceptor // Negotiate with SPNEGO tokens
	started time.Time
	account string // the connection's authenticated account (SingleRequest false)
}

func (c *connState) reset() {
	c.scheme, c.sess, c.spnego, c.account = "", nil, nil, ""
}

// ConnContext is for http.Server.ConnContext: it gives the connection its
// authentication state. Call it from your own ConnContext when you have one.
func (h *HTTPAuth) ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{h}, &connState{})
}

// HTTPStatus says what to do with a request after Authenticate.
type HTTPStatus int

const (
	// HTTPNoCredentials: no NTLM or Negotiate Authorization header (and the
	// connection is not authenticated). Try other schemes or answer 401
	// with the virtual directory's challenges.
	HTTPNoCredentials HTTPStatus = iota
	// HTTPContinue: answer 401 with the single header
	// WWW-Authenticate: HTTPResult.WWWAuthenticate and keep the connection.
	HTTPContinue
	// HTTPAuthenticated: serve the request as HTTPResult.Account, adding
	// WWW-Authenticate: HTTPResult.WWWAuthenticate to the response when it
	// is not empty (SPNEGO's final token, RFC 4559 section 5).
	HTTPAuthenticated
	// HTTPFailed: the handshake failed (HTTPResult.Err): answer 401 with
	// the virtual directory's challenges, as IIS does after a bad logon.
	HTTPFailed
)

func (s HTTPStatus) String() string {
	switch s {
	case HTTPNoCredentials:
		return "no credentials"
	case HTTPContinue:
		return "continue"
	case HTTPAuthenticated:
		return "authenticated"
	case HTTPFailed:
		return "failed"
	}
	return fmt.Sprintf("HTTPStatus(%d)", int(s))
}

// HTTPResult is the outcome of Authenticate.
type HTTPResult struct {
	Status          HTTPStatus
	Account         string // HTTPAuthenticated
	WWWAuthenticate string // the header value to send, see HTTPStatus
	Err             error  // HTTPFailed
}

// Authenticate runs one step of the handshake of r's connection.
func (h *HTTPAuth) Authenticate(r *http.Request) HTTPResult {
	st, _ := r.Context().Value(connKey{h}).(*connState)
	scheme, token, isNTLM := parseAuthorization(r.Header.Get("Authorization"))
	if st == nil {
		if isNTLM {
			return failed(ErrNoConnContext)
		}
		return HTTPResult{Status: HTTPNoCredentials}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !isNTLM {
		if st.account != "" && !h.opts.SingleRequest {
			return HTTPResult{Status: HTTPAuthenticated, Account: st.account}
		}
		return HTTPResult{Status: HTTPNoCredentials}
	}
	tok, err := decodeToken(token)
	if err != nil {
		st.reset()
		return failed(fmt.Errorf("ntlm: http %s token: %w", scheme, err))
	}
	first := messageType(tok) == typeNegotiate ||
		(scheme == "Negotiate" && len(tok) > 0 && (tok[0] == 0x60 || tok[0] == 0xa0))
	if first {
		// A new handshake, possibly on an authenticated connection: it
		// replaces whatever the connection had.
		st.reset()
		st.scheme = scheme
		st.sess = h.srv.NewSession()
		st.started = h.srv.opts.Now()
		if scheme == "Negotiate" && isSPNEGO(tok) {
			st.spnego = &spnegoAcceptor{sess: st.sess}
		}
	} else if st.sess == nil || st.scheme != scheme {
		st.reset()
		return failed(fmt.Errorf("ntlm: http %s: no handshake in progress on this connection: %w", scheme, ErrUnexpected))
	} else if h.srv.opts.Now().Sub(st.started) > h.opts.HandshakeTimeout {
		st.reset()
		return failed(fmt.Errorf("ntlm: http %s: handshake older than %v: %w", scheme, h.opts.HandshakeTimeout, ErrUnexpected))
	}
	var out []byte
	var done bool
	if st.spnego != nil {
		out, done, err = st.spnego.step(tok)
	} else {
		out, done, err = st.sess.Next(tok)
	}
	if err != nil {
		st.reset()
		return failed(err)
	}
	if !done {
		return HTTPResult{Status: HTTPContinue, WWWAuthenticate: scheme + " " + base64.StdEncoding.EncodeToString(out)}
	}
	account := st.sess.Account()
	st.reset()
	if !h.opts.SingleRequest {
		st.account = account
	}
	res := HTTPResult{Status: HTTPAuthenticated, Account: account}
	if len(out) > 0 {
		res.WWWAuthenticate = scheme + " " + base64.StdEncoding.EncodeToString(out)
	}
	return res
}

func failed(err error) HTTPResult { return HTTPResult{Status: HTTPFailed, Err: err} }

// parseAuthorization splits an Authorization header; isNTLM is true for
// the NTLM and Negotiate schemes with a token. The scheme is returned in
// its canonical spelling.
func parseAuthorization(v string) (scheme, token string, isNTLM bool) {
	s, t, _ := strings.Cut(strings.TrimSpace(v), " ")
	t = strings.TrimSpace(t)
	switch {
	case strings.EqualFold(s, "NTLM"):
		scheme = "NTLM"
	case strings.EqualFold(s, "Negotiate"):
		scheme = "Negotiate"
	default:
		return s, t, false
	}
	return scheme, t, t != ""
}

// decodeToken decodes a base64 token, padded or not (RFC 4559 section 4).
func decodeToken(t string) ([]byte, error) {
	if len(t) > maxMessageSize*4/3+4 {
		return nil, fmt.Errorf("%w: token of %d characters", ErrMalformed, len(t))
	}
	b, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(t, "="))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrMalformed, err)
	}
	return b, nil
}

type accountKey struct{}

// AccountFromContext returns the account Middleware authenticated.
func AccountFromContext(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(accountKey{}).(string)
	return a, ok
}

// Middleware requires NTLM or Negotiate authentication before next: it
// answers 401 itself (with WWW-Authenticate: Negotiate and NTLM, an empty
// body, as IIS does) and passes the account in the request context
// (AccountFromContext). Virtual directories with their own challenge lists
// call Authenticate instead.
func (h *HTTPAuth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := h.Authenticate(r)
		hdr := w.Header()
		switch res.Status {
		case HTTPAuthenticated:
			if res.WWWAuthenticate != "" {
				hdr.Set("WWW-Authenticate", res.WWWAuthenticate)
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accountKey{}, res.Account)))
			return
		case HTTPContinue:
			hdr.Set("WWW-Authenticate", res.WWWAuthenticate)
		default:
			hdr["WWW-Authenticate"] = []string{"Negotiate", "NTLM"}
		}
		hdr.Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
	})
}
