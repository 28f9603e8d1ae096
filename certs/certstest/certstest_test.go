package certstest

import (
	"crypto/x509"
	"testing"

	"github.com/exsim/exsim/certs"
)

// TestIssue: the certificate is the identity's, and the CA vouches for it.
func TestIssue(t *testing.T) {
	ca := CA(t, "Contoso")
	cert := Issue(t, ca, certs.Identity{Name: "EX01", FQDN: "ex01.contoso.com"})
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := ca.ClientTLS("ex01.contoso.com", nil).RootCAs
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "ex01.contoso.com", Roots: roots}); err != nil {
		t.Errorf("the lab CA does not vouch for ex01.contoso.com: %v", err)
	}
}
