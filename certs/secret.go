package certs

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
)

// Secret is a key for purpose derived from the CA's private key: every
// exsim process of a lab shares the CA, so each derives the same key
// without storing another file, and nobody without the CA key can
// compute it (HMAC-SHA256 keyed with the key's PKCS #8 encoding).
func (ca *CA) Secret(purpose string) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		// RSA and ECDSA keys always marshal; keep a key tied to the
		// certificate rather than none.
		der = ca.Cert.Raw
	}
	m := hmac.New(sha256.New, der)
	m.Write([]byte("exsim secret: " + purpose))
	return m.Sum(nil)
}
