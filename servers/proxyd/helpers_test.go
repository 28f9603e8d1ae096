package proxyd

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/exsim/exsim/internal/loopback"
	"github.com/exsim/exsim/servers/internal/servertest"
)

// startServer runs a Server on a fresh 127.0.0.1:0 listener and returns it
// and its address; cleanup closes it and checks that Serve ended properly.
func startServer(t testing.TB, o Options) (*Server, string) {
	t.Helper()
	s := NewServer(o)
	return s, servertest.Start(t, s, nil, ErrServerClosed)
}

// upstream is a destination for the proxy: it greets with a line and echoes
// whatever it receives.
type upstream struct {
	addr  netip.AddrPort
	mu    sync.Mutex
	conns int
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conns
}

const upstreamGreeting = "220 upstream ready\r\n"

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	l := servertest.Listen(t)
	u := &upstream{addr: l.Addr().(*net.TCPAddr).AddrPort()}
	loopback.Serve(t, l, func(c net.Conn) {
		u.mu.Lock()
		u.conns++
		u.mu.Unlock()
		io.WriteString(c, upstreamGreeting)
		io.Copy(c, c)
	})
	return u
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t testing.TB) netip.AddrPort {
	t.Helper()
	l := servertest.Listen(t)
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	return ap
}

// allowOnly is a destination policy that lets through allowed only.
func allowOnly(allowed ...netip.AddrPort) func(netip.AddrPort) bool {
	return func(ap netip.AddrPort) bool { return slices.Contains(allowed, ap) }
}

func dial(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := servertest.Dial(t, addr, nil)
	return c, bufio.NewReader(c)
}

func readN(t testing.TB, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func readLineT(t testing.TB, br *bufio.Reader) string {
	t.Helper()
	s, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read line: %v (got %q)", err, s)
	}
	return s
}

// expectEOF checks that the server closes the connection.
func expectEOF(t testing.TB, r io.Reader) {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.EOF) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server did not close the connection (read %q)", b)
		}
	}
}
