package ldapd

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

// Server is the LDAP server. It serves any number of listeners: hand it a
// TLS listener for secure LDAP (50636) and a plain loopback one for 50389.
type Server struct {
	dir  Backend
	opts Options
	log  *slog.Logger

	// lc serves the listeners. Shutdown wakes connections blocked reading
	// the client, and a connection checks lc.Stopped before every read.
	lc      *serve.Lifecycle
	nextCID atomic.Uint64
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
	s := &Server{dir: dir, opts: o, log: log}
	s.lc = serve.New(serve.Options{
		Name:     "ldapd",
		Closed:   ErrServerClosed,
		Logger:   log,
		MaxConns: o.MaxConnections,
		Wake:     func() { s.lc.WakeReaders() },
	})
	return s, nil
}

// Serve accepts connections on l until Shutdown or Close, and then returns
// ErrServerClosed. A listener yielding *tls.Conn is served as implicit TLS
// (LDAPS).
func (s *Server) Serve(l net.Listener) error {
	log := s.log.With("listener", l.Addr().String())
	return s.lc.Serve(l, func(c net.Conn) {
		cid := strconv.FormatUint(s.nextCID.Add(1), 10)
		cn := &conn{s: s, c: c, log: log.With("cid", cid, "remote", c.RemoteAddr().String())}
		cn.serve()
	})
}

// Shutdown stops accepting, lets every connection finish the request it is
// processing, then ends it with a Notice of Disconnection (unavailable,
// RFC 4511 section 4.4.1). It waits for all connections or ctx, whichever
// comes first; on ctx it closes what is left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error { return s.lc.Shutdown(ctx) }

// Close stops accepting, closes every connection at once and waits for
// their goroutines to end.
func (s *Server) Close() error { return s.lc.Close() }

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
