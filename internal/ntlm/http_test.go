package ntlm

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/testclock"
)

// httpLab is an httptest server behind HTTPAuth.Middleware that answers
// the account, and counts the requests that carried an Authorization header.
type httpLab struct {
	*httptest.Server
	auth    *HTTPAuth
	authHdr atomic.Int32
}

func newHTTPLab(t *testing.T, srv *Server, o HTTPOptions, withConnContext bool) *httpLab {
	t.Helper()
	l := &httpLab{auth: NewHTTPAuth(srv, o)}
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		account, _ := AccountFromContext(r.Context())
		io.WriteString(w, account)
	})
	h := l.auth.Middleware(final)
	l.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			l.authHdr.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	if withConnContext {
		l.Config.ConnContext = l.auth.ConnContext
	}
	l.Start()
	t.Cleanup(l.Close)
	return l
}

func negotiatorClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: tr}, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url, login, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader("<soap/>"))
	if err != nil {
		t.Fatal(err)
	}
	if login != "" {
		req.SetBasicAuth(login, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHTTPGoNTLMSSP(t *testing.T) {
	srv := newLabServer(t, nil)
	tests := []struct {
		login, password string
		wantCode        int
		wantBody        string
	}{
		{`CONTOSO\alice`, "P@ssw0rd", 200, "alice@contoso.com"},
		{"bob@contoso.com", "Secret-2", 200, "bob@contoso.com"},
		{`CONTOSO\alice`, "wrong", 401, ""},
		{`CONTOSO\nobody`, "P@ssw0rd", 401, ""},
	}
	for _, tt := range tests {
		lab := newHTTPLab(t, srv, HTTPOptions{}, true)
		c := negotiatorClient(t)
		code, body := get(t, c, lab.URL+"/EWS/Exchange.asmx", tt.login, tt.password)
		if code != tt.wantCode || body != tt.wantBody {
			t.Errorf("POST as %s = %d %q, want %d %q", tt.login, code, body, tt.wantCode, tt.wantBody)
		}
		if tt.wantCode != 200 {
			continue
		}
		// The connection stays authenticated (IIS authPersistSingleRequest
		// false): go-ntlmssp's anonymous first try succeeds.
		before := lab.authHdr.Load()
		code, body = get(t, c, lab.URL+"/EWS/Exchange.asmx", tt.login, tt.password)
		if code != 200 || body != tt.wantBody || lab.authHdr.Load() != before {
			t.Errorf("second POST as %s = %d %q with %d new Authorization headers, want 200 and none",
				tt.login, code, body, lab.authHdr.Load()-before)
		}
	}
}

func TestHTTPSingleRequest(t *testing.T) {
	lab := newHTTPLab(t, newLabServer(t, nil), HTTPOptions{SingleRequest: true}, true)
	c := negotiatorClient(t)
	for i := 0; i < 2; i++ {
		before := lab.authHdr.Load()
		code, body := get(t, c, lab.URL+"/", `CONTOSO\alice`, "P@ssw0rd")
		if code != 200 || body != "alice@contoso.com" || lab.authHdr.Load()-before != 2 {
			t.Errorf("POST %d = %d %q after %d Authorization headers, want 200 after 2", i, code, body, lab.authHdr.Load()-before)
		}
	}
	// Without credentials the connection is not authenticated.
	resp, err := http.Get(lab.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || strings.Join(got, ",") != "Negotiate,NTLM" {
		t.Errorf("anonymous GET = %d %v, want 401 [Negotiate NTLM]", resp.StatusCode, got)
	}
}

func TestHTTPNoConnContext(t *testing.T) {
	lab := newHTTPLab(t, newLabServer(t, nil), HTTPOptions{}, false)
	if code, _ := get(t, negotiatorClient(t), lab.URL+"/", `CONTOSO\alice`, "P@ssw0rd"); code != 401 {
		t.Errorf("POST without ConnContext = %d, want 401", code)
	}
	h := NewHTTPAuth(newLabServer(t, nil), HTTPOptions{})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "NTLM "+base64.StdEncoding.EncodeToString((&testClient{}).negotiateMessage()))
	if res := h.Authenticate(r); res.Status != HTTPFailed || !errorsIs(res.Err, ErrNoConnContext) {
		t.Errorf("Authenticate without ConnContext = %v %v, want failed with ErrNoConnContext", res.Status, res.Err)
	}
}

// connRequest is a request on the connection whose context is ctx.
func connRequest(ctx context.Context, authorization string) *http.Request {
	r := httptest.NewRequest("GET", "/mapi/emsmdb", nil).WithContext(ctx)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestHTTPAuthenticateSteps(t *testing.T) {
	clock := testclock.At(time.Date(2024, 3, 29, 12, 0, 0, 0, time.UTC))
	srv := newLabServer(t, func(o *Options) { o.Now = clock.Now })
	h := NewHTTPAuth(srv, HTTPOptions{HandshakeTimeout: time.Minute})
	alice := func() *testClient {
		return &testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", mic: true}
	}
	// handshake runs NEGOTIATE on conn1 and AUTHENTICATE on conn2 after wait.
	handshake := func(scheme string, conn1, conn2 context.Context, wait time.Duration) HTTPResult {
		c := alice()
		res := h.Authenticate(connRequest(conn1, scheme+" "+b64(c.negotiateMessage())))
		if res.Status != HTTPContinue || !strings.HasPrefix(res.WWWAuthenticate, scheme+" TlRMTVNTUAAC") {
			t.Fatalf("Authenticate(%s NEGOTIATE) = %+v, want continue with a CHALLENGE", scheme, res)
		}
		chal, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(res.WWWAuthenticate, scheme+" "))
		auth, err := c.authenticateMessage(chal)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(wait)
		return h.Authenticate(connRequest(conn2, scheme+" "+b64(auth)))
	}
	conn := func() context.Context { return h.ConnContext(context.Background(), nil) }

	c1 := conn()
	if res := handshake("NTLM", c1, c1, 0); res.Status != HTTPAuthenticated || res.Account != "alice@contoso.com" || res.WWWAuthenticate != "" {
		t.Errorf("NTLM handshake = %+v, want authenticated alice", res)
	}
	if res := h.Authenticate(connRequest(c1, "")); res.Status != HTTPAuthenticated || res.Account != "alice@contoso.com" {
		t.Errorf("next request on the connection = %+v, want authenticated alice", res)
	}
	if res := h.Authenticate(connRequest(c1, `Basic YTpi`)); res.Status != HTTPAuthenticated {
		t.Errorf("Basic on an NTLM-authenticated connection = %+v, want authenticated", res)
	}
	if res := h.Authenticate(connRequest(conn(), "")); res.Status != HTTPNoCredentials {
		t.Errorf("request on a new connection = %+v, want no credentials", res)
	}
	if res := h.Authenticate(connRequest(conn(), "Basic YTpi")); res.Status != HTTPNoCredentials {
		t.Errorf("Basic on a new connection = %+v, want no credentials", res)
	}
	// Raw NTLMSSP inside Negotiate.
	c2 := conn()
	if res := handshake("Negotiate", c2, c2, 0); res.Status != HTTPAuthenticated || res.Account != "alice@contoso.com" {
		t.Errorf("Negotiate (raw NTLMSSP) handshake = %+v, want authenticated", res)
	}
	// The AUTHENTICATE on another connection.
	if res := handshake("NTLM", conn(), conn(), 0); res.Status != HTTPFailed || !errorsIs(res.Err, ErrUnexpected) {
		t.Errorf("AUTHENTICATE on another connection = %+v, want failed", res)
	}
	// Too slow.
	c3 := conn()
	if res := handshake("NTLM", c3, c3, 2*time.Minute); res.Status != HTTPFailed {
		t.Errorf("AUTHENTICATE after 2 minutes = %+v, want failed", res)
	}
	// A failed handshake forgets an earlier logon of the connection.
	c4 := conn()
	handshake("NTLM", c4, c4, 0)
	if res := h.Authenticate(connRequest(c4, "NTLM "+b64([]byte("garbage")))); res.Status != HTTPFailed || !errorsIs(res.Err, ErrUnexpected) {
		t.Errorf("garbage token = %+v, want failed", res)
	}
	if res := h.Authenticate(connRequest(c4, "")); res.Status != HTTPNoCredentials {
		t.Errorf("after a failed handshake = %+v, want no credentials", res)
	}
	for _, bad := range []string{"NTLM !!!", "NTLM " + strings.Repeat("A", 100000), "Negotiate " + b64([]byte{0xa1, 0x03, 0x30, 0x01})} {
		if res := h.Authenticate(connRequest(conn(), bad)); res.Status != HTTPFailed {
			t.Errorf("Authenticate(%.20q) = %+v, want failed", bad, res)
		}
	}
	// "NTLM" without a token is no NTLM credential.
	if res := h.Authenticate(connRequest(conn(), "NTLM")); res.Status != HTTPNoCredentials {
		t.Errorf("Authenticate(NTLM without token) = %+v, want no credentials", res)
	}
}

func TestHTTPSPNEGO(t *testing.T) {
	srv := newLabServer(t, nil)
	h := NewHTTPAuth(srv, HTTPOptions{})
	alice := testClient{user: "alice", domain: "CONTOSO", password: "P@ssw0rd", mic: true}
	for _, s := range []spnegoClient{
		{c: alice, mechs: [][]byte{oidDER(oidNTLMSSP)}},
		{c: alice, mechs: [][]byte{oidDER(oidKerberos), oidDER(oidNTLMSSP)}, optimist: []byte{0x60, 0x00}},
	} {
		ctx := h.ConnContext(context.Background(), nil)
		tok := s.first()
		var res HTTPResult
		for i := 0; i < 4; i++ {
			res = h.Authenticate(connRequest(ctx, "Negotiate "+b64(tok)))
			if res.Status != HTTPContinue {
				break
			}
			out, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(res.WWWAuthenticate, "Negotiate "))
			if err != nil {
				t.Fatal(err)
			}
			tok = s.next(t, out)
		}
		if res.Status != HTTPAuthenticated || res.Account != "alice@contoso.com" {
			t.Fatalf("SPNEGO %d mechs: %+v, want authenticated", len(s.mechs), res)
		}
		final, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(res.WWWAuthenticate, "Negotiate "))
		s.verifyFinal(t, final)
	}
}

// TestHTTPNegotiateOnly is a virtual directory that offers only Negotiate:
// go-ntlmssp then sends raw NTLMSSP under the Negotiate scheme.
func TestHTTPNegotiateOnly(t *testing.T) {
	h := NewHTTPAuth(newLabServer(t, nil), HTTPOptions{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := h.Authenticate(r)
		switch res.Status {
		case HTTPAuthenticated:
			fmt.Fprint(w, res.Account)
			return
		case HTTPContinue:
			w.Header().Set("WWW-Authenticate", res.WWWAuthenticate)
		default:
			w.Header().Set("WWW-Authenticate", "Negotiate")
		}
		w.WriteHeader(401)
	}))
	ts.Config.ConnContext = h.ConnContext
	ts.Start()
	t.Cleanup(ts.Close)
	if code, body := get(t, negotiatorClient(t), ts.URL, `CONTOSO\alice`, "P@ssw0rd"); code != 200 || body != "alice@contoso.com" {
		t.Errorf("Negotiate-only POST = %d %q, want 200 alice", code, body)
	}
}
