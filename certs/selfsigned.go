package certs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ExchangeCertSubject is the subject (and issuer) of the certificate Exchange
// setup creates for itself and binds to the Exchange Back End site (444).
const ExchangeCertSubject = "Microsoft Exchange"

// exchangeCertLifetime is the validity of Exchange's self-signed
// certificate: five years.
const exchangeCertLifetime = 5 * 365 * 24 * time.Hour

// ExchangeSelfSigned returns the server's "Microsoft Exchange" certificate as
// a fresh install has it: self-signed RSA-2048, subject and issuer
// CN=Microsoft Exchange, SANs the host name and the FQDN. It is stored as
// DATA/certs/<NAME>-exchange.pem and reused while it names the same SANs and
// is not close to expiry. It is not issued by the lab CA: clients do not
// trust it, as they do not trust Exchange's.
func (ca *CA) ExchangeSelfSigned(id Identity) (tls.Certificate, error) {
	if ca.dir == "" {
		c, _, err := selfSign(id)
		if err == nil {
			ca.mu.Lock()
			if ca.exchangeCerts == nil {
				ca.exchangeCerts = map[string]*x509.Certificate{}
			}
			ca.exchangeCerts[strings.ToUpper(id.Name)] = c.Leaf
			ca.mu.Unlock()
		}
		return c, err
	}
	return ca.loadOrMake(filepath.Join(ca.dir, id.Name+"-exchange.pem"), filepath.Join(ca.dir, id.Name+"-exchange-key.pem"),
		func(c tls.Certificate) bool { return selfSignedStillGood(c, id) },
		func() (tls.Certificate, []byte, error) { return selfSign(id) })
}

// ExchangeCert returns the "Microsoft Exchange" certificate ExchangeSelfSigned
// made for server name (from DATA/certs, or the memory of an ephemeral CA),
// so that a client sharing the lab's data directory, the probe, can pin it:
// the lab CA cannot vouch for it.
func (ca *CA) ExchangeCert(name string) (*x509.Certificate, error) {
	if ca.dir == "" {
		ca.mu.Lock()
		defer ca.mu.Unlock()
		if c := ca.exchangeCerts[strings.ToUpper(name)]; c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("certs: no Exchange certificate made for %s", name)
	}
	b, err := os.ReadFile(filepath.Join(ca.dir, name+"-exchange.pem"))
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return parseCertPEM(b)
}

// exchangeDNSNames are the SANs of Exchange's self-signed certificate: the
// host name and the FQDN.
func exchangeDNSNames(id Identity) []string {
	return slices.Compact([]string{strings.ToUpper(id.Name), strings.ToLower(id.FQDN)})
}

func selfSignedStillGood(c tls.Certificate, id Identity) bool {
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil || VerifySelfSigned(leaf, id.FQDN) != nil {
		return false
	}
	return time.Until(leaf.NotAfter) > renewBefore && slices.Equal(leaf.DNSNames, exchangeDNSNames(id))
}

func selfSign(id Identity) (tls.Certificate, []byte, error) {
	if id.FQDN == "" {
		return tls.Certificate{}, nil, fmt.Errorf("certs: %s: no FQDN", id.Name)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("certs: %s: %w", id.Name, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	name := pkix.Name{CommonName: ExchangeCertSubject}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      name,
		Issuer:       name,
		DNSNames:     exchangeDNSNames(id),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(exchangeCertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return createLeaf(tmpl, tmpl, key, key, "self-sign "+id.Name)
}

// VerifySelfSigned checks that cert is an Exchange self-signed certificate
// for fqdn: subject CN=Microsoft Exchange, a valid signature by its own key,
// in its validity period, fqdn among its SANs.
func VerifySelfSigned(cert *x509.Certificate, fqdn string) error {
	if cert.Subject.CommonName != ExchangeCertSubject {
		return fmt.Errorf("certificate subject %q is not %q", cert.Subject.CommonName, ExchangeCertSubject)
	}
	// CheckSignatureFrom would demand a CA certificate; Exchange's is not one.
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return fmt.Errorf("certificate is not self-signed: %w", err)
	}
	if now := time.Now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return errors.New("certificate expired or not yet valid")
	}
	return cert.VerifyHostname(fqdn)
}

// BackEndClientTLS is how a front end dials the Exchange Back End site of
// the server fqdn: it accepts that server's self-signed "Microsoft Exchange"
// certificate (the chain cannot be verified, as on Exchange, whose front
// ends do not validate the back end's certificate either) but still checks
// its subject, self-signature, validity and host name.
func BackEndClientTLS(fqdn string) *tls.Config {
	return &tls.Config{
		ServerName:         fqdn,
		MinVersion:         tls.VersionTLS12,
		CurvePreferences:   clientCurves,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("back end presented no certificate")
			}
			return VerifySelfSigned(cs.PeerCertificates[0], fqdn)
		},
	}
}
