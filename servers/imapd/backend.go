package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/exsim/exsim/servers/internal/serve"
	"github.com/exsim/exsim/store"
)

// Flavor selects what the Backend looks like.
type Flavor int

const (
	// FlavorExchange is Exchange's IMAP4 Backend service (port 1993): the
	// capabilities Exchange announces after logon and SASL mechanisms
	// PLAIN, NTLM and GSSAPI (only PLAIN works).
	FlavorExchange Flavor = iota
	// FlavorPlain is an ordinary IMAP server (the lab's Internet server) with
	// go-imap's greeting and SPECIAL-USE.
	FlavorPlain
)

const defaultAuthTimeout = 10 * time.Second

// BackendOptions configure a Backend. Store and Auth are required.
type BackendOptions struct {
	Store  *store.Store
	Auth   Authenticator
	Flavor Flavor
	// TLSConfig enables STARTTLS on a cleartext listener. Logons are only
	// accepted over TLS (a tls.Listener, or after STARTTLS).
	TLSConfig *tls.Config
	// Server names this server in logs ("EX01").
	Server string
	// Listener names the listener in logs ("IMAP4 Backend").
	Listener string
	// AuthTimeout bounds one Authenticator call. Default 10 s.
	AuthTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Backend serves mailboxes of a store over IMAP4rev1.
type Backend struct {
	opts BackendOptions
	log  *slog.Logger
	srv  *imapserver.Server
	// headers serve SEARCH (headercache.go).
	headers headerCache
	cid     atomic.Uint64
	// lc closes the listeners and counts go-imap's sessions; go-imap's
	// server closes the connections.
	lc *serve.Lifecycle
}

// NewBackend returns a Backend; it serves nothing until Serve is called.
func NewBackend(opts BackendOptions) (*Backend, error) {
	if opts.Store == nil || opts.Auth == nil {
		return nil, errors.New("imapd: backend needs a Store and an Authenticator")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	serve.Default(&opts.AuthTimeout, defaultAuthTimeout)
	if opts.Listener == "" {
		opts.Listener = "IMAP4 Backend"
	}
	b := &Backend{
		opts: opts,
		log:  opts.Logger.With("server", opts.Server, "listener", opts.Listener, "proto", "imap"),
	}
	var closeSrv sync.Once
	b.lc = serve.New(serve.Options{
		Name:   "imapd: backend",
		Closed: net.ErrClosed,
		Logger: b.log,
		Abort:  func() { closeSrv.Do(func() { _ = b.srv.Close() }) },
	})
	b.srv = imapserver.New(&imapserver.Options{
		NewSession: b.newSession,
		Caps:       backendCaps(opts.Flavor),
		Logger:     printfLogger{b.log},
		TLSConfig:  opts.TLSConfig,
		// The Exchange backend accepts only connections that are already
		// TLS (see exchangeConn, which hides the *tls.Conn go-imap looks for).
		InsecureAuth: opts.Flavor == FlavorExchange,
	})
	return b, nil
}

// backendCaps is what go-imap announces besides what it always adds
// (SASL-IR, LITERAL-, IDLE, UNSELECT, ENABLE, UTF8=ACCEPT). Exchange's
// post-logon list is IMAP4 IMAP4rev1 AUTH=... SASL-IR UIDPLUS MOVE ID
// CHILDREN IDLE NAMESPACE LITERAL+; go-imap cannot announce IMAP4 or ID
// (it has no ID command), nor AUTH= after logon.
func backendCaps(f Flavor) imap.CapSet {
	caps := imap.CapSet{
		imap.CapIMAP4rev1:   {},
		imap.CapUIDPlus:     {},
		imap.CapMove:        {},
		imap.CapChildren:    {},
		imap.CapNamespace:   {},
		imap.CapLiteralPlus: {},
	}
	if f == FlavorPlain {
		caps[imap.CapSpecialUse] = struct{}{}
	}
	return caps
}

// Serve accepts connections on ln until Close or Shutdown, and then returns
// net.ErrClosed. Pass a tls.Listener for port 1993 / 993.
func (b *Backend) Serve(ln net.Listener) error {
	release, ok := b.lc.Listen(ln)
	if !ok {
		return net.ErrClosed
	}
	defer release()
	var l net.Listener = deadlineListener{b.lc.Accepting(ln)}
	if b.opts.Flavor == FlavorExchange {
		l = exchangeListener{l, b.log}
	}
	err := b.srv.Serve(l) // nil once the listener reports net.ErrClosed
	switch {
	case b.lc.Stopped():
		return net.ErrClosed
	case err != nil:
		return fmt.Errorf("imapd: backend: %w", err)
	}
	return nil
}

// Close closes the listeners and every connection and waits for the
// sessions to end.
func (b *Backend) Close() error { return b.lc.Close() }

// Shutdown stops accepting connections and waits for the sessions to end
// until ctx is done, then closes the rest.
func (b *Backend) Shutdown(ctx context.Context) error { return b.lc.Shutdown(ctx) }

func (b *Backend) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	if !b.lc.Begin() { // ended by session.Close
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server Unavailable. 15"}
	}
	cid := strconv.FormatUint(b.cid.Add(1), 16)
	return &session{
		b:   b,
		log: b.log.With("cid", cid, "remote", c.NetConn().RemoteAddr().String()),
	}, nil, nil
}

// greetingTimeout bounds a new connection until go-imap sets its own
// deadlines: imapserver writes its greeting (and, on a tls.Listener, runs
// the handshake) with a write deadline only, so a silent client would hold
// the connection forever.
const greetingTimeout = 30 * time.Second

// deadlineListener sets that first deadline. It returns the accepted
// connection itself, so a *tls.Conn stays one (go-imap allows logons only on
// *tls.Conn).
type deadlineListener struct{ net.Listener }

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.SetDeadline(time.Now().Add(greetingTimeout))
	}
	return c, err
}

// printfLogger feeds imapserver's messages into slog: command failures are
// internal errors worth a warning, connection noise is debug.
type printfLogger struct{ l *slog.Logger }

func (p printfLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	switch {
	case strings.HasPrefix(msg, "panic"):
		p.l.Error("imapd: backend panic", "err", msg)
	case strings.HasPrefix(msg, "handling "), strings.HasPrefix(msg, "failed to create session"):
		p.l.Warn("imapd: backend command failed", "err", msg)
	default:
		p.l.Debug("imapd: backend connection", "err", msg)
	}
}

// exchangeListener gives the Exchange backend Exchange's words
// (exchangeConn): go-imap hard-codes its own, from the greeting "IMAP server
// ready" on, but Exchange's IMAP4 Backend service speaks as its frontend
// does, and nmap, the probe or a client must not tell them apart. It serves
// implicit-TLS connections only.
type exchangeListener struct {
	net.Listener
	log *slog.Logger
}

func (l exchangeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if _, ok := c.(*tls.Conn); !ok {
			l.log.Warn("imapd: the Exchange backend takes TLS connections only; closing", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		return newExchangeConn(c), nil
	}
}
