package senderrep_test

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/leaktest"
	"github.com/exsim/exsim/roles/senderrep"
	"github.com/exsim/exsim/servers/proxyd"
)

// checkAll asserts that every probe of res has outcome want and a detail
// containing detail.
func checkAll(t *testing.T, res senderrep.Result, ports senderrep.PortTable, want senderrep.Outcome, detail func(senderrep.Protocol) string) {
	t.Helper()
	n := 0
	for _, p := range senderrep.Protocols() {
		n += len(ports[p])
	}
	if len(res.Probes) != n {
		t.Fatalf("Test() ran %d probes, want %d: %v", len(res.Probes), n, res.Probes)
	}
	i := 0
	for _, p := range senderrep.Protocols() {
		for _, port := range ports[p] {
			got := res.Probes[i]
			i++
			if got.Protocol != p || got.Port != port {
				t.Errorf("probe %d = %s/%d, want %s/%d", i, got.Protocol, got.Port, p, port)
			}
			if got.Outcome != want {
				t.Errorf("probe %s/%d = %v, want %s", p, port, got, want)
				continue
			}
			if d := detail(p); !strings.Contains(got.Detail, d) {
				t.Errorf("probe %s/%d detail = %q, want it to contain %q", p, port, got.Detail, d)
			}
		}
	}
	if open := want == senderrep.OpenProxy; res.OpenProxy != open {
		t.Errorf("Result.OpenProxy = %v, want %v", res.OpenProxy, open)
	}
}

func same(s string) func(senderrep.Protocol) string {
	return func(senderrep.Protocol) string { return s }
}

// byProtocol is the detail each protocol's probe reports: m's, or other
// for a protocol m does not name.
func byProtocol(m map[senderrep.Protocol]string, other string) func(senderrep.Protocol) string {
	return func(p senderrep.Protocol) string {
		if d, ok := m[p]; ok {
			return d
		}
		return other
	}
}

func TestEveryProbeFindsOpenProxy(t *testing.T) {
	edge := fakeEdge(t)
	ports := openProxySender(t, allowOnly(edge))
	tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Timeout: 10 * time.Second})
	before := runtime.NumGoroutine()
	res := tt.Test(context.Background(), localhost)
	checkAll(t, res, ports, senderrep.OpenProxy, same("banner: 220 edge01.contoso.com Microsoft ESMTP MAIL Service ready"))
	leaktest.WaitGoroutines(t, before)
	if res.Addr != localhost {
		t.Errorf("Result.Addr = %v, want %v", res.Addr, localhost)
	}
	if !strings.HasPrefix(res.Reason(), "open proxy: socks4/") {
		t.Errorf("Result.Reason() = %q, want it to start with %q", res.Reason(), "open proxy: socks4/")
	}
}

func TestNotOpenProxy(t *testing.T) {
	edge := fakeEdge(t)
	t.Run("plain SMTP server", func(t *testing.T) {
		ports := everyProtocolOn(plainSMTP(t))
		tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Timeout: 5 * time.Second})
		checkAll(t, tt.Test(context.Background(), localhost), ports, senderrep.NotProxy, byProtocol(map[senderrep.Protocol]string{
			senderrep.SOCKS4:      "not a socks4 reply",
			senderrep.SOCKS5:      "not a socks5 reply",
			senderrep.HTTPConnect: "not an HTTP reply",
		}, `last line "500 5.5.2 Error: bad syntax"`))
	})
	t.Run("refused port", func(t *testing.T) {
		ports := everyProtocolOn(closedPort(t))
		tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Timeout: 5 * time.Second})
		checkAll(t, tt.Test(context.Background(), localhost), ports, senderrep.Closed, same("connection refused"))
	})
	t.Run("accepts and never answers", func(t *testing.T) {
		ports := everyProtocolOn(silent(t, nil))
		timeout := 300 * time.Millisecond
		tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Timeout: timeout})
		res := tt.Test(context.Background(), localhost)
		checkAll(t, res, ports, senderrep.Filtered, same("connected, no answer within 300ms"))
		for _, p := range res.Probes {
			if p.Duration < timeout || p.Duration > timeout+5*time.Second {
				t.Errorf("probe %s took %v, want the timeout %v", p, p.Duration, timeout)
			}
		}
	})
	t.Run("connect never completes", func(t *testing.T) {
		// Dial is where exsim injects faults; a dropped SYN looks like this.
		drop := func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		ports := everyProtocolOn(edge)
		tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Timeout: 200 * time.Millisecond, Dial: drop})
		checkAll(t, tt.Test(context.Background(), localhost), ports, senderrep.Filtered, same("no answer to connect"))
	})
	t.Run("unreachable", func(t *testing.T) {
		unreachable := func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ENETUNREACH}
		}
		ports := everyProtocolOn(edge)
		tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Dial: unreachable})
		checkAll(t, tt.Test(context.Background(), localhost), ports, senderrep.Error, same("network is unreachable"))
	})
}

