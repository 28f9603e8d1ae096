package probe

import (
	"bytes"
	"context"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// scriptDialer connects every dial to a fake peer over a socket pair (with
// kernel buffers, so peer and check never block on each other's writes)
// that sends the chunks of a script: the first on connect, the next after
// each read from the client, then hangs up.
type scriptDialer struct{ chunks [][]byte }

func (d scriptDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server, err := socketPair()
	if err != nil {
		return nil, err
	}
	go func() {
		defer server.Close()
		server.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		for i, c := range d.chunks {
			if i > 0 {
				if _, err := server.Read(buf); err != nil {
					return
				}
			}
			if _, err := server.Write(c); err != nil {
				return
			}
		}
	}()
	return client, nil
}

func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		conns[i] = c
	}
	return conns[0], conns[1], nil
}

var fuzzChecks = []struct {
	check     Check
	transport string
}{
	{CheckSMTPStartTLS, "tcp"}, {CheckSMTP, "tcp"}, {CheckHTTP, "tcp"}, {CheckHTTPS, "tcp"},
	{CheckIMAP, "tcp"}, {CheckIMAPS, "tcp"}, {CheckPOP3, "tcp"}, {CheckPOP3S, "tcp"},
	{CheckLDAPS, "tcp"}, {CheckDNS, "tcp"}, {CheckDNS, "udp"}, {CheckTCP, "tcp"},
}

// FuzzPeerReplies feeds what a peer says (chunks separated by 0xFE) to
// every check: whatever answers, a check must end with one of the outcomes,
// never a panic, a hang or an error.
func FuzzPeerReplies(f *testing.F) {
	sep := []byte{0xFE}
	join := func(parts ...string) []byte {
		var b [][]byte
		for _, p := range parts {
			b = append(b, []byte(p))
		}
		return bytes.Join(b, sep)
	}
	m := new(dns.Msg)
	m.SetQuestion("fabrikam.com.", dns.TypeMX)
	m.Response, m.Authoritative = true, true
	wire, _ := m.Pack()
	seeds := []struct {
		checks []Check
		script []byte
	}{
		{[]Check{CheckSMTPStartTLS, CheckSMTP}, join("220 ex01.contoso.com Microsoft ESMTP MAIL Service ready at x\r\n",
			"250-ex01.contoso.com Hello [127.0.0.1]\r\n250-STARTTLS\r\n250 XRDST\r\n", "220 2.0.0 SMTP server ready\r\n")},
		{[]Check{CheckSMTPStartTLS}, join("220-ex01.contoso.com\r\n220 more\r\n", "250 ok\r\n")},
		{[]Check{CheckIMAP, CheckIMAPS}, join("* OK The Microsoft Exchange IMAP4 service is ready.\r\n",
			"* CAPABILITY IMAP4rev1 STARTTLS\r\np1 OK done\r\n", "p2 OK go\r\n")},
		{[]Check{CheckPOP3, CheckPOP3S}, join("+OK The Microsoft Exchange POP3 service is ready.\r\n", "+OK\r\nSTLS\r\n.\r\n", "+OK\r\n")},
		{[]Check{CheckHTTP, CheckHTTPS}, join("HTTP/1.1 302 Found\r\nX-FEServer: EX01\r\nContent-Length: 0\r\n\r\n")},
		{[]Check{CheckDNS}, append([]byte{0, byte(len(wire))}, wire...)},
		{[]Check{CheckLDAPS, CheckHTTPS}, []byte("\x16\x03\x01\x00\x05hello")},
		{[]Check{CheckTCP, CheckSMTP}, nil},
	}
	for _, sd := range seeds {
		for i, fc := range fuzzChecks {
			if slices.Contains(sd.checks, fc.check) {
				fuzzseed.Add(f, uint8(i), sd.script)
			}
		}
	}
	fuzzseed.Add(f, uint8(10), wire) // DNS over UDP
	topo, err := builtinTopology("contoso")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, script []byte) {
		fc := fuzzChecks[int(which)%len(fuzzChecks)]
		p := &Prober{
			Topology:  topo,
			Timeout:   100 * time.Millisecond,
			DialerFor: func(string) Dialer { return scriptDialer{chunks: bytes.Split(script, sep)} },
		}
		fl := Flow{ID: "fuzz", Source: "EDGE01", Dest: "EX01", Port: 25, Transport: fc.transport,
			Check: fc.check, Expect: ExpectOpen, WantName: "ex01.contoso.com"}
		r := p.Check(context.Background(), fl)
		if r.Error != "" || !slices.Contains(Outcomes, r.Outcome) {
			t.Fatalf("Check(%s) = outcome %q, error %q; want one of the outcomes", fc.check, r.Outcome, r.Error)
		}
		if r.Duration > 2*time.Second { // a hang, not a slow machine: the timeout is 100 ms
			t.Fatalf("Check(%s) took %v with a 100ms timeout", fc.check, r.Duration)
		}
	})
}
