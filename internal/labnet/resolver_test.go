package labnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exsim/exsim/internal/leaktest"
	"github.com/exsim/exsim/internal/loopback"
	"github.com/exsim/exsim/servers/dnsd"
)

const (
	bigCount  = 100 // A records of big.contoso.com: more than 1232 bytes
	manyCount = 80  // MX records of many.contoso.com: more than 1232 bytes
)

func testZones(t *testing.T) *dnsd.ZoneSet {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ns := []string{"dns01.contoso.com"}
	hosts := []dnsd.Host{
		{Name: "edge01.contoso.com", Addr: netip.MustParseAddr("127.0.10.1")},
		{Name: "ex01.contoso.com", Addr: netip.MustParseAddr("127.0.20.1")},
		{Name: "ex01.contoso.com", Addr: netip.MustParseAddr("fd00:20::1")},
		{Name: "dns01.contoso.com", Addr: netip.MustParseAddr("127.0.20.53")},
		{Name: "mx.fabrikam.com", Addr: netip.MustParseAddr("127.0.30.1")},
		{Name: "implicit.contoso.com", Addr: netip.MustParseAddr("127.0.20.7")},
	}
	zs, err := dnsd.NewZoneSet()
	must(err)
	for _, d := range []string{"contoso.com", "fabrikam.com"} {
		z, err := dnsd.NewZone(d, nil, ns)
		must(err)
		must(zs.Add(z))
	}
	rev, err := dnsd.ReverseZones(hosts, nil, ns)
	must(err)
	must(zs.Add(rev...))
	must(zs.AddHosts(hosts...))
	contoso := zs.Zone("contoso.com")
	must(contoso.AddMX("contoso.com", 10, "edge01.contoso.com"))
	must(zs.Zone("fabrikam.com").AddMX("fabrikam.com", 10, "mx.fabrikam.com"))
	must(contoso.AddText(`
multi    MX    20 b.multi
multi    MX    10 a.multi
multi    MX    10 c.multi
null     MX    0 .
null     A     127.0.20.8
txtonly  TXT   "no address, no MX"
www      CNAME ex01
mxalias  CNAME multi
`))
	for i := range bigCount {
		must(contoso.AddAddr("big.contoso.com", netip.AddrFrom4([4]byte{127, 0, 50, byte(i + 1)})))
	}
	for i := range manyCount {
		must(contoso.AddMX("many.contoso.com", uint16(i), fmt.Sprintf("mx%02d.contoso.com", i)))
	}
	return zs
}

// queryCounter counts the queries a dnsd server logs.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *queryCounter) Handle(context.Context, slog.Record) error {
	c.n.Add(1)
	return nil
}
func (c *queryCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *queryCounter) WithGroup(string) slog.Handler      { return c }

// startDNS runs a lab DNS server on one port of 127.0.0.1, UDP and TCP.
func startDNS(t *testing.T) (netip.AddrPort, *queryCounter) {
	t.Helper()
	count := &queryCounter{}
	srv := dnsd.New(testZones(t), dnsd.Options{Name: "DNS01", Logger: slog.New(count)})
	var (
		pc  net.PacketConn
		l   net.Listener
		err error
	)
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(pc) })
	wg.Go(func() { _ = srv.ServeTCP(l) })
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String()), count
}

// dialLog is a Dial that records every connection it opens.
type dialLog struct {
	mu    sync.Mutex
	dials []string
}

func (d *dialLog) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.dials = append(d.dials, network+" "+address)
	d.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, network, address)
}

func (d *dialLog) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.dials
	d.dials = nil
	slices.Sort(out)
	return out
}

