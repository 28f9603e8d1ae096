package httpd

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/certs"
)

const labFQDN = "ex01.contoso.com"

// testServer is the HTTPS handler on 127.0.0.1:0 with a lab certificate,
// and a real client that trusts the lab CA and reaches it as
// ex01.contoso.com.
type testServer struct {
	t       testing.TB
	srv     *httptest.Server
	ca      *certs.CA
	handler *Handler
	backend *fakeBackend
	host    string // ex01.contoso.com:<port>
	base    string // https://ex01.contoso.com:<port>
	addr    string // 127.0.0.1:<port>
}

// testOptions are the options every test starts from: Exchange 2019 on
// EX01, and a throttle with tiny delays so failed logons do not slow tests.
func testOptions() Options {
	return Options{
		ServerName: "EX01",
		FQDN:       labFQDN,
		Throttle:   Throttle{MaxFailures: 5, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond},
	}
}

// The lab CA and EX01's certificate, made once for all tests.
var labPKI = sync.OnceValues(func() (*certs.CA, tls.Certificate) {
	ca, err := certs.NewEphemeral("Contoso")
	if err != nil {
		panic(err) // a test helper: crypto/rand failing ends the run
	}
	cert, err := ca.Issue(certs.Identity{
		Name: "EX01", FQDN: labFQDN,
		Addresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		ExtraDNS:  []string{"mail.contoso.com", "autodiscover.contoso.com"},
	})
	if err != nil {
		panic(err)
	}
	return ca, cert
})

func labCertificate(t testing.TB) (*certs.CA, tls.Certificate) {
	t.Helper()
	return labPKI()
}

func newTestServer(t *testing.T, o Options) *testServer {
	t.Helper()
	b := newFakeBackend()
	return newTestServerWith(t, o, b, b)
}

// newTestServerWith serves backend, whose fake is b; setup runs before
// the server starts.
func newTestServerWith(t testing.TB, o Options, backend Backend, b *fakeBackend, setup ...func(*httptest.Server)) *testServer {
	t.Helper()
	return newTestServerConn(t, o, backend, b, nil, setup...)
}

// newTestServerConn is newTestServerWith with the server's ConnContext
// (an NTLM acceptor's connection state), when not nil.
func newTestServerConn(t testing.TB, o Options, backend Backend, b *fakeBackend, connContext func(context.Context, net.Conn) context.Context, setup ...func(*httptest.Server)) *testServer {
	t.Helper()
	ca, cert := labCertificate(t)
	h := NewHandler(backend, o)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = connContext
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // browsers' aborted preconnects
	srv.TLS = ca.ServerTLS(cert)
	for _, f := range setup {
		f(srv)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ts := &testServer{t: t, srv: srv, ca: ca, handler: h, backend: b,
		host: labFQDN + ":" + port, addr: srv.Listener.Addr().String()}
	ts.base = "https://" + ts.host
	return ts
}

// client returns a real net/http client that resolves every lab name to
// the test server, trusts only the lab CA and does not follow redirects.
func (ts *testServer) client(withJar bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: ts.ca.ClientTLS(labFQDN, nil),
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, ts.addr)
		},
	}
	ts.t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{
		Transport:     tr,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if withJar {
		jar, _ := cookiejar.New(nil)
		c.Jar = jar
	}
	return c
}

// caFile writes the lab CA for external clients and returns its path.
func (ts *testServer) caFile() string {
	p := filepath.Join(ts.t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.ca.Cert.Raw}), 0o644); err != nil {
		ts.t.Fatal(err)
	}
	return p
}

func tlsDial(ts *testServer) (*tls.Conn, error) {
	return tls.Dial("tcp", ts.addr, ts.ca.ClientTLS(labFQDN, nil))
}

func contextWithLocalAddr(r *http.Request, addr string) context.Context {
	a, _ := net.ResolveTCPAddr("tcp", addr)
	return context.WithValue(r.Context(), http.LocalAddrContextKey, a)
}

// discardWriter is an http.ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func newDiscardWriter() *discardWriter { return &discardWriter{h: http.Header{}} }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
