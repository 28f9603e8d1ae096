package httpd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/exsim/exsim/internal/defaults"
	"github.com/exsim/exsim/internal/membudget"
)

// Limits are the web listeners' connection and request limits, modelled
// on IIS and HTTP.sys (which IIS sits on):
//
//   - HeaderWait: the request line and header must arrive within it.
//     HTTP.sys's HeaderWait timer is 120 s by default; exsim keeps 10 s, as
//     it did before, stricter than a default IIS.
//   - RequestTimeout: the whole request, header and body, must arrive
//     within it: HTTP.sys's EntityBody timer and IIS's connectionTimeout,
//     both 120 s by default (system.applicationHost/webLimits).
//   - MinBytesPerSecond: a request body must keep arriving at this rate
//     after a grace of HeaderWait: IIS's webLimits minBytesPerSecond, 240.
//     IIS applies that figure to responses (HTTP.sys MinSendRate) and to a
//     body only the EntityBody idle timer; exsim applies it to bodies too,
//     so a client sending a byte every 10 s is cut in seconds, not kept.
//   - IdleTimeout: a kept-alive connection between requests: HTTP.sys's
//     IdleConnection timer, 120 s.
//   - MaxConnectionsPerSource: open connections from one address. IIS has
//     none unless Dynamic IP Restrictions is installed; exsim behaves as if
//     its denyByConcurrentRequests were on with maxConcurrentRequests 100
//     (the module's default is 5 requests, too few for Outlook's parallel
//     connections) and answers with its default denyAction, 403.
type Limits struct {
	HeaderWait              time.Duration
	RequestTimeout          time.Duration
	MinBytesPerSecond       int64
	IdleTimeout             time.Duration
	MaxConnectionsPerSource int
}

// DefaultLimits are the limits above.
func DefaultLimits() Limits {
	return Limits{
		HeaderWait: 10 * time.Second, RequestTimeout: 120 * time.Second, MinBytesPerSecond: 240,
		IdleTimeout: 120 * time.Second, MaxConnectionsPerSource: 100,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	defaults.Set(&l.HeaderWait, d.HeaderWait)
	defaults.Set(&l.RequestTimeout, d.RequestTimeout)
	defaults.Set(&l.MinBytesPerSecond, d.MinBytesPerSecond)
	defaults.Set(&l.IdleTimeout, d.IdleTimeout)
	defaults.Set(&l.MaxConnectionsPerSource, d.MaxConnectionsPerSource)
	return l
}

// Serve serves h on ln under the limits: per-source connection counting on
// the listener (wrap ln before TLS, so a handshake counts too), the
// timeouts on the server, and the body rate and the process-wide
// in-flight budget on every request body. connContext (may be nil) is
// passed on as the server's ConnContext. The caller owns the returned
// server (Shutdown) and runs Serve on the returned listener.
func (l Limits) Serve(h http.Handler, connContext func(context.Context, net.Conn) context.Context) *http.Server {
	l = l.withDefaults()
	return &http.Server{
		Handler:           l.bodies(h),
		ReadHeaderTimeout: l.HeaderWait,
		// No ReadTimeout: net/http keeps that deadline on the connection
		// while the handler runs and cancels the request's context when it
		// passes, which would end ActiveSync Ping and EWS streaming long
		// polls. limitedBody holds a body to RequestTimeout instead.
		IdleTimeout:    l.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			ctx = context.WithValue(ctx, connKey{}, c)
			if connContext != nil {
				ctx = connContext(ctx, c)
			}
			return ctx
		},
	}
}

type connKey struct{}

// Listener counts open connections per source address; a connection over
// MaxConnectionsPerSource is still accepted, and its requests are answered
// 403 and the connection closed (Dynamic IP Restrictions' Forbidden).
func (l Limits) Listener(ln net.Listener) net.Listener {
	l = l.withDefaults()
	return &sourceListener{Listener: ln, max: l.MaxConnectionsPerSource, open: map[netip.Addr]int{}}
}

type sourceListener struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[netip.Addr]int
}

func (s *sourceListener) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return c, nil
	}
	src := ap.Addr().Unmap()
	s.mu.Lock()
	over := s.open[src] >= s.max
	if !over {
		s.open[src]++
	}
	s.mu.Unlock()
	return &sourceConn{Conn: c, l: s, src: src, over: over}, nil
}

// sourceConn is a connection that gives its place back when it closes.
type sourceConn struct {
	net.Conn
	l    *sourceListener
	src  netip.Addr
	over bool
	once sync.Once
}

func (c *sourceConn) Close() error {
	c.once.Do(func() {
		if c.over {
			return
		}
		c.l.mu.Lock()
		if c.l.open[c.src]--; c.l.open[c.src] <= 0 {
			delete(c.l.open, c.src)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// NetConn lets tls.Conn's users reach the counted connection.
func (c *sourceConn) NetConn() net.Conn { return c.Conn }

// overLimit reports whether the request's connection is one too many from
// its source.
func overLimit(r *http.Request) bool {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	for c != nil {
		if sc, ok := c.(*sourceConn); ok {
			return sc.over
		}
		nc, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return false
		}
		c = nc.NetConn()
	}
	return false
}

// errBudget is a body read refused because the process-wide in-flight
// budget is spent.
var errBudget = errors.New("httpd: request body refused: in-flight byte budget spent")

// bodies wraps every request: a connection over the per-source limit gets
// 403; a body is read under the rate limit and the in-flight budget.
func (l Limits) bodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if overLimit(r) {
			w.Header().Set("Connection", "close")
			http.Error(w, "403 - Forbidden: Too many requests from the same client IP; Dynamic IP Restriction Concurrent request rate limit reached.", http.StatusForbidden)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		b := &limitedBody{rc: r.Body, ctl: http.NewResponseController(w), l: l, start: time.Now()}
		b.ctl.SetReadDeadline(b.deadline())
		defer b.release()
		r.Body = b
		h.ServeHTTP(w, r)
	})
}

// limitedBody is a request body read at MinBytesPerSecond or faster, each
// piece drawn from membudget.Memory until the request ends.
type limitedBody struct {
	rc interface {
		Read([]byte) (int, error)
		Close() error
	}
	ctl     *http.ResponseController
	l       Limits
	start   time.Time
	n, held int64
	refused bool
}

// deadline is when the next byte must have arrived: the grace plus the
// time the bytes so far buy at the minimum rate, never past the whole
// request's deadline.
func (b *limitedBody) deadline() time.Time {
	d := b.start.Add(b.l.HeaderWait + time.Duration(b.n*int64(time.Second)/b.l.MinBytesPerSecond))
	if max := b.start.Add(b.l.RequestTimeout); d.After(max) {
		return max
	}
	return d
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.refused {
		return 0, errBudget
	}
	n, err := b.rc.Read(p)
	if n > 0 {
		if !membudget.Memory.TryAcquire(int64(n)) {
			b.refused = true
			return 0, errBudget
		}
		b.held += int64(n)
		b.n += int64(n)
		b.ctl.SetReadDeadline(b.deadline())
	}
	if err == io.EOF {
		// The whole body is in: the connection waits for the next request
		// (or the client's close, during a long poll) without a deadline.
		b.ctl.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

func (b *limitedBody) release() {
	membudget.Memory.Release(b.held)
	b.held = 0
}