func TestLookups(t *testing.T) {
	srv, _ := startDNS(t)
	dl := &dialLog{}
	r := &Resolver{Servers: []netip.AddrPort{srv}, Dial: dl.dial}
	ctx := context.Background()
	udp, tcp := "udp "+srv.String(), "tcp "+srv.String()

	mxTests := []struct {
		domain string
		want   []MX
		dials  []string
	}{
		{"contoso.com", []MX{{"edge01.contoso.com", 10}}, []string{udp}},
		{"Fabrikam.COM.", []MX{{"mx.fabrikam.com", 10}}, []string{udp}},
		{"implicit.contoso.com", []MX{{"implicit.contoso.com", 0}}, []string{udp, udp, udp}},
		{"mxalias.contoso.com", nil, []string{udp}}, // checked below: the multi set through a CNAME
	}
	for _, tc := range mxTests {
		got, err := r.LookupMX(ctx, tc.domain)
		if err != nil {
			t.Errorf("LookupMX(%q) = %v", tc.domain, err)
			continue
		}
		if tc.want != nil && !slices.Equal(got, tc.want) {
			t.Errorf("LookupMX(%q) = %v, want %v", tc.domain, got, tc.want)
		}
		if d := dl.take(); !slices.Equal(d, tc.dials) {
			t.Errorf("LookupMX(%q) dialled %q, want %q", tc.domain, d, tc.dials)
		}
	}

	// Equal preferences come in random order, but always before higher ones.
	seen := map[string]bool{}
	for range 40 {
		for _, name := range []string{"multi.contoso.com", "mxalias.contoso.com"} {
			got, err := r.LookupMX(ctx, name)
			if err != nil || len(got) != 3 || got[0].Pref != 10 || got[1].Pref != 10 || got[2] != (MX{"b.multi.contoso.com", 20}) {
				t.Fatalf("LookupMX(%s) = %v, %v; want a and c (10) then b (20)", name, got, err)
			}
			seen[got[0].Host] = true
		}
	}
	if !seen["a.multi.contoso.com"] || !seen["c.multi.contoso.com"] {
		t.Errorf("LookupMX(multi) never put one of the preference-10 hosts first: %v", seen)
	}
	dl.take()

	hostTests := []struct {
		name  string
		want  []string
		dials []string
	}{
		{"ex01.contoso.com", []string{"127.0.20.1", "fd00:20::1"}, []string{udp, udp}},
		{"www.contoso.com", []string{"127.0.20.1", "fd00:20::1"}, []string{udp, udp}},
		{"127.0.0.9", []string{"127.0.0.9"}, nil},
		{"fd00::9", []string{"fd00::9"}, nil},
		// Truncated over UDP, retried over TCP.
		{"big.contoso.com", nil, []string{tcp, udp, udp}},
	}
	for _, tc := range hostTests {
		got, err := r.LookupHost(ctx, tc.name)
		if err != nil {
			t.Errorf("LookupHost(%q) = %v", tc.name, err)
			continue
		}
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if tc.want != nil && !slices.Equal(s, tc.want) {
			t.Errorf("LookupHost(%q) = %v, want %v", tc.name, s, tc.want)
		}
		if tc.want == nil && len(got) != bigCount {
			t.Errorf("LookupHost(%q) = %d addresses, want %d", tc.name, len(got), bigCount)
		}
		if d := dl.take(); !slices.Equal(d, tc.dials) {
			t.Errorf("LookupHost(%q) dialled %q, want %q", tc.name, d, tc.dials)
		}
	}

	mxs, err := r.LookupMX(ctx, "many.contoso.com")
	if err != nil || len(mxs) != manyCount || mxs[0].Pref != 0 || mxs[manyCount-1].Pref != manyCount-1 {
		t.Errorf("LookupMX(many) = %d records, %v; want %d sorted", len(mxs), err, manyCount)
	}
	if d := dl.take(); !slices.Equal(d, []string{tcp, udp}) {
		t.Errorf("LookupMX(many) dialled %q, want UDP then the TCP retry", d)
	}

	addrTests := []struct {
		addr string
		want []string
	}{
		{"127.0.20.1", []string{"ex01.contoso.com"}},
		{"::ffff:127.0.30.1", []string{"mx.fabrikam.com"}},
		{"fd00:20::1", []string{"ex01.contoso.com"}},
	}
	for _, tc := range addrTests {
		got, err := r.LookupAddr(ctx, netip.MustParseAddr(tc.addr))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("LookupAddr(%s) = %v, %v; want %v", tc.addr, got, err, tc.want)
		}
	}
}

