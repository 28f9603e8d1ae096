package senderrep_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/exsim/exsim/internal/loopback"
	"github.com/exsim/exsim/roles/senderrep"
	"github.com/exsim/exsim/servers/proxyd"
)

// The lab of these tests, all on 127.0.0.1 with random ports standing in for
// the well-known ones: a fake Edge SMTP listener printing the Edge's banner,
// and suspected senders of several kinds.

const (
	edgeFQDN   = "edge01.contoso.com"
	edgeBanner = "220 edge01.contoso.com Microsoft ESMTP MAIL Service ready at Fri, 5 Aug 2016 16:24:41 -0700\r\n"
)

var localhost = netip.MustParseAddr("127.0.0.1")

// serveTCP runs handle for every connection of a fresh 127.0.0.1:0 listener.
func serveTCP(t testing.TB, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	l := loopback.Listen(t)
	loopback.Serve(t, l, handle)
	return l.Addr().(*net.TCPAddr).AddrPort()
}

// fakeEdge is the Edge's own SMTP listener: the banner, 500 to anything but
// QUIT.
func fakeEdge(t testing.TB) netip.AddrPort {
	return serveTCP(t, func(c net.Conn) {
		io.WriteString(c, edgeBanner)
		br := bufio.NewReader(io.LimitReader(c, 64<<10))
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.EqualFold(strings.TrimSpace(line), "QUIT") {
				io.WriteString(c, "221 2.0.0 Service closing transmission channel\r\n")
				return
			}
			io.WriteString(c, "500 5.3.3 Unrecognized command\r\n")
		}
	})
}

// plainSMTP is a sender that is no proxy: another server's banner, one reply,
// then it hangs up.
func plainSMTP(t testing.TB) netip.AddrPort {
	return serveTCP(t, func(c net.Conn) {
		io.WriteString(c, "220 mx.fabrikam.com ESMTP Postfix\r\n")
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "500 5.5.2 Error: bad syntax\r\n")
	})
}

// silent accepts and never says anything; accepted reports each connection.
func silent(t testing.TB, accepted chan<- struct{}) netip.AddrPort {
	return serveTCP(t, func(c net.Conn) {
		if accepted != nil {
			accepted <- struct{}{}
		}
		io.Copy(io.Discard, c)
	})
}

func closedPort(t testing.TB) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	return ap
}

// serveProxy runs a proxyd server on n fresh listeners and returns their ports.
func serveProxy(t testing.TB, o proxyd.Options, n int) []uint16 {
	t.Helper()
	s := proxyd.NewServer(o)
	var ports []uint16
	var wg sync.WaitGroup
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).AddrPort().Port())
		wg.Go(func() {
			if err := s.Serve(l); !errors.Is(err, proxyd.ErrServerClosed) {
				t.Errorf("Serve() = %v, want ErrServerClosed", err)
			}
		})
	}
	t.Cleanup(func() {
		s.Close()
		wg.Wait()
	})
	return ports
}

// openProxySender impersonates an open proxy the way the lab Internet server
// does: one SOCKS server on "1081" and "1080", a Wingate prompt on "23", an
// HTTP proxy on "6588", "3128" and "80". It returns the tester's port table
// for it.
func openProxySender(t testing.TB, allow func(netip.AddrPort) bool) senderrep.PortTable {
	t.Helper()
	socks := serveProxy(t, proxyd.Options{Protocol: proxyd.SOCKS, Allow: allow, Name: "INET01"}, 2)
	wingate := serveProxy(t, proxyd.Options{Protocol: proxyd.Wingate, Allow: allow, Name: "INET01"}, 1)
	http := serveProxy(t, proxyd.Options{Protocol: proxyd.HTTP, Allow: allow, Name: "INET01"}, 3)
	return senderrep.PortTable{
		senderrep.SOCKS4:      socks,
		senderrep.SOCKS5:      socks,
		senderrep.Wingate:     wingate,
		senderrep.Telnet:      wingate,
		senderrep.Cisco:       wingate,
		senderrep.HTTPConnect: http,
		senderrep.HTTPPost:    http,
	}
}

// everyProtocolOn tests every protocol on the one port of ap.
func everyProtocolOn(ap netip.AddrPort) senderrep.PortTable {
	t := senderrep.PortTable{}
	for _, p := range senderrep.Protocols() {
		t[p] = []uint16{ap.Port()}
	}
	return t
}

func allowOnly(allowed ...netip.AddrPort) func(netip.AddrPort) bool {
	return func(ap netip.AddrPort) bool { return slices.Contains(allowed, ap) }
}

func allowLoopback(ap netip.AddrPort) bool { return ap.Addr().IsLoopback() }

func newTester(t testing.TB, o senderrep.Options) *senderrep.Tester {
	t.Helper()
	if o.ExpectBanner == nil {
		o.ExpectBanner = senderrep.MatchBanner(edgeFQDN)
	}
	tt, err := senderrep.NewTester(o)
	if err != nil {
		t.Fatalf("NewTester(%+v) = %v", o, err)
	}
	return tt
}
