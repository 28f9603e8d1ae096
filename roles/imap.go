package roles

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"github.com/exsim/exsim/servers/imapd"
	"github.com/exsim/exsim/topology"
)

// startIMAP runs the IMAP4 frontend (143, 993) and backend (1993) of a
// Mailbox server, or, with front nil, the internet server's plain IMAP
// service (143, 993).
func (s *Server) startIMAP(back storeAuth, front *storeAuth) error {
	tlsConf := s.serverTLS(topology.IMAP4) // no client certificate on any IMAP4 listener
	type svc struct {
		kind     topology.ListenerKind
		implicit bool
		backend  bool
		flavor   imapd.Flavor
	}
	svcs := []svc{{topology.InternetIMAP, false, true, imapd.FlavorPlain}, {topology.InternetIMAPS, true, true, imapd.FlavorPlain}}
	if front != nil {
		svcs = []svc{
			{topology.IMAP4, false, false, imapd.FlavorExchange},
			{topology.IMAP4S, true, false, imapd.FlavorExchange},
			{topology.IMAP4Backend, true, true, imapd.FlavorExchange},
		}
	}
	for _, v := range svcs {
		for _, l := range s.listenerOf(v.kind) {
			ln, err := s.listen(l)
			if err != nil {
				return err
			}
			if ln == nil {
				continue
			}
			if v.implicit {
				ln = tls.NewListener(ln, tlsConf)
			}
			var srv interface {
				Serve(net.Listener) error
				Shutdown(ctx context.Context) error
			}
			if v.backend {
				b, err := imapd.NewBackend(imapd.BackendOptions{Store: back.store, Auth: back, Flavor: v.flavor, TLSConfig: tlsConf, Server: s.Config.Name, Listener: l.Name, Logger: s.log})
				if err != nil {
					return err
				}
				srv = b
			} else {
				f, err := imapd.NewFrontend(imapd.FrontendOptions{Auth: imapFrontAuth{front}, Upstream: backendDialer{s, 1993}, TLSConfig: tlsConf, Server: s.Config.Name, Listener: l.Name, Logger: s.log})
				if err != nil {
					return err
				}
				srv = f
			}
			s.onClose(srv.Shutdown)
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
					s.log.Error("IMAP listener stopped", "listener", l.Name, "err", err)
				}
			}()
		}
	}
	return nil
}
