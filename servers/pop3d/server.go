package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	accept "github.com/exsim/exsim/servers/internal/serve"
)

// Server is a POP3 server. It serves any number of listeners.
type Server struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context // canceled by Close: aborts backend calls and delays
	cancel context.CancelFunc

	nextCID  atomic.Uint64
	shutdown atomic.Bool // Shutdown or Close was called

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{} // raw connections, for deadlines and Close
	sessions  sync.WaitGroup
}

// NewServer returns a server configured by o (zero fields take defaults).
func NewServer(o Options) *Server {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	log := o.Logger.With("proto", "pop3")
	if o.ServerName != "" {
		log = log.With("server", o.ServerName)
	}
	return &Server{
		opts:      o,
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
}

func (s *Server) validate() error {
	frontend := s.opts.Authenticator != nil || s.opts.Upstream != nil
	switch {
	case s.opts.Backend != nil && frontend:
		return errors.New("pop3d: options set both Backend and Authenticator/Upstream")
	case s.opts.Backend == nil && !frontend:
		return errors.New("pop3d: options set neither Backend nor Authenticator/Upstream")
	case frontend && (s.opts.Authenticator == nil || s.opts.Upstream == nil):
		return errors.New("pop3d: frontend mode needs both Authenticator and Upstream")
	}
	return nil
}

// Serve accepts connections on l until Shutdown or Close, and then returns
// ErrServerClosed. A listener yielding *tls.Conn is served as implicit TLS.
func (s *Server) Serve(l net.Listener) error {
	if err := s.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.shutdown.Load() {
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

	log := s.log.With("listener", l.Addr().String())
	var backoff accept.Backoff
	for {
		c, err := l.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			if accept.Transient(err) {
				log.Warn("accept failed, retrying", "err", err)
				backoff.Wait(s.ctx.Done())
				continue // the next Accept sees the shutdown
			}
			return fmt.Errorf("pop3d: accept: %w", err)
		}
		backoff.Reset()
		if !s.track(c) {
			c.Close()
			return ErrServerClosed
		}
		cid := strconv.FormatUint(s.nextCID.Add(1), 10)
		go func() {
			defer s.sessions.Done()
			defer s.untrack(c)
			s.serveConn(c, log.With("cid", cid, "remote", c.RemoteAddr().String()))
		}()
	}
}

// track registers a new connection; false once the server is closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	s.conns[rawConn(c)] = struct{}{}
	s.sessions.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, rawConn(c))
	s.mu.Unlock()
	c.Close()
}

// rawConn is the TCP connection under an implicit TLS one.
func rawConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

// closeListeners stops accepting; the caller holds no lock.
func (s *Server) closeListeners() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown.Store(true)
	var errs []error
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shutdown stops accepting, lets every session finish the command it is
// executing, and ends each session at its next read (with the persona's
// ShuttingDown text; a session without QUIT commits no deletion). It waits
// for all sessions or ctx, whichever comes first; on ctx it closes what is
// left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.closeListeners()
	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// Interrupt sessions blocked in a read. Repeated on every tick: a
		// session may set its own deadline between two ticks, and it checks
		// the shutdown flag before every read.
		s.mu.Lock()
		for c := range s.conns {
			c.SetReadDeadline(time.Now())
		}
		s.mu.Unlock()
		select {
		case <-done:
			s.cancel()
			return err
		case <-ctx.Done():
			return errors.Join(err, s.Close(), ctx.Err())
		case <-tick.C:
		}
	}
}

// Close stops accepting, closes every connection at once (no deletion is
// committed) and waits for the sessions' goroutines to end.
func (s *Server) Close() error {
	err := s.closeListeners()
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.sessions.Wait()
	return err
}