func TestLookupErrors(t *testing.T) {
	srv, _ := startDNS(t)
	r := &Resolver{Servers: []netip.AddrPort{srv}}
	ctx := context.Background()
	mx := func(name string) func() error {
		return func() error { _, err := r.LookupMX(ctx, name); return err }
	}
	host := func(name string) func() error {
		return func() error { _, err := r.LookupHost(ctx, name); return err }
	}
	tests := []struct {
		name   string
		lookup func() error
		kind   Kind
		text   string
	}{
		{"NXDOMAIN", mx("nosuch.contoso.com"), NotFound, "dns MX nosuch.contoso.com: no such domain"},
		{"no MX, no address", mx("txtonly.contoso.com"), NotFound, "dns MX txtonly.contoso.com: no MX record"},
		{"null MX", mx("null.contoso.com"), NullMX, "dns MX null.contoso.com: domain accepts no mail (null MX)"},
		{"refused", mx("www.example.org"), Refused, "dns MX www.example.org: refused (" + srv.String() + ")"},
		{"host NXDOMAIN", host("nosuch.fabrikam.com"), NotFound, "dns A/AAAA nosuch.fabrikam.com: no such domain"},
		{"host NODATA", host("txtonly.contoso.com"), NotFound, "dns A/AAAA txtonly.contoso.com: no A/AAAA record"},
		{"host refused", host("example.org"), Refused, "dns A example.org: refused"},
		{"PTR missing", func() error { _, err := r.LookupAddr(ctx, netip.MustParseAddr("127.0.20.99")); return err },
			NotFound, "dns PTR 127.0.20.99: no such domain"},
		{"bad name", mx("a..b"), NotFound, "dns MX a..b: not a domain name"},
		{"no servers", func() error { _, err := (&Resolver{}).LookupMX(ctx, "contoso.com"); return err },
			Unreachable, "dns MX contoso.com: unreachable: no DNS server configured"},
	}
	for _, tc := range tests {
		err := tc.lookup()
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: error = %v, want an *Error", tc.name, err)
			continue
		}
		if e.Kind != tc.kind || !strings.HasPrefix(e.Error(), tc.text) {
			t.Errorf("%s: error = %q (%v), want %q (%v)", tc.name, e.Error(), e.Kind, tc.text, tc.kind)
		}
		permanent := tc.kind == NotFound || tc.kind == NullMX
		if e.Temporary() == permanent {
			t.Errorf("%s: Temporary() = %v, want %v", tc.name, e.Temporary(), !permanent)
		}
	}
}

// deadServer is a UDP socket that never answers.
func deadServer(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// closedPort is a UDP port nobody listens on (the kernel answers ICMP port
// unreachable).
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return ap
}

