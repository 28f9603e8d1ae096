package senderrep

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/fuzzseed"
)

var target = netip.MustParseAddrPort("127.0.10.1:25")

func reader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), maxLine) }

func ioParser(f func(io.Reader) error) func(*bufio.Reader) error {
	return func(br *bufio.Reader) error { return f(br) }
}

// errKind names the class of a parser error for the tables.
func errKind(err error) string {
	var rf *refusal
	var se *socks5ReplyError
	var he *httpStatusError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &rf):
		return "refusal"
	case errors.As(err, &se):
		return "socks5-reply"
	case errors.As(err, &he):
		return "http-status"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "other: " + err.Error()
}

func TestRequests(t *testing.T) {
	tests := []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"socks4", func() ([]byte, error) { return socks4Request(target) }, "\x04\x01\x00\x19\x7f\x00\x0a\x01\x00"},
		{"socks4 v4-mapped", func() ([]byte, error) {
			return socks4Request(netip.MustParseAddrPort("[::ffff:127.0.10.1]:25"))
		}, "\x04\x01\x00\x19\x7f\x00\x0a\x01\x00"},
		{"socks5 greeting", func() ([]byte, error) { return socks5Greeting(), nil }, "\x05\x01\x00"},
		{"socks5 ipv4", func() ([]byte, error) { return socks5Request(target), nil }, "\x05\x01\x00\x01\x7f\x00\x0a\x01\x00\x19"},
		{"socks5 ipv6", func() ([]byte, error) { return socks5Request(netip.MustParseAddrPort("[::1]:587")), nil },
			"\x05\x01\x00\x04" + strings.Repeat("\x00", 15) + "\x01\x02\x4b"},
	}
	for _, tt := range tests {
		got, err := tt.got()
		if err != nil || string(got) != tt.want {
			t.Errorf("%s request = %q, %v, want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := socks4Request(netip.MustParseAddrPort("[::1]:25")); err == nil {
		t.Errorf("socks4Request([::1]:25) = nil error, want an error")
	}
}

func TestReplyParsers(t *testing.T) {
	readHTTP := func(br *bufio.Reader) error {
		_, err := readHTTPConnectReply(&scanner{br: br, expect: MatchBanner("edge01.contoso.com")})
		return err
	}
	tests := []struct {
		name  string
		parse func(*bufio.Reader) error
		in    string
		want  string
	}{
		{"socks4 granted", ioParser(readSOCKS4Reply), "\x00\x5a\x00\x19\x7f\x00\x00\x01", "ok"},
		{"socks4 granted, VN 4", ioParser(readSOCKS4Reply), "\x04\x5a\x00\x00\x00\x00\x00\x00", "ok"},
		{"socks4 rejected", ioParser(readSOCKS4Reply), "\x00\x5b\x00\x00\x00\x00\x00\x00", "refusal"},
		{"socks4 smtp banner", ioParser(readSOCKS4Reply), "220 mx.fabrikam.com\r\n", "refusal"},
		{"socks4 short", ioParser(readSOCKS4Reply), "\x00\x5a\x00", "eof"},
		{"socks5 no auth", ioParser(readSOCKS5Method), "\x05\x00", "ok"},
		{"socks5 auth required", ioParser(readSOCKS5Method), "\x05\xff", "refusal"},
		{"socks5 user/password", ioParser(readSOCKS5Method), "\x05\x02", "refusal"},
		{"socks5 wrong version", ioParser(readSOCKS5Method), "\x04\x00", "refusal"},
		{"socks5 success ipv4", ioParser(readSOCKS5Reply), "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38", "ok"},
		{"socks5 success ipv6", ioParser(readSOCKS5Reply), "\x05\x00\x00\x04" + strings.Repeat("\x00", 16) + "\x00\x00", "ok"},
		{"socks5 success domain", ioParser(readSOCKS5Reply), "\x05\x00\x00\x03\x04edge\x00\x19", "ok"},
		{"socks5 refused", ioParser(readSOCKS5Reply), "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", "socks5-reply"},
		{"socks5 bad atyp", ioParser(readSOCKS5Reply), "\x05\x00\x00\x09", "refusal"},
		{"socks5 truncated address", ioParser(readSOCKS5Reply), "\x05\x00\x00\x01\x7f", "eof"},
		{"http 200", readHTTP, "HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n", "ok"},
		{"http 403", readHTTP, "HTTP/1.0 403 Forbidden\r\n\r\n", "http-status"},
		{"http garbage", readHTTP, "SSH-2.0-OpenSSH_9.2\r\n", "refusal"},
		{"http endless header", readHTTP, "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", maxHeaderLines+1), "refusal"},
	}
	for _, tt := range tests {
		if got := errKind(tt.parse(reader(tt.in))); got != tt.want {
			t.Errorf("%s: parse(%q) = %s, want %s", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestScanner(t *testing.T) {
	match := MatchBanner("edge01.contoso.com")
	long := strings.Repeat("x", 3*maxLine)
	tests := []struct {
		name     string
		in       string
		found    bool
		wantErr  string
		wantLast string
	}{
		{"banner after proxy chatter", "WinGate>Connecting to host 127.0.10.1...Connected\r\n220 edge01.contoso.com Microsoft ESMTP MAIL Service ready\r\n", true, "ok", "220 edge01.contoso.com Microsoft ESMTP MAIL Service ready"},
		{"banner inside an HTTP response", "HTTP/1.0 200 OK\r\n\r\n220 EDGE01.contoso.com Microsoft ESMTP MAIL Service ready\n", true, "ok", "220 EDGE01.contoso.com Microsoft ESMTP MAIL Service ready"},
		{"banner cut by EOF", "220 edge01.contoso.com Microsoft", true, "ok", "220 edge01.contoso.com Microsoft"},
		{"another server's banner", "220 mx.fabrikam.com ESMTP\r\n", false, "eof", "220 mx.fabrikam.com ESMTP"},
		{"banner after a long line", long + "\n220 edge01.contoso.com ready\r\n", true, "ok", "220 edge01.contoso.com ready"},
		{"no newline for ever", strings.Repeat("x", maxScan+2*maxLine), false, "refusal", ""},
		{"too much chatter", strings.Repeat("hello\r\n", maxScan/7+10) + "220 edge01.contoso.com\r\n", false, "refusal", "hello"},
	}
	for _, tt := range tests {
		s := &scanner{br: reader(tt.in), expect: match}
		found, err := s.untilBanner()
		if found != tt.found || errKind(err) != tt.wantErr || (tt.wantLast != "" && s.last != tt.wantLast) {
			t.Errorf("%s: untilBanner() = %v, %s, last %q; want %v, %s, last %q", tt.name, found, errKind(err), s.last, tt.found, tt.wantErr, tt.wantLast)
		}
	}
}

func TestMatchBanner(t *testing.T) {
	match := MatchBanner("edge01.contoso.com")
	tests := []struct {
		line string
		want bool
	}{
		{"220 edge01.contoso.com Microsoft ESMTP MAIL Service ready at Fri, 5 Aug 2016 16:24:41 -0700", true},
		{"220-edge01.contoso.com Microsoft ESMTP MAIL Service ready", true},
		{"220 EDGE01.CONTOSO.COM", true},
		{"220 edge01.contoso.com.evil.example ESMTP", false},
		{"220 mx.fabrikam.com ESMTP", false},
		{"250 edge01.contoso.com Hello", false},
		{"edge01.contoso.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := match(tt.line); got != tt.want {
			t.Errorf("MatchBanner(edge01.contoso.com)(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

// fakeConn answers every read from r and swallows writes.
type fakeConn struct {
	net.Conn
	r io.Reader
}

func (c fakeConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c fakeConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c fakeConn) SetDeadline(time.Time) error        { return nil }
func (c fakeConn) SetReadDeadline(time.Time) error    { return nil }
func (c fakeConn) Close() error                       { return nil }
func (c fakeConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c fakeConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c fakeConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzProxyReplies feeds arbitrary bytes as a suspected proxy's (or the
// outbound proxy's) answer to every conversation of the tester.
func FuzzProxyReplies(f *testing.F) {
	banner := "220 edge01.contoso.com Microsoft ESMTP MAIL Service ready\r\n"
	fuzzseed.Add(f, []byte("\x00\x5a\x00\x19\x7f\x00\x0a\x01"+banner))
	fuzzseed.Add(f, []byte("\x05\x00\x05\x00\x00\x01\x7f\x00\x0a\x01\x00\x19"+banner))
	fuzzseed.Add(f, []byte("\x05\x00\x05\x00\x00\x03\xff"))
	fuzzseed.Add(f, []byte("WinGate>Connecting to host 127.0.10.1...Connected\r\n"+banner))
	fuzzseed.Add(f, []byte("HTTP/1.1 200 Connection established\r\n\r\n"+banner))
	fuzzseed.Add(f, []byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"))
	fuzzseed.Add(f, []byte(banner))
	match := MatchBanner("edge01.contoso.com")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range Protocols() {
			br := bufio.NewReaderSize(bytes.NewReader(data), maxLine)
			s := &scanner{br: br, expect: match}
			found, err := conversationFor(p)(fakeConn{r: br}, s, target)
			if found && err != nil {
				t.Fatalf("%s: found with error %v", p, err)
			}
			if found && !bytes.Contains(bytes.ToLower(data), []byte("220 edge01.contoso.com")) && !bytes.Contains(bytes.ToLower(data), []byte("220-edge01.contoso.com")) {
				t.Fatalf("%s: banner found in %q", p, data)
			}
			if s.read > maxScan+maxLine+maxScan {
				t.Fatalf("%s: read %d bytes, budget %d", p, s.read, maxScan)
			}
		}
		for _, typ := range []ProxyType{ProxySOCKS4, ProxySOCKS5, ProxyHTTPConnect} {
			br := bufio.NewReaderSize(bytes.NewReader(data), maxLine)
			err := outboundHandshake(io.Discard, br, typ, target)
			var oe *outboundError
			if errors.As(err, &oe) && oe.outcome == OpenProxy {
				t.Fatalf("outbound %s: outcome %s", typ, oe.outcome)
			}
		}
	})
}
