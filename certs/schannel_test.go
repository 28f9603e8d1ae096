package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/loopback"
)

// serveTLS accepts connections with cfg and completes their handshakes until
// the test ends. It returns the address.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l := tls.NewListener(loopback.Listen(t), cfg)
	loopback.Serve(t, l, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err == nil {
			c.Write([]byte("x"))
		} else {
			t.Logf("server handshake: %v", err)
		}
	})
	return l.Addr().String()
}

// handshake dials addr with cfg, reads the server's first byte, and reports
// the connection state and whether the server sent a CertificateRequest.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, bool, error) {
	requested := false
	cfg = cfg.Clone()
	give := cfg.Certificates
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		requested = true
		if len(give) > 0 {
			return &give[0], nil
		}
		return &tls.Certificate{}, nil
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, requested, err
	}
	defer c.Close()
	// tls.Conn may return the byte together with io.EOF (close_notify).
	if n, err := c.Read(make([]byte, 1)); n != 1 {
		return tls.ConnectionState{}, requested, err
	}
	return c.ConnectionState(), requested, nil
}

func newTestCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewEphemeral("Contoso")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestSChannelPersona(t *testing.T) {
	ca := newTestCA(t)
	srv, err := ca.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	tls12 := serveTLS(t, ca.ServerTLSFor(srv, Persona{}))
	tls13 := serveTLS(t, ca.ServerTLSFor(srv, Persona{TLS13: true}))
	client := ca.ClientTLS("ex01.contoso.com", nil)

	cs, _, err := handshake(tls12, client)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Version != tls.VersionTLS12 {
		t.Errorf("TLS 1.2 persona negotiated %s with a TLS 1.3 client, want TLS 1.2", tls.VersionName(cs.Version))
	}
	// SChannel's choice among Go's default offer: AES-256 first.
	if cs.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("cipher = %s, want TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 (SChannel's preference)", tls.CipherSuiteName(cs.CipherSuite))
	}
	if cs, _, err := handshake(tls13, client); err != nil || cs.Version != tls.VersionTLS13 {
		t.Errorf("TLS 1.3 persona: version %s, err %v; want TLS 1.3", tls.VersionName(cs.Version), err)
	}

	// sslscan-style: a TLS 1.2 client offering one suite at a time.
	for _, tc := range []struct {
		suite uint16
		ok    bool
	}{
		{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, false},
		{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false},
		{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, false},
		{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, true},
		{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, true},
	} {
		cfg := client.Clone()
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tc.suite}
		_, _, err := handshake(tls12, cfg)
		if (err == nil) != tc.ok {
			t.Errorf("TLS 1.2 handshake offering only %s: err = %v, want success %v", tls.CipherSuiteName(tc.suite), err, tc.ok)
		}
	}
}

func TestClientCertificateRequest(t *testing.T) {
	ca := newTestCA(t)
	srv, _ := ca.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com"})
	peer, _ := ca.Issue(Identity{Name: "EX02", FQDN: "ex02.contoso.com"})
	foreignCA := newTestCA(t)
	foreign, _ := foreignCA.Issue(Identity{Name: "MX", FQDN: "mx.fabrikam.com"})

	client := serveTLS(t, ca.ServerTLSFor(srv, Persona{}))
	exchange := serveTLS(t, ca.ServerTLSFor(srv, Persona{ExchangeServerAuth: true}))
	cfg := ca.ClientTLS("ex01.contoso.com", nil)

	if _, requested, err := handshake(client, cfg); err != nil || requested {
		t.Errorf("client listener: CertificateRequest sent = %v (err %v), want none", requested, err)
	}
	if _, requested, err := handshake(exchange, cfg); err != nil || !requested {
		t.Errorf("Exchange connector without a certificate: requested %v, err %v; want requested and accepted", requested, err)
	}
	for _, c := range []struct {
		cert tls.Certificate
		want string
	}{{peer, "ex02.contoso.com"}, {foreign, ""}} {
		withCert := ca.ClientTLS("ex01.contoso.com", &c.cert)
		if _, _, err := handshake(exchange, withCert); err != nil {
			t.Errorf("Exchange connector, client certificate %s: %v; want accepted", c.cert.Leaf.Subject.CommonName, err)
		}
	}
	// What the role sees: PeerName names lab servers only.
	l, err := tls.Listen("tcp", "127.0.0.1:0", ca.ServerTLSFor(srv, Persona{ExchangeServerAuth: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	names := make(chan string, 2)
	go func() {
		for range 2 {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			tc.Handshake()
			cs := tc.ConnectionState()
			names <- ca.PeerName(&cs)
			tc.Write([]byte("x"))
			tc.Close()
		}
	}()
	for _, c := range []struct {
		cert tls.Certificate
		want string
	}{{peer, "ex02.contoso.com"}, {foreign, ""}} {
		if _, _, err := handshake(l.Addr().String(), ca.ClientTLS("ex01.contoso.com", &c.cert)); err != nil {
			t.Fatal(err)
		}
		if got := <-names; got != c.want {
			t.Errorf("PeerName(certificate of %s) = %q, want %q", c.cert.Leaf.Issuer.CommonName, got, c.want)
		}
	}
}

func TestKeyTypes(t *testing.T) {
	ca := newTestCA(t)
	if _, ok := ca.key.(*rsa.PrivateKey); !ok {
		t.Errorf("new CA key is %T, want RSA", ca.key)
	}
	rsaCert, _ := ca.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com"})
	ecCert, _ := ca.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com", Key: KeyECDSA})
	if k, ok := rsaCert.PrivateKey.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Errorf("default leaf key = %T, want RSA-2048", rsaCert.PrivateKey)
	}
	if rsaCert.Leaf.KeyUsage&x509.KeyUsageKeyEncipherment == 0 || rsaCert.Leaf.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("RSA leaf: key usage %v, signature %v; want Key Encipherment, SHA256-RSA", rsaCert.Leaf.KeyUsage, rsaCert.Leaf.SignatureAlgorithm)
	}
	if _, ok := ecCert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("ecdsa leaf key = %T, want ECDSA", ecCert.PrivateKey)
	}
	addr := serveTLS(t, ca.ServerTLSFor(ecCert, Persona{}))
	cs, _, err := handshake(addr, ca.ClientTLS("ex01.contoso.com", nil))
	if err != nil || cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("ECDSA listener: suite %s, err %v; want TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", tls.CipherSuiteName(cs.CipherSuite), err)
	}
}

