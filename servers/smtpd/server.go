package smtpd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exsim/exsim/servers/internal/serve"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("smtpd: server closed")

const (
	readerSize = 16 << 10 // holds a whole pipelined command group and AUTH lines
	writerSize = 4 << 10
)

// Server is the SMTP receive side of one Exchange Receive connector.
type Server struct {
	be       Backend
	opts     Options
	lim      Limits
	hostname string
	logger   *slog.Logger
	now      func() time.Time

	sessionBase uint64        // .NET ticks at start, as Exchange session ids
	sessionSeq  atomic.Uint64 // added to sessionBase per connection

	lc *serve.Lifecycle // listeners, connection goroutines, Shutdown and Close

	mu        sync.Mutex
	conns     map[*Conn]struct{} // counted against the connection limits
	perSource map[netip.Addr]int
	rate      *rateLimiter // nil: MessageRateLimit Unlimited

	readers sync.Pool // *bufio.Reader
	writers sync.Pool // *bufio.Writer
}

// NewServer returns a server that hands sessions to b.
func NewServer(b Backend, o Options) *Server {
	s := &Server{
		be:        b,
		opts:      o,
		lim:       o.Limits.withDefaults(),
		hostname:  o.Hostname,
		logger:    o.Logger,
		now:       o.Now,
		conns:     make(map[*Conn]struct{}),
		perSource: make(map[netip.Addr]int),
	}
	if s.now == nil {
		s.rate = newRateLimiter(s.lim.MessageRateLimit, time.Now)
	} else {
		s.rate = newRateLimiter(s.lim.MessageRateLimit, s.now)
	}
	if s.hostname == "" {
		s.hostname = "localhost"
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	// Exchange session ids are 64-bit counters seeded from the clock in
	// .NET ticks (100 ns since 0001-01-01), e.g. 08D3BD8F2C2B1A3C.
	s.sessionBase = uint64(time.Now().UnixNano()/100) + 621355968000000000
	s.logger = s.logger.With("server", s.hostname, "listener", o.ConnectorName, "proto", "smtp")
	s.lc = serve.New(serve.Options{Name: "smtpd", Closed: ErrServerClosed, Logger: s.logger, Wake: s.interruptIdle})
	return s
}

// Serve accepts connections on l until Shutdown or Close. A listener that
// returns *tls.Conn (tls.NewListener) serves implicit TLS.
func (s *Server) Serve(l net.Listener) error { return s.lc.Serve(l, s.admit) }

// admit counts nc against MaxInboundConnection and
// MaxInboundConnectionPerSource and serves it, or refuses it with a reply.
func (s *Server) admit(nc net.Conn) {
	src := sourceAddr(nc.RemoteAddr())
	s.mu.Lock()
	var refuse *Reply
	switch {
	case len(s.conns) >= s.lim.MaxInboundConnection:
		refuse = ReplyTooManyConnections
	case s.lim.MaxInboundConnectionPerSource > 0 && s.perSource[src] >= s.lim.MaxInboundConnectionPerSource:
		refuse = ReplyTooManySourceConns
	}
	c := s.newConn(nc)
	if refuse == nil {
		s.conns[c] = struct{}{}
		s.perSource[src]++
		c.src, c.counted = src, true
	}
	s.mu.Unlock()

	if refuse != nil {
		c.refuse(refuse)
		return
	}
	c.serve()
	c.done()
}

// release takes c out of the connection counts. It runs before the last
// reply is flushed, so a client that reconnects as soon as it reads 221 is
// not refused for a connection that is already over.
func (s *Server) release(c *Conn, src netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.counted {
		return
	}
	c.counted = false
	delete(s.conns, c)
	if s.perSource[src]--; s.perSource[src] <= 0 {
		delete(s.perSource, src)
	}
}

func sourceAddr(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Shutdown stops accepting, answers idle sessions with
// "421 4.3.2 Service not available", lets messages in flight finish and
// returns when every session has ended, or closes what is left when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.lc.Shutdown(ctx) }

// Close stops accepting, closes every connection at once and waits for the
// connection goroutines to return.
func (s *Server) Close() error { return s.lc.Close() }

// interruptIdle makes the sessions waiting for a command see the shutdown;
// Shutdown calls it until every session has ended.
func (s *Server) interruptIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.interruptIfIdle()
	}
}

func (s *Server) getReader(r io.Reader) *bufio.Reader {
	if br, ok := s.readers.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, readerSize)
}

func (s *Server) getWriter(w io.Writer) *bufio.Writer {
	if bw, ok := s.writers.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, writerSize)
}

func (s *Server) putBuffers(br *bufio.Reader, bw *bufio.Writer) {
	br.Reset(nil)
	bw.Reset(nil)
	s.readers.Put(br)
	s.writers.Put(bw)
}
