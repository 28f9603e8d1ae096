package certs

import (
	"crypto/tls"
	"net"
	"testing"
)

// BenchmarkFullHandshake measures one full TLS handshake (no resumption),
// client and server in this process over net.Pipe, for each key type of the
// server certificate and each protocol version a listener may speak. The
// server's share of the CPU dominates with RSA (one RSA-2048 signature per
// handshake). go test -run XXX -bench FullHandshake -benchtime 3s ./certs/
func BenchmarkFullHandshake(b *testing.B) {
	ca, err := NewEphemeral("Contoso")
	if err != nil {
		b.Fatal(err)
	}
	for _, key := range []KeyType{KeyRSA, KeyECDSA} {
		cert, err := ca.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com", Key: key})
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []struct {
			name    string
			persona Persona
		}{{"TLS1.2", Persona{}}, {"TLS1.3", Persona{TLS13: true}}} {
			b.Run(string(key)+"/"+p.name, func(b *testing.B) {
				srvCfg := ca.ServerTLSFor(cert, p.persona)
				cliCfg := ca.ClientTLS("ex01.contoso.com", nil)
				for b.Loop() {
					cc, sc := net.Pipe()
					done := make(chan error, 1)
					go func() { done <- tls.Server(sc, srvCfg).Handshake() }()
					if err := tls.Client(cc, cliCfg).Handshake(); err != nil {
						b.Fatal(err)
					}
					if err := <-done; err != nil {
						b.Fatal(err)
					}
					cc.Close()
					sc.Close()
				}
			})
		}
	}
}
