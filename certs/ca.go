// Package certs is the lab certificate authority: one CA per data directory
// that signs a certificate for every server of the topology, so clients trust
// the whole lab by trusting DATA/certs/ca.pem, and Exchange servers can
// authenticate each other with mutual TLS as Exchange does. It also holds the
// TLS persona of the listeners (schannel.go: what SChannel on the
// impersonated Windows Server offers) and Exchange's self-signed certificate
// of the Back End site (selfsigned.go).
//
// New CAs and server certificates are RSA-2048, as Exchange's own
// self-signed certificate and commercial certificates are: the key type and
// the signature algorithm (sha256WithRSAEncryption) are visible to every
// scanner in every handshake. The CA's key costs nothing per handshake (the
// server only signs with its leaf key), so the CA is RSA too, like an AD CS
// or commercial root. ECDSA P-256 leaves stay available (KeyECDSA): a full
// handshake costs about a third of RSA-2048's server CPU (docs/PERFORMANCE.md).
// A CA stored earlier with an ECDSA key keeps working and keeps signing.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca-key.pem"

	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 825 * 24 * time.Hour
	// renewBefore is how close to expiry a stored leaf is replaced.
	renewBefore = 30 * 24 * time.Hour
)

// CA is the lab certificate authority.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer // *rsa.PrivateKey, or *ecdsa.PrivateKey in CAs made before RSA
	pem  []byte
	dir  string // "" for an ephemeral CA that never touches disk

	mu sync.Mutex
	// exchangeCerts are the self-signed certificates an ephemeral CA made
	// (ExchangeSelfSigned), by server name, for ExchangeCert.
	exchangeCerts map[string]*x509.Certificate
}

// LoadOrCreate returns the CA stored in dir (DATA/certs), creating it on first
// use. Several exsim processes may start at once on one data directory; an
// exclusive lock on dir/.lock makes exactly one of them create the CA.
func LoadOrCreate(dir, organization string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	certPath := filepath.Join(dir, caCertFile)
	keyPath := filepath.Join(dir, caKeyFile)
	if _, err := os.Stat(certPath); err == nil {
		ca, err := loadCA(certPath, keyPath)
		if err != nil {
			return nil, err
		}
		ca.dir = dir
		return ca, nil
	}
	ca, err := newCA(organization)
	if err != nil {
		return nil, err
	}
	ca.dir = dir
	keyPEM, err := marshalKey(ca.key)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certPath, ca.pem, 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// NewEphemeral returns a CA that lives only in memory: for tests, and for the
// "foreign" certificates the probe must recognise as not the lab's.
func NewEphemeral(organization string) (*CA, error) {
	return newCA(organization)
}

func newCA(organization string) (*CA, error) {
	if organization == "" {
		organization = "exsim lab"
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("certs: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: organization + " Lab Root CA", Organization: []string{organization}, OrganizationalUnit: []string{"exsim"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return &CA{Cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func loadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", certPath, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", keyPath, err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("certs: %s does not belong to %s; remove both to start a new lab CA", keyPath, certPath)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, fmt.Errorf("certs: the lab CA %s expired on %s; remove %s to start a new one", certPath, cert.NotAfter.Format(time.DateOnly), filepath.Dir(certPath))
	}
	return &CA{Cert: cert, key: key, pem: certPEM}, nil
}

// PEM returns the CA certificate in PEM form, as clients need it.
func (ca *CA) PEM() []byte { return ca.pem }

// Dir returns the directory the CA is stored in ("" when ephemeral).
func (ca *CA) Dir() string { return ca.dir }

// CertPath returns the path of ca.pem ("" when ephemeral).
func (ca *CA) CertPath() string {
	if ca.dir == "" {
		return ""
	}
	return filepath.Join(ca.dir, caCertFile)
}

// Pool returns a pool holding only the lab CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issued reports whether cert was signed by this CA.
func (ca *CA) Issued(cert *x509.Certificate) bool {
	return cert.CheckSignatureFrom(ca.Cert) == nil
}

func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certs: serial: %w", err)
	}
	return s, nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// parseKeyPEM reads the CA key: PKCS #8 (written since the CA became RSA)
// or SEC 1 "EC PRIVATE KEY" (written by earlier versions).
func parseKeyPEM(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	if block.Type == "EC PRIVATE KEY" {
		return x509.ParseECPrivateKey(block.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", k)
}

// marshalKey is the PKCS #8 PEM form of an RSA or ECDSA key.
func marshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFileAtomic writes through a temporary file and a rename, so a reader
// (or a crash) never sees half a key.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("certs: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("certs: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("certs: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("certs: lock %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
