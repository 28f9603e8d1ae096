package edgesync

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/certs/certstest"
	"github.com/exsim/exsim/servers/ldapd"
	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

var (
	ex01 = Server{Name: "EX01", FQDN: "ex01.contoso.com", Address: "127.0.20.1", Participant: true}
	ex02 = Server{Name: "EX02", FQDN: "ex02.contoso.com", Address: "127.0.20.2", Participant: true}
)

// testEdge is an Edge serving its directory over LDAPS on 127.0.0.1:0.
type testEdge struct {
	edge    *Edge
	tree    *directory.Tree
	path    string
	srv     *ldapd.Server
	ca      *certs.CA
	certPEM []byte
	addr    string
}

func startEdge(t testing.TB) *testEdge {
	t.Helper()
	ca := certstest.CA(t, "Contoso")
	cert := certstest.Issue(t, ca, certs.Identity{Name: "EDGE01", FQDN: "edge01.contoso.com", Addresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	path := filepath.Join(t.TempDir(), "EDGE01", "adam", "directory.json")
	tree, edge := openEdge(t, path)
	opts, err := edge.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ldapd.NewServer(tree, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tls.NewListener(l, ca.ServerTLS(cert))) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		if err := <-served; !errors.Is(err, ldapd.ErrServerClosed) {
			t.Errorf("Serve() = %v", err)
		}
	})
	return &testEdge{
		edge: edge, tree: tree, path: path, srv: srv, ca: ca,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		addr:    l.Addr().String(),
	}
}

// openEdge opens EDGE01's directory file at path, closed when the test
// ends, and the Edge over it.
func openEdge(t testing.TB, path string) (*directory.Tree, *Edge) {
	t.Helper()
	tree := directorytest.Open(t, path)
	edge, err := NewEdge(tree, EdgeOptions{Name: "EDGE01", FQDN: "edge01.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	return tree, edge
}

// subscribe makes a subscription file on the Edge, passes it through its
// XML form and imports it for participants.
func (te *testEdge) subscribe(t testing.TB, participants ...Server) map[string]*Credentials {
	t.Helper()
	f, err := te.edge.NewSubscription(te.certPEM, 0)
	if err != nil {
		t.Fatalf("NewSubscription() = %v", err)
	}
	data, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseSubscriptionFile(data)
	if err != nil {
		t.Fatalf("ParseSubscriptionFile() = %v", err)
	}
	creds, err := Import(parsed, participants, time.Now())
	if err != nil {
		t.Fatalf("Import() = %v", err)
	}
	return creds
}

// dialer counts the connections a Syncer makes and can be blocked, as a
// firewall dropping 50636 would.
type dialer struct {
	calls   atomic.Int64
	blocked atomic.Bool
	called  chan struct{} // one value per call, when not nil
}

var errBlocked = errors.New("dial tcp: connect: connection timed out (blocked by test firewall)")

func (d *dialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.calls.Add(1)
	if d.called != nil {
		defer func() { d.called <- struct{}{} }()
	}
	if d.blocked.Load() {
		return nil, errBlocked
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// org is a Mailbox server's view of the organization, changeable by tests.
type org struct {
	mu    sync.Mutex
	cfg   Config
	addrs []string
}

func newOrg(servers ...Server) *org {
	return &org{
		cfg: Config{
			Organization:    "Contoso",
			Site:            DefaultSite,
			AcceptedDomains: []AcceptedDomain{{Name: "contoso.com", Type: Authoritative, Default: true}},
			MailboxServers:  servers,
			SendConnectors:  SubscriptionConnectors(DefaultSite),
		},
		addrs: []string{"alice@contoso.com", "bob@contoso.com"},
	}
}

func (o *org) snapshot(context.Context) (Config, Recipients, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cfg, RecipientsOf(o.addrs, []string{"partner.example"}, []string{"spammer@bad.example"}), nil
}

func (o *org) setAddrs(addrs ...string) {
	o.mu.Lock()
	o.addrs = addrs
	o.mu.Unlock()
}

func (o *org) setServers(servers ...Server) {
	o.mu.Lock()
	o.cfg.MailboxServers = servers
	o.mu.Unlock()
}

func (te *testEdge) syncer(t testing.TB, creds *Credentials, o *org, d *dialer, mod ...func(*Options)) *Syncer {
	t.Helper()
	opts := Options{
		EdgeAddress: te.addr,
		TLSConfig:   te.ca.ClientTLS("edge01.contoso.com", nil),
		Dial:        d.Dial,
		Credentials: creds,
		Snapshot:    o.snapshot,
	}
	for _, m := range mod {
		m(&opts)
	}
	s, err := NewSyncer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dialLDAPS(t testing.TB, te *testEdge) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldaps://"+te.addr, ldap.DialWithTLSConfig(te.ca.ClientTLS("edge01.contoso.com", nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(10 * time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
