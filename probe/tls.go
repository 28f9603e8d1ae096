package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// tlsConfig is the client side of every TLS check. Go's own verification
// is off so that the check can tell a foreign certificate (tls-intercepted)
// from a certificate of another lab server (wrong-peer) from a failed
// handshake; verifyPeer does the verification against the lab CA.
func (s *session) tlsConfig() *tls.Config {
	c := &tls.Config{
		ServerName:         s.f.WantName,
		InsecureSkipVerify: true, // verified by verifyPeer
		MinVersion:         tls.VersionTLS12,
	}
	if s.p.ClientCert != nil {
		if cert := s.p.ClientCert(s.src.Name); cert != nil {
			c.Certificates = []tls.Certificate{*cert}
		}
	}
	return c
}

// clientCertRequired reports a TLS alert that says the server wants a
// client certificate we did not present (certificate_required, TLS 1.3;
// bad_certificate, TLS 1.2). In TLS 1.3 it arrives after the client
// finished the handshake and verified the server.
func clientCertRequired(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "tls: certificate required") || strings.Contains(msg, "tls: bad certificate")
}

// handshake runs TLS on conn and verifies the peer; on failure conn is
// closed and the verdict says why.
func (s *session) handshake(ctx context.Context, conn net.Conn) (*tls.Conn, string, verdict, bool) {
	tc := tls.Client(conn, s.tlsConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, "", s.broken(err, "TLS handshake"), false
	}
	cs := tc.ConnectionState()
	desc, v, ok := s.verifyPeer(&cs)
	if !ok {
		tc.Close()
		return nil, "", v, false
	}
	return tc, desc, verdict{}, true
}

// verifyPeer checks the peer certificate: issued by the lab CA
// (tls-intercepted otherwise) for the expected name (a certificate of
// another lab server is wrong-peer: the flow reached the wrong host; any
// other name is tls-intercepted). desc describes the certificate.
func (s *session) verifyPeer(cs *tls.ConnectionState) (desc string, v verdict, ok bool) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return "", verdict{outcome: OutcomeTLSIntercepted, detail: "the server presented no certificate"}, false
	}
	leaf := cs.PeerCertificates[0]
	desc = fmt.Sprintf("cert %s issued by %s, %s", certName(leaf), leaf.Issuer.CommonName, tls.VersionName(cs.Version))
	if s.p.CA != nil {
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: s.p.CA.Pool(), Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, CurrentTime: time.Now(),
		})
		if err != nil {
			// The Exchange Back End site (444) presents Exchange's own
			// self-signed certificate, pinned from the lab's data directory.
			if pinned, perr := s.p.CA.ExchangeCert(s.dst.Name); perr != nil || !pinned.Equal(leaf) {
				return desc, verdict{outcome: OutcomeTLSIntercepted, detail: desc + ": not issued by the lab CA (" + err.Error() + ")"}, false
			}
			desc += " (" + s.dst.Name + "'s own self-signed certificate)"
		}
	} else {
		desc += " (issuer not verified: no lab CA given)"
	}
	if err := leaf.VerifyHostname(s.f.WantName); err != nil {
		for i := range s.p.Topology.Servers {
			other := &s.p.Topology.Servers[i]
			if other != s.dst && leaf.VerifyHostname(other.FQDN) == nil {
				return desc, verdict{outcome: OutcomeWrongPeer, detail: desc + ": that is " + other.Name + ", not " + s.dst.Name}, false
			}
		}
		return desc, verdict{outcome: OutcomeTLSIntercepted, detail: desc + ": not for " + s.f.WantName}, false
	}
	return desc, verdict{}, true
}

// certName is the certificate's subject common name, or its first DNS name.
func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.String()
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
