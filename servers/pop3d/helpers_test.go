package pop3d

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/servers/internal/servertest"
)

// The lab CA and two Mailbox servers' certificates, made once per test binary.
var (
	labOnce            sync.Once
	labCA              *certs.CA
	ex01Cert, ex02Cert tls.Certificate
	labErr             error
)

func lab(t testing.TB) (*certs.CA, tls.Certificate, tls.Certificate) {
	if t != nil {
		t.Helper()
	}
	labOnce.Do(func() {
		labCA, labErr = certs.NewEphemeral("Contoso")
		if labErr != nil {
			return
		}
		loop := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
		ex01Cert, labErr = labCA.Issue(certs.Identity{Name: "EX01", FQDN: "ex01.contoso.com", Addresses: loop})
		if labErr != nil {
			return
		}
		ex02Cert, labErr = labCA.Issue(certs.Identity{Name: "EX02", FQDN: "ex02.contoso.com", Addresses: loop})
	})
	if labErr != nil && t != nil {
		t.Fatalf("lab CA: %v", labErr)
	}
	return labCA, ex01Cert, ex02Cert
}

// caFile writes the lab CA to a temporary file for external clients.
func caFile(t *testing.T) string {
	t.Helper()
	ca, _, _ := lab(t)
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testOptions are fast options for tests: millisecond logon delays.
func testOptions(t testing.TB, store *memStore) Options {
	t.Helper()
	ca, cert, _ := lab(t)
	return Options{
		ServerName:           "EX01",
		Backend:              store,
		TLSConfig:            ca.ServerTLS(cert),
		LogonFailureDelay:    time.Millisecond,
		MaxLogonFailureDelay: 4 * time.Millisecond,
	}
}

// startServer serves o on 127.0.0.1:0, implicit TLS when implicit is set,
// and closes the server at the end of the test. It returns the address.
func startServer(t testing.TB, o Options, implicit bool) (string, *Server) {
	t.Helper()
	var cfg *tls.Config
	if implicit {
		ca, cert, _ := lab(t)
		cfg = ca.ServerTLS(cert)
	}
	s := NewServer(o)
	return servertest.Start(t, s, cfg, ErrServerClosed), s
}

// popClient is a line-level POP3 client that records a transcript.
type popClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	log  []string // "C: ..." and "S: ..."
}

// dialPOP connects to addr, with TLS from the start when implicit is set.
func dialPOP(t *testing.T, addr string, implicit bool) *popClient {
	t.Helper()
	var cfg *tls.Config
	if implicit {
		ca, _, _ := lab(t)
		cfg = ca.ClientTLS("127.0.0.1", nil) // both lab certificates name 127.0.0.1
	}
	conn := servertest.Dial(t, addr, cfg)
	return &popClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// greeted is dialPOP past the server's greeting.
func greeted(t *testing.T, addr string, implicit bool) *popClient {
	t.Helper()
	c := dialPOP(t, addr, implicit)
	c.line()
	return c
}

// serveAndGreet serves o (implicit TLS when implicit is set) for the test and
// returns a client past the greeting.
func serveAndGreet(t *testing.T, o Options, implicit bool) *popClient {
	t.Helper()
	addr, _ := startServer(t, o, implicit)
	return greeted(t, addr, implicit)
}

// line reads one server line (without CRLF); "" with a failed test on error.
func (c *popClient) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading reply: %v (got %q)", err, s)
	}
	if !strings.HasSuffix(s, "\r\n") {
		c.t.Fatalf("reply %q does not end in CRLF", s)
	}
	s = strings.TrimSuffix(s, "\r\n")
	c.log = append(c.log, "S: "+s)
	return s
}

// closed reports whether the server closed the connection (EOF next).
func (c *popClient) closed() bool {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.r.ReadByte()
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func (c *popClient) send(line string) {
	c.t.Helper()
	c.log = append(c.log, "C: "+line)
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatalf("sending %q: %v", line, err)
	}
}

// cmd sends line and returns the first reply line.
func (c *popClient) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// multi reads the lines of a multi-line reply up to ".", un-stuffed.
func (c *popClient) multi() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

// expect sends line and fails unless the first reply is want.
func (c *popClient) expect(line, want string) {
	c.t.Helper()
	if got := c.cmd(line); got != want {
		c.t.Fatalf("%s = %q, want %q", line, got, want)
	}
}

// starttls upgrades after a positive STLS reply.
func (c *popClient) starttls() {
	c.t.Helper()
	ca, _, _ := lab(c.t)
	tc := tls.Client(c.conn, ca.ClientTLS("127.0.0.1", nil))
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake after STLS: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// waitClosed waits for the server to close a maildrop of user.
func waitClosed(t *testing.T, s *memStore, user string) {
	t.Helper()
	select {
	case u := <-s.closed:
		if u != user {
			t.Fatalf("closed maildrop of %q, want %q", u, user)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("maildrop of %q never closed", user)
	}
}
