package roles

import (
	"crypto/tls"
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
		implicit *tls.Config // 993, 1993
		backend  bool
		flavor   imapd.Flavor
	}
	svcs := []svc{{topology.InternetIMAP, nil, true, imapd.FlavorPlain}, {topology.InternetIMAPS, tlsConf, true, imapd.FlavorPlain}}
	if front != nil {
		svcs = []svc{
			{topology.IMAP4, nil, false, imapd.FlavorExchange},
			{topology.IMAP4S, tlsConf, false, imapd.FlavorExchange},
			{topology.IMAP4Backend, tlsConf, true, imapd.FlavorExchange},
		}
	}
	for _, v := range svcs {
		err := s.serveEach(v.kind, v.implicit, "IMAP listener stopped", net.ErrClosed, func(l topology.Listener) (servable, error) {
			if v.backend {
				return imapd.NewBackend(imapd.BackendOptions{Store: back.store, Auth: back, Flavor: v.flavor, TLSConfig: tlsConf, Server: s.Config.Name, Listener: l.Name, Logger: s.log})
			}
			return imapd.NewFrontend(imapd.FrontendOptions{Auth: front, Upstream: backendDialer{s, 1993}, TLSConfig: tlsConf, Server: s.Config.Name, Listener: l.Name, Logger: s.log})
		})
		if err != nil {
			return err
		}
	}
	return nil
}
