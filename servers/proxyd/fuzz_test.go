package proxyd

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
	"github.com/exsim/exsim/internal/socks"
)

func FuzzSOCKS4Request(f *testing.F) {
	fuzzseed.Add(f, socks4Req(netip.MustParseAddrPort("127.0.0.1:25")))
	fuzzseed.Add(f, socks4aReq("mx.fabrikam.com", 25))
	fuzzseed.AddBytes(f,
		"\x04\x02\x00\x19\x7f\x00\x00\x01\x00",
		"\x04\x01\x00\x00\x00\x00\x00\x01\x00\x00",
		"GET / HTTP/1.0\r\n\r\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := readSOCKS4Request(bufio.NewReaderSize(bytes.NewReader(data), readBufferSize))
		if err != nil {
			return
		}
		if r.cmd != socks.CmdConnect || r.port == 0 {
			t.Fatalf("readSOCKS4Request(%q) accepted cmd %d port %d", data, r.cmd, r.port)
		}
		if len(r.user) > socksMaxField || len(r.host) > socksMaxField || strings.ContainsRune(r.host, 0) {
			t.Fatalf("readSOCKS4Request(%q) = %+v, fields out of bounds", data, r)
		}
		if r.dest() == "" {
			t.Fatalf("readSOCKS4Request(%q): empty destination", data)
		}
	})
}

func FuzzSOCKS5Request(f *testing.F) {
	fuzzseed.Add(f, append([]byte{5, 1, 0}, socks5Req(netip.MustParseAddrPort("127.0.0.1:25"))...))
	fuzzseed.Add(f, append([]byte{5, 2, 2, 0}, socks5DomainReq("mx.fabrikam.com", 25)...))
	fuzzseed.AddBytes(f,
		"\x05\x01\x00\x05\x01\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x19",
		"\x05\x00",
		"\x05\x01\x00\x05\x01\x00\x03\x00\x00\x19",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), readBufferSize)
		methods, err := readSOCKS5Greeting(br)
		if err != nil {
			return
		}
		if len(methods) == 0 {
			t.Fatalf("readSOCKS5Greeting(%q) accepted no methods", data)
		}
		r, err := readSOCKS5Request(br)
		if err != nil {
			if se, ok := err.(*socksError); ok && (se.rep == socks.Succeeded && se.msg == "") {
				t.Fatalf("readSOCKS5Request(%q): error without reply code", data)
			}
			return
		}
		if r.cmd != socks.CmdConnect || r.port == 0 || r.host == "" || len(r.host) > 255 {
			t.Fatalf("readSOCKS5Request(%q) = %+v", data, r)
		}
		if reply := socks5Reply(socks.Succeeded, nil); len(reply) != 10 {
			t.Fatalf("socks5Reply length %d, want 10", len(reply))
		}
	})
}

func FuzzHTTPProxyRequest(f *testing.F) {
	fuzzseed.AddBytes(f,
		"CONNECT 127.0.0.1:25 HTTP/1.0\r\n\r\n",
		"POST http://127.0.0.1:25/ HTTP/1.0\r\nHost: 127.0.0.1:25\r\nContent-Length: 6\r\n\r\nQUIT\r\n",
		"GET http://[::1]:8080/a?b HTTP/1.1\r\nProxy-Connection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT [::1]:443 HTTP/1.1\n\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := readHTTPProxyRequest(bufio.NewReaderSize(bytes.NewReader(data), readBufferSize))
		if err != nil {
			if he, ok := err.(*httpError); ok && (he.status < 400 || he.status > 599) {
				t.Fatalf("readHTTPProxyRequest(%q): status %d", data, he.status)
			}
			return
		}
		if r.port == 0 || !validHost(r.host) || len(r.header) > httpMaxHeaders {
			t.Fatalf("readHTTPProxyRequest(%q) = %+v", data, r)
		}
		if r.connect {
			return
		}
		// The forwarded head must itself be a well-formed request head.
		head := r.forwardHead()
		if !bytes.HasPrefix(head, []byte(r.method+" /")) || !bytes.HasSuffix(head, []byte("Connection: close\r\n\r\n")) {
			t.Fatalf("forwardHead of %q = %q", data, head)
		}
		if bytes.Count(head, []byte("\r\n\r\n")) != 1 || bytes.Contains(bytes.ReplaceAll(head, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatalf("forwardHead of %q smuggles lines: %q", data, head)
		}
	})
}

func FuzzTelnetCommand(f *testing.F) {
	fuzzseed.AddBytes(f,
		"127.0.0.1:25\r\n",
		"open 127.0.0.1 25\r\n",
		"cisco\r\ntelnet 127.0.0.1 25\r\n",
		"\xff\xfd\x01\xff\xfa\x18\x01\xff\xf0[::1]:25\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		for {
			line, err := readTelnetLine(br)
			if err != nil {
				return
			}
			if len(line) > telnetMaxLine || strings.ContainsAny(line, "\r\n\x00") {
				t.Fatalf("readTelnetLine(%q) = %q", data, line)
			}
			host, port, err := parseTelnetCommand(line)
			if err == nil && (port == 0 || !validHost(host)) {
				t.Fatalf("parseTelnetCommand(%q) = %q %d", line, host, port)
			}
		}
	})
}