func TestProxyRefusesTarget(t *testing.T) {
	edge := fakeEdge(t)
	ports := openProxySender(t, allowOnly(netip.AddrPortFrom(localhost, edge.Port()+1)))
	tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Timeout: time.Second})
	checkAll(t, tt.Test(context.Background(), localhost), ports, senderrep.NotProxy, byProtocol(map[senderrep.Protocol]string{
		senderrep.SOCKS4:      "socks4 request rejected (0x5b)",
		senderrep.SOCKS5:      "socks5 reply 0x02 (connection not allowed by ruleset)",
		senderrep.HTTPConnect: `http reply "HTTP/1.1 403 Forbidden"`,
		senderrep.HTTPPost:    "403 Forbidden: cannot connect to",
	}, "Access denied"))
}

func TestThroughOutboundProxy(t *testing.T) {
	edge := fakeEdge(t)
	ports := openProxySender(t, allowOnly(edge))
	tests := []struct {
		typ   senderrep.ProxyType
		proto proxyd.Protocol
	}{
		{senderrep.ProxySOCKS5, proxyd.SOCKS5},
		{senderrep.ProxySOCKS4, proxyd.SOCKS4},
		{senderrep.ProxyHTTPConnect, proxyd.HTTP},
	}
	for _, tc := range tests {
		t.Run(string(tc.typ), func(t *testing.T) {
			out := serveProxy(t, proxyd.Options{Protocol: tc.proto, Allow: allowLoopback, Name: "PROXY01"}, 1)[0]
			// Only the outbound proxy may be dialled directly.
			var mu sync.Mutex
			var dialled []string
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				mu.Lock()
				dialled = append(dialled, addr)
				mu.Unlock()
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			proxy := &senderrep.ProxyConfig{Type: tc.typ, Name: "127.0.0.1", Port: out}
			tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Timeout: 10 * time.Second, OutboundProxy: proxy, Dial: dial})
			checkAll(t, tt.Test(context.Background(), localhost), ports, senderrep.OpenProxy, same("banner: 220 edge01.contoso.com"))
			for _, a := range dialled {
				if a != proxy.Address() {
					t.Errorf("dialled %s directly, want only the outbound proxy %s", a, proxy.Address())
				}
			}
		})
	}
}

func TestOutboundProxyFailures(t *testing.T) {
	edge := fakeEdge(t)
	closed := closedPort(t)
	ports := everyProtocolOn(closed)
	tests := []struct {
		name   string
		proto  proxyd.Protocol
		typ    senderrep.ProxyType
		allow  func(netip.AddrPort) bool
		want   senderrep.Outcome
		detail string
	}{
		{"socks5 sees a closed port", proxyd.SOCKS5, senderrep.ProxySOCKS5, allowLoopback, senderrep.Closed, "via outbound proxy: socks5 reply 0x05 (connection refused)"},
		{"http sees a closed port", proxyd.HTTP, senderrep.ProxyHTTPConnect, allowLoopback, senderrep.Closed, "via outbound proxy: http reply \"HTTP/1.1 503 Service Unavailable\""},
		{"socks4 cannot tell", proxyd.SOCKS4, senderrep.ProxySOCKS4, allowLoopback, senderrep.Error, "outbound proxy: socks4 request rejected"},
		{"socks5 refuses", proxyd.SOCKS5, senderrep.ProxySOCKS5, nil, senderrep.Error, "outbound proxy: socks5 reply 0x02"},
		{"http refuses", proxyd.HTTP, senderrep.ProxyHTTPConnect, nil, senderrep.Error, "outbound proxy: http reply \"HTTP/1.1 403 Forbidden\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := serveProxy(t, proxyd.Options{Protocol: tc.proto, Allow: tc.allow}, 1)[0]
			proxy := &senderrep.ProxyConfig{Type: tc.typ, Name: "127.0.0.1", Port: out}
			tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Timeout: 5 * time.Second, OutboundProxy: proxy})
			checkAll(t, tt.Test(context.Background(), localhost), ports, tc.want, same(tc.detail))
		})
	}
	t.Run("outbound proxy down", func(t *testing.T) {
		proxy := &senderrep.ProxyConfig{Type: senderrep.ProxySOCKS5, Name: "127.0.0.1", Port: closedPort(t).Port()}
		tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, OutboundProxy: proxy})
		checkAll(t, tt.Test(context.Background(), localhost), ports, senderrep.Error, same("outbound proxy 127.0.0.1:"))
	})
}