func TestFailover(t *testing.T) {
	live, _ := startDNS(t)
	dead := deadServer(t)
	closed := closedPort(t)
	ctx := context.Background()

	dl := &dialLog{}
	r := &Resolver{Servers: []netip.AddrPort{dead, closed, live}, Dial: dl.dial, Timeout: 200 * time.Millisecond}
	got, err := r.LookupMX(ctx, "contoso.com")
	if err != nil || len(got) != 1 {
		t.Fatalf("LookupMX past a dead and a closed server = %v, %v; want the live server's answer", got, err)
	}
	want := []string{"udp " + dead.String(), "udp " + closed.String(), "udp " + live.String()}
	slices.Sort(want)
	if d := dl.take(); !slices.Equal(d, want) {
		t.Errorf("dialled %q, want %q", d, want)
	}

	// Every server silent: a timeout after Attempts passes.
	r = &Resolver{Servers: []netip.AddrPort{dead}, Dial: dl.dial, Timeout: 100 * time.Millisecond, Attempts: 3}
	_, err = r.LookupMX(ctx, "contoso.com")
	var e *Error
	if !errors.As(err, &e) || e.Kind != Timeout || !e.Timeout() || !e.Temporary() || e.Server != dead {
		t.Errorf("LookupMX(dead server) = %v, want a Timeout *Error naming %v", err, dead)
	}
	if d := dl.take(); len(d) != 3 {
		t.Errorf("dialled %q, want 3 attempts", d)
	}

	// Only a closed port: unreachable, and fast.
	r = &Resolver{Servers: []netip.AddrPort{closed}, Timeout: 10 * time.Second}
	start := time.Now()
	_, err = r.LookupHost(ctx, "ex01.contoso.com")
	if !errors.As(err, &e) || e.Kind != Unreachable || !e.Temporary() {
		t.Errorf("LookupHost(closed port) = %v, want Unreachable", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("LookupHost(closed port) waited for the timeout instead of failing on ICMP")
	}
}

func TestContextCancelled(t *testing.T) {
	dead := deadServer(t)
	r := &Resolver{Servers: []netip.AddrPort{dead}, Timeout: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := r.LookupMX(ctx, "contoso.com")
		errc <- err
	}()
	cancel()
	err := leaktest.Wait(t, errc, 30*time.Second, "LookupMX() after its context was cancelled")
	var e *Error
	if !errors.As(err, &e) || e.Kind != Timeout || !errors.Is(err, context.Canceled) {
		t.Errorf("LookupMX(cancelled) = %v, want Timeout wrapping context.Canceled", err)
	}
}

// With a Dial that refuses, no packet reaches the server: every socket
// goes through Dial.
func TestDialIsTheOnlyWayOut(t *testing.T) {
	srv, count := startDNS(t)
	var calls atomic.Int64
	blocked := errors.New("blocked by fault injection")
	r := &Resolver{
		Servers: []netip.AddrPort{srv},
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			calls.Add(1)
			return nil, blocked
		},
	}
	ctx := context.Background()
	_, err1 := r.LookupMX(ctx, "contoso.com")
	_, err2 := r.LookupHost(ctx, "big.contoso.com")
	_, err3 := r.LookupAddr(ctx, netip.MustParseAddr("127.0.20.1"))
	for i, err := range []error{err1, err2, err3} {
		var e *Error
		if !errors.As(err, &e) || e.Kind != Unreachable || !errors.Is(err, blocked) {
			t.Errorf("lookup %d = %v, want Unreachable wrapping the Dial error", i+1, err)
		}
	}
	if calls.Load() == 0 || count.n.Load() != 0 {
		t.Errorf("Dial called %d times, server saw %d queries; want Dial used and no query", calls.Load(), count.n.Load())
	}
}

// fakeServer answers each UDP query with what reply returns, in order.
func fakeServer(t *testing.T, reply func(q *dns.Msg) []*dns.Msg) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			for _, m := range reply(q) {
				b, _ := m.Pack()
				_, _ = pc.WriteTo(b, from)
			}
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// mxAnswer answers q with one MX record: preference 5, exchange host.
func mxAnswer(q *dns.Msg, host string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = []dns.RR{&dns.MX{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60},
		Preference: 5, Mx: host}}
	return m
}

