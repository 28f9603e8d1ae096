package certs

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ServerTicketMaxAge is how long a server ticket is accepted after it was
// signed (either way, for clock skew between lab processes): Kerberos'
// default skew tolerance.
const ServerTicketMaxAge = 5 * time.Minute

// SignServerTicket is the lab's stand-in for the Kerberos ticket an Exchange
// front end's machine account presents to a back end when it proxies a
// request on behalf of a user it authenticated (with X-CommonAccessToken):
// claim (the user) for audience (the back end's FQDN), signed at now with
// the key of cert, a server certificate of the lab CA. The ticket travels in
// a request header inside TLS, so the back end needs no client certificate.
func SignServerTicket(cert tls.Certificate, audience, claim string, now time.Time) (string, error) {
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok || len(cert.Certificate) == 0 {
		return "", errors.New("certs: server ticket: the certificate has no signing key")
	}
	payload := ticketPayload(audience, claim, now)
	digest := sha256.Sum256(payload)
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("certs: server ticket: %w", err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(cert.Certificate[0]) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig), nil
}

func ticketPayload(audience, claim string, now time.Time) []byte {
	return []byte(strings.ToLower(audience) + "\n" + claim + "\n" + strconv.FormatInt(now.Unix(), 10))
}

// VerifyServerTicket checks a ticket of SignServerTicket: signed by a
// certificate the CA issued and that is valid now, for audience, no older
// than ServerTicketMaxAge. It returns the signer's FQDN (the certificate's
// subject) and the claim.
func (ca *CA) VerifyServerTicket(ticket, audience string, now time.Time) (signer, claim string, err error) {
	parts := strings.Split(ticket, ".")
	if len(parts) != 3 {
		return "", "", errors.New("server ticket: malformed")
	}
	var raw [3][]byte
	for i, p := range parts {
		if raw[i], err = base64.RawURLEncoding.DecodeString(p); err != nil {
			return "", "", errors.New("server ticket: malformed")
		}
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return "", "", fmt.Errorf("server ticket: %w", err)
	}
	if !ca.Issued(leaf) || now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return "", "", errors.New("server ticket: the certificate is not a valid one of the lab CA")
	}
	algo := x509.SHA256WithRSA
	if leaf.PublicKeyAlgorithm == x509.ECDSA {
		algo = x509.ECDSAWithSHA256
	}
	if err := leaf.CheckSignature(algo, raw[1], raw[2]); err != nil {
		return "", "", fmt.Errorf("server ticket: %w", err)
	}
	fields := strings.Split(string(raw[1]), "\n")
	if len(fields) != 3 || fields[0] != strings.ToLower(audience) {
		return "", "", errors.New("server ticket: issued for another server")
	}
	secs, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil {
		return "", "", errors.New("server ticket: malformed")
	}
	if age := now.Sub(time.Unix(secs, 0)); age > ServerTicketMaxAge || age < -ServerTicketMaxAge {
		return "", "", errors.New("server ticket: expired")
	}
	return leaf.Subject.CommonName, fields[1], nil
}
