package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/exsim/exsim/servers/internal/serve"
)

// Server is a POP3 server. It serves any number of listeners.
type Server struct {
	opts Options
	log  *slog.Logger

	// lc serves the listeners. Its Context, canceled by Close, aborts
	// backend calls and delays; Shutdown wakes sessions blocked in a read,
	// and a session checks lc.Stopped before every read.
	lc      *serve.Lifecycle
	nextCID atomic.Uint64
}

// NewServer returns a server configured by o (zero fields take defaults).
func NewServer(o Options) *Server {
	o = o.withDefaults()
	log := o.Logger.With("proto", "pop3")
	if o.ServerName != "" {
		log = log.With("server", o.ServerName)
	}
	s := &Server{opts: o, log: log}
	s.lc = serve.New(serve.Options{Name: "pop3d", Closed: ErrServerClosed, Logger: log, Wake: func() { s.lc.WakeReaders() }})
	return s
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
	log := s.log.With("listener", l.Addr().String())
	return s.lc.Serve(l, func(c net.Conn) {
		cid := strconv.FormatUint(s.nextCID.Add(1), 10)
		s.serveConn(c, log.With("cid", cid, "remote", c.RemoteAddr().String()))
	})
}

// rawConn is the TCP connection under an implicit TLS one.
func rawConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

// Shutdown stops accepting, lets every session finish the command it is
// executing, and ends each session at its next read (with the persona's
// ShuttingDown text; a session without QUIT commits no deletion). It waits
// for all sessions or ctx, whichever comes first; on ctx it closes what is
// left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error { return s.lc.Shutdown(ctx) }

// Close stops accepting, closes every connection at once (no deletion is
// committed) and waits for the sessions' goroutines to end.
func (s *Server) Close() error { return s.lc.Close() }
