package roles

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/topology"
)

// serverTLS is the TLS configuration of a listener of kind: on Exchange
// servers SChannel's persona (certs/schannel.go) for the topology's Exchange
// and Windows Server versions; on internet servers (not Windows) Go's own.
//
// A client certificate is requested (never required) only on the Receive
// connectors where Exchange servers authenticate each other by certificate:
// Default Frontend (25), Outbound Proxy Frontend (717), Default (2525),
// Client Proxy (465: the front end proxies submissions there), Default
// Mailbox Delivery (475) and the Edge's Default internal connector (25).
// Client Frontend (587), IIS (443, 444), IMAP4 and POP3 send no
// CertificateRequest, as on Exchange, so browsers holding client
// certificates do not prompt on OWA.
func (s *Server) serverTLS(kind topology.ListenerKind) *tls.Config {
	if s.Config.Role == topology.RoleInternet {
		return &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	}
	return s.rt.ca.ServerTLSFor(s.cert, listenerPersona(s.rt.o.Topology, kind))
}

func listenerPersona(t *topology.Topology, kind topology.ListenerKind) certs.Persona {
	switch kind {
	case topology.SMTPDefaultFrontend, topology.SMTPOutboundProxy, topology.SMTPDefault,
		topology.SMTPClientProxy, topology.SMTPMailboxDelivery, topology.SMTPEdgeReceive:
		return certs.Persona{ExchangeServerAuth: true}
	case topology.HTTPS, topology.HTTPSBackend:
		return certs.Persona{TLS13: t.HTTPSTLS13()}
	}
	return certs.Persona{}
}

// prepareCertificates issues (or finds stored) every certificate the
// servers this process runs will present, in parallel: RSA-2048 keys take
// 0.1-0.2 s each to generate here, eight of them in a fresh contoso lab.
// newServer and the Back End site then load them from DATA/certs.
func (rt *Runtime) prepareCertificates() error {
	t := rt.o.Topology
	var wg sync.WaitGroup
	errs := make([]error, 2*len(t.Servers))
	for i := range t.Servers {
		sc := &t.Servers[i]
		if len(rt.o.Servers) > 0 && !slices.ContainsFunc(rt.o.Servers, func(n string) bool { return strings.EqualFold(n, sc.Name) }) {
			continue
		}
		wg.Go(func() { _, errs[2*i] = rt.ca.Issue(certIdentity(t, sc)) })
		if sc.Role == topology.RoleMailbox {
			wg.Go(func() {
				_, errs[2*i+1] = rt.ca.ExchangeSelfSigned(certs.Identity{Name: sc.Name, FQDN: sc.FQDN})
			})
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}
