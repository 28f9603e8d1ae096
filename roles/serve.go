package roles

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"github.com/exsim/exsim/topology"
)

// servable is a protocol server of servers/* (or go-smtp's) as a role runs
// it: it serves a listener it is handed and shuts down with the role.
type servable interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// serveEach binds every listener of kind this server has and serves each
// enabled one with the server newServer builds for it, behind implicit TLS
// when implicitTLS is not nil (993, 995, 636). A disabled listener is
// recorded and skipped: its port stays closed, as Exchange leaves it. stop
// names the listener in the log line when its server stops for any reason
// but closed.
func (s *Server) serveEach(kind topology.ListenerKind, implicitTLS *tls.Config, stop string, closed error, newServer func(topology.Listener) (servable, error)) error {
	for _, l := range s.listenerOf(kind) {
		ln, err := s.listen(l)
		if err != nil {
			return err
		}
		if ln == nil {
			continue
		}
		srv, err := newServer(l)
		if err != nil {
			return err
		}
		if implicitTLS != nil {
			ln = tls.NewListener(ln, implicitTLS)
		}
		s.serve(l, ln, srv, stop, closed)
	}
	return nil
}

// serve runs srv on ln until s closes; a stop for another reason than
// closed is logged as stop ("IMAP listener stopped").
func (s *Server) serve(l topology.Listener, ln net.Listener, srv servable, stop string, closed error) {
	s.onClose(srv.Shutdown)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, closed) {
			s.log.Error(stop, "listener", l.Name, "err", err)
		}
	}()
}
