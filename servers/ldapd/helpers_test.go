package ldapd

import (
	"context"
	"crypto/tls"
	"errors"
	"github.com/exsim/exsim/store/directory"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exsim/exsim/certs"
	"github.com/go-ldap/ldap/v3"
)

// Test directory layout: a configuration naming context with an accounts
// container and a data container, in the style of an Edge's AD LDS.
const (
	testNC       = "CN=Configuration,CN={4D9F3A0B-1C2D-4E5F-8A9B-0C1D2E3F4A5B}"
	testAccounts = "CN=Services," + testNC
	testData     = "CN=Data," + testNC
	testWriter   = "CN=Writer," + testAccounts
	testReader   = "CN=Reader," + testAccounts
	testAdmins   = "CN=Administrators,CN=Roles," + testNC
	testPassword = "Secret-1"
)

// seed fills dir with the test layout and two accounts: Writer (a member of
// Administrators, which may write under Data) and Reader (read-only).
func seed(t testing.TB, dir directory.Directory) {
	t.Helper()
	user := func(dn string) *directory.Entry {
		return &directory.Entry{DN: dn, Attributes: []directory.Attribute{
			{Name: "objectClass", Values: []string{"top", "user"}},
			{Name: "userPassword", Values: []string{directory.HashPassword(testPassword)}},
		}}
	}
	container := func(dn string) *directory.Entry {
		return &directory.Entry{DN: dn, Attributes: []directory.Attribute{{Name: "objectClass", Values: []string{"top", "container"}}}}
	}
	err := dir.Apply(
		directory.Change{Kind: directory.ChangeAdd, Entry: container(testNC), NamingContext: true},
		directory.Change{Kind: directory.ChangeAdd, Entry: container(testAccounts)},
		directory.Change{Kind: directory.ChangeAdd, Entry: container(testData)},
		directory.Change{Kind: directory.ChangeAdd, Entry: container("CN=Roles," + testNC)},
		directory.Change{Kind: directory.ChangeAdd, Entry: &directory.Entry{DN: testAdmins, Attributes: []directory.Attribute{
			{Name: "objectClass", Values: []string{"top", "group"}},
			{Name: "member", Values: []string{testWriter}},
		}}},
		directory.Change{Kind: directory.ChangeAdd, Entry: user(testWriter)},
		directory.Change{Kind: directory.ChangeAdd, Entry: user(testReader)},
	)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// entry returns an entry of objectClass top with the given attribute
// name/value pairs.
func entry(dn string, attrs ...string) *directory.Entry {
	e := &directory.Entry{DN: dn, Attributes: []directory.Attribute{{Name: "objectClass", Values: []string{"top"}}}}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.Set(attrs[i], append(e.Get(attrs[i]), attrs[i+1])...)
	}
	return e
}

// seededTree returns an in-memory tree holding the test layout.
func seededTree(t testing.TB) *directory.Tree {
	t.Helper()
	dir := directory.NewTree()
	seed(t, dir)
	return dir
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type testServer struct {
	srv    *Server
	dir    directory.Directory
	ca     *certs.CA
	tlsCfg *tls.Config // client side, server name edge01.contoso.com
	ldaps  string      // 127.0.0.1:port of the TLS listener
	plain  string      // 127.0.0.1:port of the clear-text listener
	serveC chan error
}

type serverOption func(*Options)

// startServer serves dir (seeded) on a TLS and a clear-text listener.
func startServer(t testing.TB, dir directory.Directory, opts ...serverOption) *testServer {
	t.Helper()
	ca, err := certs.NewEphemeral("Contoso")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(certs.Identity{Name: "EDGE01", FQDN: "edge01.contoso.com", Addresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	acl, err := directory.NewACL(dir,
		directory.Grant{Principal: testAdmins, Base: testData, Rights: directory.RightRead | directory.RightWrite},
		directory.Grant{Principal: testAdmins, Base: testNC, Rights: directory.RightRead},
		directory.Grant{Principal: testReader, Base: "", Rights: directory.RightRead},
	)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		ServerName:    "EDGE01",
		Authenticator: directory.NewDirectoryAuthenticator(dir, nil),
		Authorizer:    acl,
		RootDSE: map[string][]string{
			"configurationNamingContext": {testNC},
			"dnsHostName":                {"edge01.contoso.com"},
		},
	}
	for _, fn := range opts {
		fn(&o)
	}
	srv, err := NewServer(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{
		srv: srv, dir: dir, ca: ca,
		tlsCfg: ca.ClientTLS("edge01.contoso.com", nil),
		ldaps:  tl.Addr().String(),
		plain:  pl.Addr().String(),
		serveC: make(chan error, 2),
	}
	go func() { ts.serveC <- srv.Serve(tls.NewListener(tl, ca.ServerTLS(cert))) }()
	go func() { ts.serveC <- srv.Serve(pl) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		for range 2 {
			if err := <-ts.serveC; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve() = %v, want ErrServerClosed", err)
			}
		}
	})
	return ts
}

// dialLDAPS connects go-ldap's client over LDAPS.
func (ts *testServer) dialLDAPS(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldaps://"+ts.ldaps, ldap.DialWithTLSConfig(ts.tlsCfg))
	if err != nil {
		t.Fatalf("dial ldaps: %v", err)
	}
	c.SetTimeout(10 * time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

// dialPlain connects go-ldap's client over clear-text LDAP.
func (ts *testServer) dialPlain(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + ts.plain)
	if err != nil {
		t.Fatalf("dial ldap: %v", err)
	}
	c.SetTimeout(10 * time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

// resultCode returns the LDAP result code of err (0 for nil).
func resultCode(err error) uint16 {
	if err == nil {
		return 0
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		return le.ResultCode
	}
	return 0xffff
}

func diagnostic(err error) string {
	var le *ldap.Error
	if errors.As(err, &le) && le.Err != nil {
		return le.Err.Error()
	}
	return ""
}

func tempPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "adam", "directory.json")
}

func shutdownCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func fileMode(t testing.TB, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}
