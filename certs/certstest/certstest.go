// Package certstest gives tests a lab CA and its certificates in one call
// each, failing the test when key generation or signing fails.
package certstest

import (
	"crypto/tls"
	"testing"

	"github.com/exsim/exsim/certs"
)

// CA returns a new ephemeral lab CA of the organization org.
func CA(t testing.TB, org string) *certs.CA {
	t.Helper()
	ca, err := certs.NewEphemeral(org)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// Issue returns the server certificate ca issues for id.
func Issue(t testing.TB, ca *certs.CA, id certs.Identity) tls.Certificate {
	t.Helper()
	cert, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