func TestBadAnswers(t *testing.T) {
	live, _ := startDNS(t)
	answer := func(q *dns.Msg) *dns.Msg { return mxAnswer(q, "real.contoso.com.") }
	spoofer := fakeServer(t, func(q *dns.Msg) []*dns.Msg {
		wrongID := answer(q)
		wrongID.Id = q.Id + 1
		wrongID.Answer[0].(*dns.MX).Mx = "evil.example."
		wrongQ := answer(q)
		wrongQ.Question[0].Name = "other.contoso.com."
		wrongQ.Answer[0].(*dns.MX).Mx = "evil.example."
		notResponse := answer(q)
		notResponse.Response = false
		notResponse.Answer[0].(*dns.MX).Mx = "evil.example."
		return []*dns.Msg{wrongID, wrongQ, notResponse, answer(q)}
	})
	servfail := fakeServer(t, func(q *dns.Msg) []*dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeServerFailure)
		return []*dns.Msg{m}
	})
	ctx := context.Background()

	r := &Resolver{Servers: []netip.AddrPort{spoofer}}
	got, err := r.LookupMX(ctx, "contoso.com")
	if err != nil || !slices.Equal(got, []MX{{"real.contoso.com", 5}}) {
		t.Errorf("LookupMX(behind forged answers) = %v, %v; want only the matching answer", got, err)
	}

	r = &Resolver{Servers: []netip.AddrPort{servfail, live}}
	got, err = r.LookupMX(ctx, "contoso.com")
	if err != nil || !slices.Equal(got, []MX{{"edge01.contoso.com", 10}}) {
		t.Errorf("LookupMX(SERVFAIL, then live) = %v, %v; want the live server's answer", got, err)
	}

	r = &Resolver{Servers: []netip.AddrPort{servfail}}
	_, err = r.LookupMX(ctx, "contoso.com")
	var e *Error
	if !errors.As(err, &e) || e.Kind != ServerFailure || !e.Temporary() || e.Error() != "dns MX contoso.com: server failure ("+servfail.String()+"): SERVFAIL" {
		t.Errorf("LookupMX(SERVFAIL) = %v, want ServerFailure", err)
	}
}

// truncatingServer answers every UDP query with an empty truncated reply
// (RFC 7766 section 5) and hands each TCP query to tcp.
func truncatingServer(t *testing.T, tcp func(c net.Conn, q *dns.Msg)) netip.AddrPort {
	t.Helper()
	udp := fakeServer(t, func(q *dns.Msg) []*dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Truncated = true
		return []*dns.Msg{m}
	})
	l, err := net.Listen("tcp", udp.String())
	if err != nil {
		t.Skipf("the UDP port is taken over TCP: %v", err)
	}
	loopback.Serve(t, l, func(c net.Conn) {
		if q, err := (&dns.Conn{Conn: c}).ReadMsg(); err == nil {
			tcp(c, q)
		}
	})
	return udp
}

// TestTCPAnswers: the answer over TCP after a truncated one over UDP is
// framed by dns.Conn; a malformed, mismatched or cut answer is a failure
// of that server.
func TestTCPAnswers(t *testing.T) {
	answer := func(q *dns.Msg) *dns.Msg { return mxAnswer(q, "tcp.contoso.com.") }
	tests := []struct {
		name     string
		tcp      func(c net.Conn, q *dns.Msg)
		wantKind Kind // 0: success
	}{
		{"answer", func(c net.Conn, q *dns.Msg) { (&dns.Conn{Conn: c}).WriteMsg(answer(q)) }, 0},
		{"malformed", func(c net.Conn, q *dns.Msg) { c.Write([]byte{0, 5, 1, 2, 3, 4, 5}) }, ServerFailure},
		{"wrong id", func(c net.Conn, q *dns.Msg) {
			m := answer(q)
			m.Id++
			(&dns.Conn{Conn: c}).WriteMsg(m)
		}, ServerFailure},
		{"cut", func(c net.Conn, q *dns.Msg) { c.Write([]byte{0, 100, 1, 2, 3}) }, Unreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := truncatingServer(t, tt.tcp)
			r := &Resolver{Servers: []netip.AddrPort{srv}, Attempts: 1, Timeout: 2 * time.Second}
			got, err := r.LookupMX(context.Background(), "contoso.com")
			if tt.wantKind == 0 {
				if err != nil || !slices.Equal(got, []MX{{"tcp.contoso.com", 5}}) {
					t.Errorf("LookupMX = %v, %v; want the TCP answer", got, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.wantKind {
				t.Errorf("LookupMX = %v, %v; want kind %v", got, err, tt.wantKind)
			}
		})
	}
}
