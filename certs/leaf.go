package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Identity is what a server certificate names: the subject is FQDN, the SANs
// are FQDN, the NetBIOS-style short name, any extra DNS names (mail.<domain>,
// autodiscover.<domain> on Mailbox servers) and the server's addresses.
type Identity struct {
	Name      string // EX01; also the file name: DATA/certs/EX01.pem
	FQDN      string
	Addresses []netip.Addr
	ExtraDNS  []string
	// Key is the certificate's key type (default KeyRSA).
	Key KeyType
}

// KeyType is a server certificate's key algorithm.
type KeyType string

const (
	// KeyRSA is RSA-2048, as Exchange's self-signed and commercial
	// certificates are (the default).
	KeyRSA KeyType = "rsa"
	// KeyECDSA is ECDSA P-256: a third of RSA's handshake CPU, but a key
	// type scanners do not see on Exchange servers.
	KeyECDSA KeyType = "ecdsa"
)

func (k KeyType) orDefault() KeyType {
	if k == "" {
		return KeyRSA
	}
	return k
}

// generateKey makes a new private key of type k ("" means RSA).
func generateKey(k KeyType) (crypto.Signer, error) {
	if k == KeyECDSA {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return rsa.GenerateKey(rand.Reader, 2048)
}

// keyTypeOf reports the type of a stored key ("" when neither).
func keyTypeOf(k crypto.PrivateKey) KeyType {
	switch k.(type) {
	case *rsa.PrivateKey:
		return KeyRSA
	case *ecdsa.PrivateKey:
		return KeyECDSA
	}
	return ""
}

func (id Identity) dnsNames() []string {
	names := []string{strings.ToLower(id.FQDN)}
	if short := strings.ToLower(id.Name); short != "" {
		names = append(names, short)
	}
	for _, n := range id.ExtraDNS {
		names = append(names, strings.ToLower(n))
	}
	slices.Sort(names[1:])
	return slices.Compact(names)
}

// Issue returns the certificate of id, signed by the CA. A certificate stored
// earlier under DATA/certs is reused while it names exactly the same SANs,
// has id's key type and is not close to expiry; otherwise a new one replaces
// it (so a data directory from before RSA certificates gets RSA leaves on its
// next start, signed by the CA it already has: clients keep trusting ca.pem).
func (ca *CA) Issue(id Identity) (tls.Certificate, error) {
	if ca.dir == "" {
		c, _, err := ca.sign(id)
		return c, err
	}
	return ca.loadOrMake(filepath.Join(ca.dir, id.Name+".pem"), filepath.Join(ca.dir, id.Name+"-key.pem"),
		func(c tls.Certificate) bool { return ca.stillGood(c, id) },
		func() (tls.Certificate, []byte, error) { return ca.sign(id) })
}

// loadOrMake returns the certificate stored at certPath and keyPath while
// good says it is, or else makes and stores a new one. The key is generated
// outside the directory lock (RSA-2048 takes ~0.1-0.2 s here), so servers
// starting together generate theirs in parallel; the lock is held only to
// read and to write, and a certificate another process stored meanwhile wins.
func (ca *CA) loadOrMake(certPath, keyPath string, good func(tls.Certificate) bool, mk func() (tls.Certificate, []byte, error)) (tls.Certificate, error) {
	load := func() (tls.Certificate, bool, error) {
		unlock, err := lockDir(ca.dir)
		if err != nil {
			return tls.Certificate{}, false, err
		}
		defer unlock()
		c, err := tls.LoadX509KeyPair(certPath, keyPath)
		return c, err == nil && good(c), nil
	}
	if c, ok, err := load(); err != nil || ok {
		return c, err
	}
	c, keyPEM, err := mk()
	if err != nil {
		return tls.Certificate{}, err
	}
	unlock, err := lockDir(ca.dir)
	if err != nil {
		return tls.Certificate{}, err
	}
	defer unlock()
	if stored, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && good(stored) {
		return stored, nil
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := writeFileAtomic(certPath, chain, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return c, nil
}

func (ca *CA) stillGood(c tls.Certificate, id Identity) bool {
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil || !ca.Issued(leaf) {
		return false
	}
	if keyTypeOf(c.PrivateKey) != id.Key.orDefault() {
		return false
	}
	if time.Until(leaf.NotAfter) < renewBefore {
		return false
	}
	if leaf.Subject.CommonName != strings.ToLower(id.FQDN) {
		return false
	}
	want := id.dnsNames()
	have := slices.Clone(leaf.DNSNames)
	if len(have) > 0 {
		slices.Sort(have[1:])
	}
	if !slices.Equal(want, have) {
		return false
	}
	if len(leaf.IPAddresses) != len(id.Addresses) {
		return false
	}
	for i, a := range id.Addresses {
		if !leaf.IPAddresses[i].Equal(net.IP(a.AsSlice())) {
			return false
		}
	}
	return true
}

func (ca *CA) sign(id Identity) (tls.Certificate, []byte, error) {
	if id.FQDN == "" {
		return tls.Certificate{}, nil, fmt.Errorf("certs: %s: no FQDN", id.Name)
	}
	key, err := generateKey(id.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("certs: %s: %w", id.Name, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ips := make([]net.IP, 0, len(id.Addresses))
	for _, a := range id.Addresses {
		ips = append(ips, net.IP(a.AsSlice()))
	}
	now := time.Now()
	notAfter := now.Add(leafLifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	org := ca.Cert.Subject.Organization
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: strings.ToLower(id.FQDN), Organization: org},
		DNSNames:     id.dnsNames(),
		IPAddresses:  ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     keyUsage(key),
		// Both usages: Exchange servers authenticate each other with the same
		// certificate they serve (mutual TLS on the intra-organization hops).
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	return createLeaf(tmpl, ca.Cert, ca.key, key, "sign "+id.Name)
}

// createLeaf signs tmpl for key with signer (parent's key; tmpl itself and
// key for a self-signed certificate) and returns the certificate with its
// key in PEM. what names the step in the error.
func createLeaf(tmpl, parent *x509.Certificate, signer, key crypto.Signer, what string) (tls.Certificate, []byte, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("certs: %s: %w", what, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("certs: %w", err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, keyPEM, nil
}

// keyUsage is what Exchange's certificates carry: Digital Signature, and
// Key Encipherment on RSA keys.
func keyUsage(k crypto.Signer) x509.KeyUsage {
	if _, ok := k.(*rsa.PrivateKey); ok {
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	return x509.KeyUsageDigitalSignature
}

// PeerName returns the FQDN (subject common name) of a verified peer
// certificate of the lab, or "" when the connection state carries none that
// the CA issued.
func (ca *CA) PeerName(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return ""
	}
	leaf := cs.PeerCertificates[0]
	// The handshake already verified a chain to the lab CA (ServerTLS's
	// ClientCAs); only an unverified certificate needs the signature check.
	verified := len(cs.VerifiedChains) > 0 && cs.VerifiedChains[0][len(cs.VerifiedChains[0])-1].Equal(ca.Cert)
	if !verified && !ca.Issued(leaf) || time.Now().After(leaf.NotAfter) {
		return ""
	}
	return leaf.Subject.CommonName
}

// exists reports whether path exists; used by tests.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
