package dnsd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The test lab: the built-in contoso topology's names on loopback, one IPv6
// address, and a few shapes that exercise the edges of the answer logic.
var labHosts = []Host{
	{"edge01.contoso.com", netip.MustParseAddr("127.0.10.1")},
	{"ex01.contoso.com", netip.MustParseAddr("127.0.20.1")},
	{"ex01.contoso.com", netip.MustParseAddr("fd00:20::1")},
	{"ex02.contoso.com", netip.MustParseAddr("127.0.20.2")},
	{"dns01.contoso.com", netip.MustParseAddr("127.0.20.53")},
	{"mx.fabrikam.com", netip.MustParseAddr("127.0.30.1")},
}

const (
	bigCount  = 60 // A records of big.contoso.com: 60*16 bytes > 512
	manyCount = 40 // MX targets of many.contoso.com
)

func testZones(t testing.TB) *ZoneSet {
	t.Helper()
	ns := []string{"dns01.contoso.com"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	contoso, err := NewZone("contoso.com", nil, ns)
	must(err)
	fabrikam, err := NewZone("Fabrikam.COM.", nil, ns)
	must(err)
	rev, err := ReverseZones(labHosts, nil, ns)
	must(err)
	// A wider reverse zone that must lose to the /24 ones (longest match).
	wide, err := NewZone("0.127.in-addr.arpa", nil, ns)
	must(err)
	must(wide.AddText("1.40 PTR other.contoso.com.\n"))
	zs, err := NewZoneSet(contoso, fabrikam, wide)
	must(err)
	must(zs.Add(rev...))
	must(zs.AddHosts(labHosts...))
	must(contoso.AddMX("contoso.com", 10, "edge01.contoso.com"))
	must(fabrikam.AddMX("fabrikam.com", 10, "mx.fabrikam.com"))
	must(contoso.AddAddr("autodiscover.contoso.com", netip.MustParseAddr("127.0.20.1")))
	must(contoso.AddAddr("mail.contoso.com", netip.MustParseAddr("127.0.20.1")))
	must(contoso.AddText(`
www       CNAME mail
ext       CNAME www.example.org.
loop1     CNAME loop2
loop2     CNAME loop1
a.b.deep  TXT   "an empty non-terminal lives above me"
null      MX    0 .
null      A     127.0.20.99
`))
	for i := range bigCount {
		must(contoso.AddAddr("big.contoso.com", netip.AddrFrom4([4]byte{127, 0, 50, byte(i + 1)})))
	}
	for i := range manyCount {
		host := fmt.Sprintf("mx%02d.contoso.com", i)
		must(contoso.AddMX("many.contoso.com", uint16(i), host))
		must(contoso.AddAddr(host, netip.AddrFrom4([4]byte{127, 0, 60, byte(i + 1)})))
	}
	return zs
}

// startServer runs a Server over UDP and TCP on 127.0.0.1 and returns the
// address both listen on.
func startServer(t testing.TB, zs *ZoneSet, opts Options) (*Server, string) {
	t.Helper()
	srv := New(zs, opts)
	pc, l := listenBoth(t)
	t.Cleanup(serveBoth(t, srv, pc, l))
	return srv, pc.LocalAddr().String()
}

// listenBoth opens a UDP socket and a TCP listener on one free port of
// 127.0.0.1.
func listenBoth(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	var (
		pc  net.PacketConn
		l   net.Listener
		err error
	)
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close()
	}
	t.Fatal(err)
	return nil, nil
}

// serveBoth serves pc and l with srv; the function it returns shuts srv
// down and checks that both Serve calls return ErrServerClosed.
func serveBoth(t testing.TB, srv *Server, pc net.PacketConn, l net.Listener) (shutdown func()) {
	udpDone := make(chan error, 1)
	tcpDone := make(chan error, 1)
	go func() { udpDone <- srv.Serve(pc) }()
	go func() { tcpDone <- srv.ServeTCP(l) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v, want nil", err)
		}
		for _, ch := range []chan error{udpDone, tcpDone} {
			if err := <-ch; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve() = %v, want ErrServerClosed", err)
			}
		}
	}
}

// rrStrings renders records as "name TYPE rdata" (no TTL or class).
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		f := strings.SplitN(rr.String(), "\t", 5)
		out = append(out, strings.Join([]string{f[0], f[3], f[4]}, " "))
	}
	return out
}
