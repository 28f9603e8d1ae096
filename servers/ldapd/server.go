package ldapd

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

	accept "github.com/exsim/exsim/servers/internal/serve"
)

// Server is the LDAP server. It serves any number of listeners: hand it a
// TLS listener for secure LDAP (50636) and a plain loopback one for 50389.
type Server struct {
	dir  Backend
	opts Options
	log  *slog.Logger

	ctx    context.Context // canceled by Close: wakes a backed-off Serve
	cancel context.CancelFunc

	nextCID  atomic.Uint64
	shutdown atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	sessions  sync.WaitGroup
}

// NewServer returns a server for dir configured by o (zero fields take
// defaults). It starts nothing until Serve.
func NewServer(dir Backend, o Options) (*Server, error) {
	if dir == nil {
		return nil, errors.New("ldapd: no directory")
	}
	if o.Authenticator == nil {
		return nil, errors.New("ldapd: options have no Authenticator")
	}
	o = o.withDefaults()
	log := o.Logger.With("proto", "ldap")
	if o.ServerName != "" {
		log = log.With("server", o.ServerName)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		dir:       dir,
		opts:      o,
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}, nil
}

// Serve accepts connections on l until Shutdown or Close, and then returns
// ErrServerClosed. A listener yielding *tls.Conn is served as implicit TLS
// (LDAPS).
func (s *Server) Serve(l net.Listener) error {
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
			if !accept.Transient(err) {
				return fmt.Errorf("ldapd: accept: %w", err)
			}
			log.Warn("accept failed, retrying", "err", err)
			backoff.Wait(s.ctx.Done())
			continue // the next Accept sees the shutdown
		}
		backoff.Reset()
		cid := strconv.FormatUint(s.nextCID.Add(1), 10)
		cn := &conn{s: s, c: c, log: log.With("cid", cid, "remote", c.RemoteAddr().String())}
		if !s.track(cn) {
			c.Close()
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			cn.log.Warn("connection refused: too many connections")
			continue
		}
		go func() {
			defer s.sessions.Done()
			defer s.untrack(cn)
			cn.serve()
		}()
	}
}

// track registers a connection; false when closing or at MaxConnections.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() || len(s.conns) >= s.opts.MaxConnections {
		return false
	}
	s.conns[c] = struct{}{}
	s.sessions.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.close()
}

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

// Shutdown stops accepting, lets every connection finish the request it is
// processing, then ends it with a Notice of Disconnection (unavailable,
// RFC 4511 section 4.4.1). It waits for all connections or ctx, whichever
// comes first; on ctx it closes what is left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.interrupt()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return err
	case <-ctx.Done():
		return errors.Join(err, s.Close(), ctx.Err())
	}
}

// Close stops accepting, closes every connection at once and waits for
// their goroutines to end.
func (s *Server) Close() error {
	err := s.closeListeners()
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.sessions.Wait()
	return err
}

// peerName is the subject of a verified client certificate, for the log.
func peerName(c net.Conn) string {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return ""
	}
	cs := tc.ConnectionState()
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}
