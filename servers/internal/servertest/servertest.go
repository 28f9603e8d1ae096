// Package servertest is what the protocol servers' tests share: a server
// served on 127.0.0.1:0 for the length of one test, golden transcripts kept
// in testdata/ and rewritten with -update, a lab CA and its server
// certificates, and external clients (swaks,
// openssl, curl, python3) run with a deadline.
package servertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/certs/certstest"
	"github.com/exsim/exsim/internal/golden"
	"github.com/exsim/exsim/internal/loopback"
)

// Server is what every protocol server in servers/ is.
type Server interface {
	Serve(net.Listener) error
	Close() error
}

// Listen returns a TCP listener on 127.0.0.1:0, closed when the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	return loopback.Listen(t)
}

// Serve runs s.Serve(l) in the background until the test ends; then it
// closes s and checks that Close succeeded and Serve returned closed (the
// server's ErrServerClosed).
func Serve(t testing.TB, s Server, l net.Listener, closed error) {
	t.Helper()
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		if err := <-served; !errors.Is(err, closed) {
			t.Errorf("Serve() = %v, want %v", err, closed)
		}
	})
}

// Start serves s on a new 127.0.0.1:0 listener, implicit TLS when cfg is
// set, as Serve does, and returns the listener's address.
func Start(t testing.TB, s Server, cfg *tls.Config, closed error) string {
	t.Helper()
	l := Listen(t)
	addr := l.Addr().String()
	if cfg != nil {
		l = tls.NewListener(l, cfg)
	}
	Serve(t, s, l, closed)
	return addr
}

// ConnDeadline bounds a whole test connection made by Dial, so that a server
// that stops answering fails the test instead of hanging it.
const ConnDeadline = 20 * time.Second

// Dial connects to addr, with TLS when cfg is set (the handshake is done on
// return). The connection has a deadline of ConnDeadline and is closed when
// the test ends.
func Dial(t testing.TB, addr string, cfg *tls.Config) net.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ConnDeadline))
	return c
}

// CA returns a new lab CA of the organization Contoso.
func CA(t testing.TB) *certs.CA {
	t.Helper()
	return certstest.CA(t, "Contoso")
}

// Issue returns the certificate ca issues to the server name at fqdn,
// valid for 127.0.0.1 too, where tests serve.
func Issue(t testing.TB, ca *certs.CA, name, fqdn string) tls.Certificate {
	t.Helper()
	return certstest.Issue(t, ca, certs.Identity{Name: name, FQDN: fqdn, Addresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
}

// Golden fails the test unless got is the content of the file at path;
// with -update it writes got there instead.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	golden.Check(t, path, got)
}

// NeedTool returns the path of an external client, or skips the test when
// it is not installed.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// ToolTimeout bounds one run of an external client.
const ToolTimeout = 30 * time.Second

// Output runs an external client with stdin and returns its standard
// output; a failure fails the test with both outputs.
func Output(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	runTool(t, stdin, &stdout, &stderr, name, args)
	return stdout.String()
}

// CombinedOutput is Output with standard error and standard output in one
// stream, as a user at a terminal sees them.
func CombinedOutput(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	runTool(t, stdin, &out, &out, name, args)
	return out.String()
}

func runTool(t testing.TB, stdin string, stdout, stderr *bytes.Buffer, name string, args []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		if stdout == stderr {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stdout)
		}
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout, stderr)
	}
}