func TestCancel(t *testing.T) {
	edge := fakeEdge(t)
	accepted := make(chan struct{}, 16)
	ports := everyProtocolOn(silent(t, accepted))
	tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Timeout: time.Minute})
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan senderrep.Result)
	go func() { done <- tt.Test(ctx, localhost) }()
	for range len(senderrep.Protocols()) {
		<-accepted
	}
	cancel()
	select {
	case res := <-done:
		checkAll(t, res, ports, senderrep.Error, same("canceled"))
		leaktest.WaitGoroutines(t, before)
	case <-time.After(20 * time.Second):
		t.Fatal("Test() did not return after its context was cancelled")
	}
}

func TestConcurrencyBound(t *testing.T) {
	edge := fakeEdge(t)
	ports := openProxySender(t, allowOnly(edge))
	var mu sync.Mutex
	inFlight, peak := 0, 0
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		return &countedConn{Conn: c, done: func() { mu.Lock(); inFlight--; mu.Unlock() }}, nil
	}
	tt := newTester(t, senderrep.Options{Target: edge, Ports: ports, Concurrency: 2, Dial: dial})
	checkAll(t, tt.Test(context.Background(), localhost), ports, senderrep.OpenProxy, same("banner"))
	if peak > 2 {
		t.Errorf("peak probes in flight = %d, want <= Concurrency 2", peak)
	}
}

type countedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

func TestNewTesterValidates(t *testing.T) {
	edge := netip.MustParseAddrPort("127.0.0.1:25")
	match := senderrep.MatchBanner(edgeFQDN)
	tests := []struct {
		name string
		o    senderrep.Options
	}{
		{"no target", senderrep.Options{ExpectBanner: match}},
		{"no banner matcher", senderrep.Options{Target: edge}},
		{"unknown protocol", senderrep.Options{Target: edge, ExpectBanner: match, Ports: senderrep.PortTable{"gopher": {70}}}},
		{"port 0", senderrep.Options{Target: edge, ExpectBanner: match, Ports: senderrep.PortTable{senderrep.SOCKS5: {0}}}},
		{"bad outbound type", senderrep.Options{Target: edge, ExpectBanner: match, OutboundProxy: &senderrep.ProxyConfig{Type: "HttpPost", Name: "proxy", Port: 80}}},
		{"outbound without port", senderrep.Options{Target: edge, ExpectBanner: match, OutboundProxy: &senderrep.ProxyConfig{Type: "Socks5", Name: "proxy"}}},
	}
	for _, tc := range tests {
		if _, err := senderrep.NewTester(tc.o); err == nil {
			t.Errorf("NewTester(%s) = nil error, want an error", tc.name)
		}
	}
}

func TestSOCKS4CannotReachIPv6Target(t *testing.T) {
	ports := senderrep.PortTable{senderrep.SOCKS4: {1080}}
	tt := newTester(t, senderrep.Options{Target: netip.MustParseAddrPort("[::1]:25"), Ports: ports, Dial: func(context.Context, string, string) (net.Conn, error) {
		t.Error("dialled for a probe that cannot be made")
		return nil, syscall.ECONNREFUSED
	}})
	res := tt.Test(context.Background(), localhost)
	if len(res.Probes) != 1 || res.Probes[0].Outcome != senderrep.Error {
		t.Fatalf("Test() = %v, want one error probe", res.Probes)
	}
}

func BenchmarkTestOpenProxy(b *testing.B) {
	edge := fakeEdge(b)
	ports := openProxySender(b, allowOnly(edge))
	tt, err := senderrep.NewTester(senderrep.Options{Target: edge, Ports: ports, ExpectBanner: senderrep.MatchBanner(edgeFQDN)})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if res := tt.Test(context.Background(), localhost); !res.OpenProxy {
			b.Fatalf("Test() = %v, want an open proxy", res.Probes)
		}
	}
}
