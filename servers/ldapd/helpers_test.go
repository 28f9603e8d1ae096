package ldapd

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/servers/internal/servertest"
	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

// textDecoding is AD's "Error decoding ldap message", which the directory
// and the server answer with.
var textDecoding = directory.DecodingError().Diagnostic

type testServer struct {
	srv    *Server
	dir    directory.Directory
	ca     *certs.CA
	tlsCfg *tls.Config // client side, server name edge01.contoso.com
	ldaps  string      // 127.0.0.1:port of the TLS listener
	plain  string      // 127.0.0.1:port of the clear-text listener
}

type serverOption func(*Options)

// startServer serves dir (seeded) on a TLS and a clear-text listener.
func startServer(t testing.TB, dir directory.Directory, opts ...serverOption) *testServer {
	t.Helper()
	ca := servertest.CA(t)
	cert := servertest.Issue(t, ca, "EDGE01", "edge01.contoso.com")
	acl, err := directory.NewACL(dir,
		directory.Grant{Principal: directorytest.Admins, Base: directorytest.Data, Rights: directory.RightRead | directory.RightWrite},
		directory.Grant{Principal: directorytest.Admins, Base: directorytest.NC, Rights: directory.RightRead},
		directory.Grant{Principal: directorytest.Reader, Base: "", Rights: directory.RightRead},
	)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		ServerName:    "EDGE01",
		Authenticator: directory.NewDirectoryAuthenticator(dir, nil),
		Authorizer:    acl,
		RootDSE: map[string][]string{
			"configurationNamingContext": {directorytest.NC},
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
	ts := &testServer{srv: srv, dir: dir, ca: ca, tlsCfg: ca.ClientTLS("edge01.contoso.com", nil)}
	ts.ldaps = servertest.Start(t, srv, ca.ServerTLS(cert), ErrServerClosed)
	ts.plain = servertest.Start(t, srv, nil, ErrServerClosed)
	return ts
}

// dialLDAPS connects go-ldap's client over LDAPS.
func (ts *testServer) dialLDAPS(t testing.TB) *ldap.Conn {
	t.Helper()
	return dialURL(t, "ldaps://"+ts.ldaps, ldap.DialWithTLSConfig(ts.tlsCfg))
}

// dialPlain connects go-ldap's client over clear-text LDAP.
func (ts *testServer) dialPlain(t testing.TB) *ldap.Conn {
	t.Helper()
	return dialURL(t, "ldap://"+ts.plain)
}

// dialURL connects go-ldap's client to url, with a 10 s timeout per
// request; the connection is closed when the test ends.
func dialURL(t testing.TB, url string, opts ...ldap.DialOpt) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(url, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetTimeout(10 * time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

// bound binds c as dn with the test accounts' password, or fails the test.
func bound(t testing.TB, c *ldap.Conn, dn string) *ldap.Conn {
	t.Helper()
	if err := c.Bind(dn, directorytest.Password); err != nil {
		t.Fatalf("Bind(%s) = %v", dn, err)
	}
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