// A data directory from before RSA: an ECDSA CA key in SEC 1 form and an
// ECDSA leaf. The CA keeps working; the leaf is re-issued as RSA.
func TestOldECDSADataDirectory(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Contoso Lab Root CA", Organization: []string{"Contoso"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, caCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, caKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)

	ca, err := LoadOrCreate(dir, "Contoso")
	if err != nil {
		t.Fatalf("LoadOrCreate on an ECDSA CA: %v", err)
	}
	id := Identity{Name: "EX01", FQDN: "ex01.contoso.com"}
	old, err := ca.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com", Key: KeyECDSA})
	if err != nil {
		t.Fatal(err)
	}
	again, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := again.PrivateKey.(*rsa.PrivateKey); !ok || again.Leaf.Equal(old.Leaf) {
		t.Errorf("stored ECDSA leaf with an RSA identity: got %T (same cert %v), want a new RSA leaf", again.PrivateKey, again.Leaf.Equal(old.Leaf))
	}
	if !ca.Issued(again.Leaf) {
		t.Error("re-issued leaf is not signed by the existing CA")
	}
}

func TestExchangeSelfSigned(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir(), "Contoso")
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{Name: "EX02", FQDN: "ex02.contoso.com"}
	c, err := ca.ExchangeSelfSigned(id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf.Subject.String() != "CN=Microsoft Exchange" || c.Leaf.Issuer.String() != "CN=Microsoft Exchange" {
		t.Errorf("subject %q issuer %q, want CN=Microsoft Exchange for both", c.Leaf.Subject, c.Leaf.Issuer)
	}
	if got := strings.Join(c.Leaf.DNSNames, ","); got != "EX02,ex02.contoso.com" {
		t.Errorf("SANs = %s, want EX02,ex02.contoso.com", got)
	}
	if ca.Issued(c.Leaf) {
		t.Error("the self-signed certificate verifies against the lab CA")
	}
	again, _ := ca.ExchangeSelfSigned(id)
	if !again.Leaf.Equal(c.Leaf) {
		t.Error("second call made a new certificate; want the stored one")
	}
	addr := serveTLS(t, ca.ServerTLSFor(c, Persona{}))
	if _, requested, err := handshake(addr, BackEndClientTLS("ex02.contoso.com")); err != nil || requested {
		t.Errorf("front end to back end: err %v, certificate requested %v; want success without request", err, requested)
	}
	if _, _, err := handshake(addr, BackEndClientTLS("ex01.contoso.com")); err == nil {
		t.Error("BackEndClientTLS accepted the certificate of another server")
	}
	lab, _ := ca.Issue(id)
	if _, _, err := handshake(serveTLS(t, ca.ServerTLSFor(lab, Persona{})), BackEndClientTLS("ex02.contoso.com")); err == nil {
		t.Error("BackEndClientTLS accepted a certificate that is not CN=Microsoft Exchange")
	}
}

func TestServerTicket(t *testing.T) {
	ca := newTestCA(t)
	fe, _ := ca.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com"})
	now := time.Now()
	tk, err := SignServerTicket(fe, "ex02.contoso.com", "alice@contoso.com", now)
	if err != nil {
		t.Fatal(err)
	}
	signer, claim, err := ca.VerifyServerTicket(tk, "EX02.contoso.com", now.Add(time.Minute))
	if err != nil || signer != "ex01.contoso.com" || claim != "alice@contoso.com" {
		t.Errorf("VerifyServerTicket = %q, %q, %v; want ex01.contoso.com, alice@contoso.com", signer, claim, err)
	}
	if _, _, err := ca.VerifyServerTicket(tk, "ex03.contoso.com", now); err == nil {
		t.Error("ticket accepted by another back end")
	}
	if _, _, err := ca.VerifyServerTicket(tk, "ex02.contoso.com", now.Add(ServerTicketMaxAge+time.Second)); err == nil {
		t.Error("expired ticket accepted")
	}
	forged := strings.Replace(tk, tk[strings.IndexByte(tk, '.')+1:strings.LastIndexByte(tk, '.')], "Zm9v", 1)
	if _, _, err := ca.VerifyServerTicket(forged, "ex02.contoso.com", now); err == nil {
		t.Error("ticket with a changed payload accepted")
	}
	other := newTestCA(t)
	evil, _ := other.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com"})
	tk2, _ := SignServerTicket(evil, "ex02.contoso.com", "alice@contoso.com", now)
	if _, _, err := ca.VerifyServerTicket(tk2, "ex02.contoso.com", now); err == nil {
		t.Error("ticket signed by a certificate of another CA accepted")
	}
	ecdsaFE, _ := ca.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com", Key: KeyECDSA})
	tk3, _ := SignServerTicket(ecdsaFE, "ex02.contoso.com", "bob@contoso.com", now)
	if _, claim, err := ca.VerifyServerTicket(tk3, "ex02.contoso.com", now); err != nil || claim != "bob@contoso.com" {
		t.Errorf("ECDSA-signed ticket: %q, %v", claim, err)
	}
}
