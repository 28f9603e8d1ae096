package certs

import (
	"crypto/tls"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateReusesCA(t *testing.T) {
	dir := t.TempDir()
	ca1, err := LoadOrCreate(dir, "Contoso")
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := LoadOrCreate(dir, "Contoso")
	if err != nil {
		t.Fatal(err)
	}
	if !ca1.Cert.Equal(ca2.Cert) {
		t.Fatal("second LoadOrCreate made a new CA; want the stored one reused")
	}
	st, err := os.Stat(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("ca-key.pem mode = %v, want 0600", st.Mode().Perm())
	}
}

func TestConcurrentCreateMakesOneCA(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	cas := make([]*CA, 8)
	for i := range cas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ca, err := LoadOrCreate(dir, "Contoso")
			if err != nil {
				t.Error(err)
				return
			}
			cas[i] = ca
		}()
	}
	wg.Wait()
	for _, ca := range cas[1:] {
		if ca == nil || !ca.Cert.Equal(cas[0].Cert) {
			t.Fatal("concurrent LoadOrCreate produced different CAs")
		}
	}
}

func TestIssueSANsAndReuse(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreate(dir, "Contoso")
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{Name: "EX01", FQDN: "ex01.contoso.com", Addresses: []netip.Addr{netip.MustParseAddr("127.0.20.1")}, ExtraDNS: []string{"mail.contoso.com", "autodiscover.contoso.com"}}
	c, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf
	for _, name := range []string{"ex01.contoso.com", "ex01", "mail.contoso.com", "autodiscover.contoso.com"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%q) = %v, want nil", name, err)
		}
	}
	if err := leaf.VerifyHostname("127.0.20.1"); err != nil {
		t.Errorf("VerifyHostname(address) = %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, "EX01-key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("EX01-key.pem: %v mode %v, want 0600", err, st.Mode().Perm())
	}
	again, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Leaf.Equal(leaf) {
		t.Error("Issue with the same identity made a new certificate; want the stored one")
	}
	id.Addresses = []netip.Addr{netip.MustParseAddr("192.0.2.31")}
	changed, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Leaf.Equal(leaf) {
		t.Error("Issue after an address change reused the old certificate")
	}
	if !exists(filepath.Join(dir, "EX01.pem")) {
		t.Error("EX01.pem not written")
	}
}

func TestMutualTLS(t *testing.T) {
	ca, err := NewEphemeral("Contoso")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(Identity{Name: "EX01", FQDN: "ex01.contoso.com"})
	cli, _ := ca.Issue(Identity{Name: "EDGE01", FQDN: "edge01.contoso.com"})
	foreign, _ := NewEphemeral("Evil")
	evil, _ := foreign.Issue(Identity{Name: "X", FQDN: "ex01.contoso.com"})

	l, err := tls.Listen("tcp", "127.0.0.1:0", ca.ServerTLS(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peers := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				peers <- "error"
				c.Close()
				continue
			}
			cs := tc.ConnectionState()
			peers <- ca.PeerName(&cs)
			c.Close()
		}
	}()
	dial := func(cfg *tls.Config) error {
		c, err := tls.Dial("tcp", l.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 1)
		c.Read(buf)
		return nil
	}
	if err := dial(ca.ClientTLS("ex01.contoso.com", &cli)); err != nil {
		t.Fatal(err)
	}
	if got := <-peers; got != "edge01.contoso.com" {
		t.Errorf("PeerName = %q, want edge01.contoso.com", got)
	}
	if err := dial(ca.ClientTLS("ex01.contoso.com", nil)); err != nil {
		t.Fatal(err)
	}
	if got := <-peers; got != "" {
		t.Errorf("PeerName without client cert = %q, want empty", got)
	}
	// A server certificate from another CA fails verification on the client.
	l2, _ := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{evil}})
	defer l2.Close()
	go func() {
		c, err := l2.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", l2.Addr().String(), ca.ClientTLS("ex01.contoso.com", nil))
	if err == nil {
		c.Close()
		t.Fatal("dial to a foreign certificate succeeded; want a verification error")
	}
}
