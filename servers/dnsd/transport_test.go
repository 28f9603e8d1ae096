package dnsd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exsim/exsim/servers/internal/servertest"
)

// askA checks that the server at addr still answers over network.
func askA(t *testing.T, network, addr string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("ex01.contoso.com.", dns.TypeA)
	r := exchange(t, network, addr, m)
	if got := rrStrings(r.Answer); len(got) != 1 || got[0] != "ex01.contoso.com. A 127.0.20.1" {
		t.Fatalf("after garbage: answer = %q, want ex01.contoso.com. A 127.0.20.1", got)
	}
}

func TestGarbageUDP(t *testing.T) {
	_, addr := startServer(t, testZones(t), Options{})
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	packets := [][]byte{{}, {0}, bytes.Repeat([]byte{0xff}, 12), bytes.Repeat([]byte{0}, 65507)}
	for range 500 {
		p := make([]byte, rng.IntN(600))
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		packets = append(packets, p)
	}
	for _, p := range packets {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	// The flood may overflow the socket buffers, so the probe is retried as
	// a stub resolver would; what matters is that an answer comes.
	m := new(dns.Msg)
	m.SetQuestion("ex01.contoso.com.", dns.TypeA)
	client := &dns.Client{Timeout: 500 * time.Millisecond}
	var r *dns.Msg
	for range 20 {
		if r, _, err = client.Exchange(m, addr); err == nil {
			break
		}
	}
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("after garbage: Exchange() = %v, %v; want one answer", r, err)
	}
	askA(t, "tcp", addr)
}

func TestGarbageTCP(t *testing.T) {
	_, addr := startServer(t, testZones(t), Options{ReadTimeout: 200 * time.Millisecond})
	tests := []struct {
		name string
		data []byte
	}{
		{"zero length", []byte{0, 0}},
		{"short message", []byte{0, 3, 1, 2, 3}},
		{"unframed text", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"response message", append([]byte{0, 12}, header(1, 0x8000, 0)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := servertest.Dial(t, addr, nil)
			if _, err := c.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			// The server closes the stream: nothing to read but EOF.
			expectClosed(t, c, fmt.Sprintf("after %q", tc.data))
			askA(t, "tcp", addr)
		})
	}
}

// readTCPMsg reads one length-prefixed DNS message (RFC 1035 section 4.2.2).
func readTCPMsg(c net.Conn) (*dns.Msg, error) { return (&dns.Conn{Conn: c}).ReadMsg() }

func frame(t *testing.T, m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

// askTCP sends q on c and reads one answer.
func askTCP(t *testing.T, c net.Conn, q *dns.Msg) {
	t.Helper()
	if _, err := c.Write(frame(t, q)); err != nil {
		t.Fatal(err)
	}
	if _, err := readTCPMsg(c); err != nil {
		t.Fatal(err)
	}
}

// expectClosed checks that the server closes c without sending anything more.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := io.Copy(io.Discard, c); n != 0 || err != nil {
		t.Errorf("%s: read %d bytes, err %v, want the server to close the connection", what, n, err)
	}
}

func TestTCPPipelined(t *testing.T) {
	_, addr := startServer(t, testZones(t), Options{})
	c := servertest.Dial(t, addr, nil)
	var all []byte
	names := []string{"ex01.contoso.com.", "ex02.contoso.com.", "big.contoso.com."}
	for i, n := range names {
		m := new(dns.Msg)
		m.SetQuestion(n, dns.TypeA)
		m.Id = uint16(i + 1)
		all = append(all, frame(t, m)...)
	}
	if _, err := c.Write(all); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, n := range names {
		r, err := readTCPMsg(c)
		if err != nil {
			t.Fatalf("reading answer %d: %v", i+1, err)
		}
		if r.Id != uint16(i+1) || r.Question[0].Name != n || len(r.Answer) == 0 {
			t.Errorf("answer %d = id %d %v (%d records), want id %d for %s", i+1, r.Id, r.Question, len(r.Answer), i+1, n)
		}
	}
}

// A silent or slow client loses its connection after the timeouts.
func TestTCPSlowClients(t *testing.T) {
	_, addr := startServer(t, testZones(t), Options{ReadTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})
	q := new(dns.Msg)
	q.SetQuestion("ex01.contoso.com.", dns.TypeA)
	full := frame(t, q)
	tests := []struct {
		name   string
		send   []byte
		answer bool
	}{
		{"silent", nil, false},
		{"half a length", full[:1], false},
		{"half a message", full[:len(full)-3], false},
		{"idle after a query", full, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := servertest.Dial(t, addr, nil)
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if tc.answer {
				if _, err := readTCPMsg(c); err != nil {
					t.Fatalf("answer: %v", err)
				}
			}
			expectClosed(t, c, tc.name)
		})
	}
}

