// Package proxyd is an impersonated open proxy: the lab Internet server runs it
// on the ports that an Edge Transport server's sender reputation tests
// (sender-reputation-procedures.md, "open proxy server detection": SOCKS4 and
// SOCKS5 on 1081 and 1080, Wingate, Telnet and Cisco on 23, HTTP CONNECT and
// HTTP POST on 6588, 3128 and 80), so the Edge's Protocol Analysis agent finds
// a sender that is an open proxy.
//
// It is open in the protocol sense only. Every onward connection is checked
// against Options.Allow first (the lab passes "addresses of the topology
// only"); anything else gets the protocol's own failure reply. Host names are
// resolved only through Options.Resolve, never through the system resolver.
package proxyd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/exsim/exsim/internal/socks"
	"github.com/exsim/exsim/servers/internal/serve"
)

// Protocol is what a Server speaks on its listeners.
type Protocol string

const (
	// SOCKS accepts SOCKS4, SOCKS4a and SOCKS5 on one listener; the first
	// byte of a connection (the version) decides, as real SOCKS daemons on
	// 1080 do.
	SOCKS Protocol = "socks"
	// SOCKS4 accepts SOCKS4 and SOCKS4a only.
	SOCKS4 Protocol = "socks4"
	// SOCKS5 accepts SOCKS5 (RFC 1928) with the "no authentication" method.
	SOCKS5 Protocol = "socks5"
	// Wingate is a WinGate-style telnet proxy: a `WinGate>` prompt that
	// accepts `host:port`, `host port`, `open host port` and Cisco's
	// `telnet host port`.
	Wingate Protocol = "wingate"
	// HTTP is an HTTP proxy: CONNECT tunnels and absolute-URI requests
	// (POST, GET, ...) forwarded to the origin.
	HTTP Protocol = "http"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("proxyd: server closed")

// Defaults of Options.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultMaxConns         = 256
)

// Options configure a Server. The zero value (apart from Protocol) is a proxy
// that refuses every destination.
type Options struct {
	// Protocol spoken on every listener handed to Serve; run one Server per
	// protocol.
	Protocol Protocol
	// Allow decides which destinations the proxy connects onward to. It is
	// asked with the resolved address and port. nil refuses everything.
	Allow func(netip.AddrPort) bool
	// Dial makes every onward connection (source address binding and fault
	// injection live there). nil uses a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Resolve turns host names of SOCKS4a, SOCKS5 and HTTP requests into
	// addresses (the lab DNS). nil accepts address literals only.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Name identifies the server in logs (e.g. INET01).
	Name string
	// HandshakeTimeout bounds the proxy handshake, from accept to the
	// onward connection. Default 10 s.
	HandshakeTimeout time.Duration
	// DialTimeout bounds one onward connection attempt. Default 10 s.
	DialTimeout time.Duration
	// IdleTimeout closes a relayed connection after this long with no data
	// in either direction. Default 2 min.
	IdleTimeout time.Duration
	// MaxConns bounds concurrent client connections; more are closed at
	// once. Default 256.
	MaxConns int
	// Logger receives connection logs; nil discards.
	Logger *slog.Logger
}

// Server is an impersonated open proxy.
type Server struct {
	o   Options
	log *slog.Logger

	// lc serves the listeners; its Context, canceled by Close (or
	// Shutdown's deadline), ends every connection with its upstream.
	lc  *serve.Lifecycle
	cid atomic.Uint64
}

