package smtpd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exsim/exsim/internal/accept"
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

	closing atomic.Bool
	done    chan struct{} // closed by Shutdown/Close: ends tarpits and accept back-off

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	perSource map[netip.Addr]int
	rate      *rateLimiter   // nil: MessageRateLimit Unlimited
	wg        sync.WaitGroup // connection goroutines

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
		done:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
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
	return s
}

// Serve accepts connections on l until Shutdown or Close. A listener that
// returns *tls.Conn (tls.NewListener) serves implicit TLS.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff accept.Backoff
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if accept.Transient(err) {
				s.logger.Warn("smtpd: accept failed, retrying", "err", err)
				if !backoff.Wait(s.done) {
					return ErrServerClosed
				}
				continue
			}
			return fmt.Errorf("smtpd: accept: %w", err)
		}
		backoff.Reset()
		s.admit(nc)
	}
}

// admit counts nc against MaxInboundConnection and
// MaxInboundConnectionPerSource and starts its goroutine.
func (s *Server) admit(nc net.Conn) {
	src := sourceAddr(nc.RemoteAddr())
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
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
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		if refuse != nil {
			c.refuse(refuse)
			return
		}
		c.serve()
		c.done()
	}()
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
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
	s.mu.Lock()
	for c := range s.conns {
		c.interruptIfIdle()
	}
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		s.closeConns()
		<-finished
		return ctx.Err()
	}
}

// Close stops accepting, closes every connection at once and waits for the
// connection goroutines to return.
func (s *Server) Close() error {
	s.beginClose()
	s.closeConns()
	s.wg.Wait()
	return nil
}

func (s *Server) beginClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Swap(true) {
		return
	}
	close(s.done)
	for l := range s.listeners {
		l.Close()
	}
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.raw.Close()
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
