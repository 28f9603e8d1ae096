package roles

import (
	"crypto/tls"

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