// NewServer returns a Server for o.
func NewServer(o Options) *Server {
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	serve.Default(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	serve.Default(&o.DialTimeout, DefaultDialTimeout)
	serve.Default(&o.IdleTimeout, DefaultIdleTimeout)
	serve.Default(&o.MaxConns, DefaultMaxConns)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("server", o.Name, "proto", string(o.Protocol))
	return &Server{
		o:   o,
		log: log,
		lc:  serve.New(serve.Options{Name: "proxyd", Closed: ErrServerClosed, Logger: log, MaxConns: o.MaxConns}),
	}
}

func (s *Server) handler() (func(*session) error, error) {
	switch s.o.Protocol {
	case SOCKS:
		return s.serveSOCKS, nil
	case SOCKS4:
		return s.serveSOCKS4Only, nil
	case SOCKS5:
		return s.serveSOCKS5Only, nil
	case Wingate:
		return s.serveWingate, nil
	case HTTP:
		return s.serveHTTP, nil
	}
	return nil, fmt.Errorf("proxyd: unknown protocol %q", s.o.Protocol)
}

// Serve accepts connections on l until Shutdown or Close and returns
// ErrServerClosed then. It may be called for several listeners at once.
func (s *Server) Serve(l net.Listener) error {
	h, err := s.handler()
	if err != nil {
		return err
	}
	log := s.log.With("listener", l.Addr().String())
	return s.lc.Serve(l, func(c net.Conn) { s.serveConn(c, h, log) })
}

// Shutdown stops accepting and waits for open connections to end. When ctx
// ends first, the remaining connections are closed and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error { return s.lc.Shutdown(ctx) }

// Close stops accepting, closes every connection and waits for their
// goroutines to end.
func (s *Server) Close() error { return s.lc.Close() }

// session is one client connection.
type session struct {
	ctx    context.Context
	conn   net.Conn
	br     *bufio.Reader
	log    *slog.Logger
	closed atomic.Bool

	mu       sync.Mutex
	upstream net.Conn
}

func (ss *session) setUpstream(c net.Conn) {
	ss.mu.Lock()
	ss.upstream = c
	ss.mu.Unlock()
	if ss.closed.Load() { // Close raced with the dial
		c.Close()
	}
}

func (ss *session) close() {
	ss.closed.Store(true)
	ss.conn.Close()
	ss.mu.Lock()
	if ss.upstream != nil {
		ss.upstream.Close()
	}
	ss.mu.Unlock()
}

func (s *Server) serveConn(c net.Conn, h func(*session) error, log *slog.Logger) {
	ctx, cancel := context.WithCancel(s.lc.Context())
	defer cancel()
	ss := &session{
		ctx:  ctx,
		conn: c,
		br:   bufio.NewReaderSize(c, readBufferSize),
		log:  log.With("cid", strconv.FormatUint(s.cid.Add(1), 10), "remote", c.RemoteAddr().String()),
	}
	stop := context.AfterFunc(ctx, ss.close)
	defer stop()
	defer ss.close()

	c.SetDeadline(time.Now().Add(s.o.HandshakeTimeout))
	if err := h(ss); err != nil && !errors.Is(err, io.EOF) {
		ss.log.Debug("connection ended", "err", err)
	}
}

// readBufferSize bounds what a client may buffer ahead of the proxy.
const readBufferSize = 4096

// failKind is why an onward connection was not made; each protocol maps it to
// its own failure reply.
type failKind int

const (
	failGeneral     failKind = iota
	failDenied               // Options.Allow refused every address
	failRefused              // the destination refused the connection
	failTimeout              // no answer within DialTimeout
	failUnreachable          // no route, or a name that does not resolve
)

// failReplies is each protocol's answer to a failed onward connection, by
// failKind: the SOCKS5 REP (RFC 1928 section 6), Squid's HTTP status and
// Wingate's text.
var failReplies = [...]struct {
	socks5  byte
	http    int
	wingate string
}{
	failGeneral:     {socks.GeneralFailure, http.StatusBadGateway, "Connection failed"},
	failDenied:      {socks.NotAllowed, http.StatusForbidden, "Access denied"},
	failRefused:     {socks.ConnRefused, http.StatusServiceUnavailable, "Connection refused"},
	failTimeout:     {socks.TTLExpired, http.StatusGatewayTimeout, "Connection timed out"},
	failUnreachable: {socks.HostUnreachable, http.StatusBadGateway, "Host unreachable"},
}

// connectError is a failed onward connection.
type connectError struct {
	kind failKind
	dest string
	err  error
}

func (e *connectError) Error() string {
	return fmt.Sprintf("proxyd: connect %s: %v", e.dest, e.err)
}

func (e *connectError) Unwrap() error { return e.err }

var errDenied = errors.New("destination not allowed")

// connect makes the onward connection to host:port for ss. host is an address
// literal or a name for Options.Resolve. Allow is asked for every resolved
// address; the first allowed one is dialled.
func (s *Server) connect(ss *session, host string, port uint16) (net.Conn, error) {
	dest := net.JoinHostPort(host, strconv.Itoa(int(port)))
	ctx, cancel := context.WithTimeout(ss.ctx, s.o.DialTimeout)
	defer cancel()

	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else if s.o.Resolve == nil {
		return nil, &connectError{kind: failUnreachable, dest: dest, err: errors.New("host names are not resolved")}
	} else {
		addrs, err = s.o.Resolve(ctx, host)
		if err != nil || len(addrs) == 0 {
			if err == nil {
				err = errors.New("no addresses")
			}
			return nil, &connectError{kind: failUnreachable, dest: dest, err: err}
		}
	}
	var target netip.AddrPort
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a.Unmap(), port)
		if s.o.Allow != nil && s.o.Allow(ap) {
			target = ap
			break
		}
	}
	if !target.IsValid() {
		ss.log.Info("destination refused by policy", "hop", dest)
		return nil, &connectError{kind: failDenied, dest: dest, err: errDenied}
	}
	c, err := s.o.Dial(ctx, "tcp", target.String())
	if err != nil {
		return nil, &connectError{kind: classifyDial(ctx, err), dest: target.String(), err: err}
	}
	ss.setUpstream(c)
	ss.log.Info("relaying", "hop", target.String())
	return c, nil
}

func classifyDial(ctx context.Context, err error) failKind {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return failRefused
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return failTimeout
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return failUnreachable
	}
	return failGeneral
}

func failureOf(err error) failKind {
	var ce *connectError
	if errors.As(err, &ce) {
		return ce.kind
	}
	return failGeneral
}