func TestMaxTCPConns(t *testing.T) {
	_, addr := startServer(t, testZones(t), Options{MaxTCPConns: 2})
	q := new(dns.Msg)
	q.SetQuestion("ex01.contoso.com.", dns.TypeA)
	var open []net.Conn
	for range 2 {
		c := servertest.Dial(t, addr, nil)
		// An answer proves the server tracks the connection.
		askTCP(t, c, q)
		open = append(open, c)
	}
	c := servertest.Dial(t, addr, nil)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write(frame(t, q))
	if _, err := readTCPMsg(c); err == nil {
		t.Errorf("third connection with MaxTCPConns 2 answered, want it closed")
	}
	// Closing one frees a slot.
	open[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write(frame(t, q))
		_, err = readTCPMsg(c)
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot freed after closing a connection: %v", err)
		}
	}
}

func TestShutdownClosesIdleConnections(t *testing.T) {
	srv := New(testZones(t), Options{IdleTimeout: time.Hour, ReadTimeout: time.Hour})
	pc, l := listenBoth(t)
	shutdown := serveBoth(t, srv, pc, l)
	c := servertest.Dial(t, l.Addr().String(), nil)
	q := new(dns.Msg)
	q.SetQuestion("ex01.contoso.com.", dns.TypeA)
	askTCP(t, c, q)
	askA(t, "udp", pc.LocalAddr().String())
	shutdown()
	expectClosed(t, c, "idle connection after Shutdown")
	// After Shutdown, Serve refuses new sockets and closes them.
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := srv.ServeTCP(l2); !errors.Is(err, ErrServerClosed) {
		t.Errorf("ServeTCP() after Shutdown = %v, want ErrServerClosed", err)
	}
	if _, err := l2.Accept(); err == nil {
		t.Error("listener handed to a closed server still accepts")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close() after Shutdown = %v", err)
	}
}

func TestCloseWithoutServe(t *testing.T) {
	srv := New(nil, Options{})
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	if err := srv.Serve(pc); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve() after Close = %v, want ErrServerClosed", err)
	}
}

func TestSetZones(t *testing.T) {
	srv, addr := startServer(t, testZones(t), Options{})
	z, err := NewZone("northwind.test", nil, []string{"ns.northwind.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.AddAddr("ns.northwind.test", netip.MustParseAddr("127.0.90.1")); err != nil {
		t.Fatal(err)
	}
	zs, err := NewZoneSet(z)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetZones(zs)
	for _, tc := range []struct {
		name  string
		rcode int
	}{{"ns.northwind.test.", dns.RcodeSuccess}, {"ex01.contoso.com.", dns.RcodeRefused}} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, dns.TypeA)
		if r := exchange(t, "udp", addr, m); r.Rcode != tc.rcode {
			t.Errorf("after SetZones: %s = %s, want %s", tc.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
		}
	}
}

// recorder is a slog.Handler that keeps records with all their attributes.
type recorder struct {
	store *records
	with  []slog.Attr
}

type records struct {
	mu    sync.Mutex
	attrs []map[string]string
	msgs  []string
}

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{}
	for _, a := range r.with {
		m[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	r.store.attrs = append(r.store.attrs, m)
	r.store.msgs = append(r.store.msgs, rec.Message)
	return nil
}
func (r recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return recorder{r.store, append(slices.Clone(r.with), as...)}
}
func (r recorder) WithGroup(string) slog.Handler { return r }

func TestLogging(t *testing.T) {
	rec := &records{}
	_, addr := startServer(t, testZones(t), Options{Name: "DNS01", Logger: slog.New(recorder{store: rec})})
	askA(t, "udp", addr)
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeMX)
	exchange(t, "tcp", addr, m)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.attrs) != 2 {
		t.Fatalf("%d log records, want 2: %v", len(rec.attrs), rec.msgs)
	}
	want := []struct{ proto, code, msg string }{
		{"udp", "NOERROR", "query ex01.contoso.com. IN A"},
		{"tcp", "REFUSED", "query www.example.org. IN MX"},
	}
	for i, w := range want {
		a := rec.attrs[i]
		if a["server"] != "DNS01" || a["proto"] != w.proto || a["code"] != w.code || !strings.HasPrefix(a["remote"], "127.0.0.1:") ||
			rec.msgs[i] != w.msg || len(a) != 4 {
			t.Errorf("log record %d = %q %v, want %q with server DNS01, proto %s, remote, code %s only", i, rec.msgs[i], a, w.msg, w.proto, w.code)
		}
	}
}
