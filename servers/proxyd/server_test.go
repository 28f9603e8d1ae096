package proxyd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/leaktest"
	"github.com/exsim/exsim/internal/socks"
	"github.com/exsim/exsim/servers/internal/servertest"
)

func socks4Req(dst netip.AddrPort) []byte {
	b := []byte{4, 1}
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	a := dst.Addr().As4()
	b = append(b, a[:]...)
	return append(b, 'u', 0)
}

func socks4aReq(host string, port uint16) []byte {
	b := []byte{4, 1}
	b = binary.BigEndian.AppendUint16(b, port)
	b = append(b, 0, 0, 0, 1, 0)
	b = append(b, host...)
	return append(b, 0)
}

func socks5Req(dst netip.AddrPort) []byte {
	b := []byte{5, 1, 0, 1}
	a := dst.Addr().As4()
	b = append(b, a[:]...)
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

func socks5DomainReq(host string, port uint16) []byte {
	b := []byte{5, 1, 0, 3, byte(len(host))}
	b = append(b, host...)
	return binary.BigEndian.AppendUint16(b, port)
}

// handshake is a client conversation up to the point where the tunnel is
// open (ok) or refused; it returns what the refusal looked like.
type handshake func(t *testing.T, c net.Conn, br *bufio.Reader, dst netip.AddrPort) (ok bool, reply string)

func socks4Handshake(t *testing.T, c net.Conn, br *bufio.Reader, dst netip.AddrPort) (bool, string) {
	c.Write(socks4Req(dst))
	r := readN(t, br, 8)
	return r[1] == 0x5a, fmt.Sprintf("socks4 %#02x", r[1])
}

func socks5Handshake(t *testing.T, c net.Conn, br *bufio.Reader, dst netip.AddrPort) (bool, string) {
	c.Write([]byte{5, 2, 2, 0}) // username/password and no-auth offered
	if m := readN(t, br, 2); !bytes.Equal(m, []byte{5, 0}) {
		t.Fatalf("socks5 method selection = %v, want [5 0]", m)
	}
	c.Write(socks5Req(dst))
	r := readN(t, br, 10)
	return r[1] == 0, fmt.Sprintf("socks5 %#02x", r[1])
}

func wingateHandshake(command string) handshake {
	return func(t *testing.T, c net.Conn, br *bufio.Reader, dst netip.AddrPort) (bool, string) {
		if p := readN(t, br, len(wingatePrompt)); string(p) != wingatePrompt {
			t.Fatalf("prompt = %q, want %q", p, wingatePrompt)
		}
		fmt.Fprintf(c, command+"\r\n", dst.Addr(), dst.Port())
		line := readLineT(t, br)
		return strings.HasSuffix(line, "...Connected\r\n"), strings.TrimSpace(line)
	}
}

func httpConnectHandshake(t *testing.T, c net.Conn, br *bufio.Reader, dst netip.AddrPort) (bool, string) {
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", dst, dst)
	status := readLineT(t, br)
	for readLineT(t, br) != "\r\n" {
	}
	return strings.HasPrefix(status, "HTTP/1.1 200 "), strings.TrimSpace(status)
}

func TestRelayEveryProtocol(t *testing.T) {
	up := startUpstream(t)
	tests := []struct {
		name  string
		proto Protocol
		hs    handshake
	}{
		{"socks4", SOCKS4, socks4Handshake},
		{"socks4 on socks", SOCKS, socks4Handshake},
		{"socks5", SOCKS5, socks5Handshake},
		{"socks5 on socks", SOCKS, socks5Handshake},
		{"wingate host:port", Wingate, wingateHandshake("%s:%d")},
		{"wingate host port", Wingate, wingateHandshake("%s %d")},
		{"telnet open", Wingate, wingateHandshake("open %s %d")},
		{"cisco telnet", Wingate, wingateHandshake("telnet %s %d")},
		{"http connect", HTTP, httpConnectHandshake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startServer(t, Options{Protocol: tt.proto, Allow: allowOnly(up.addr)})
			c, br := dial(t, addr)
			if ok, reply := tt.hs(t, c, br, up.addr); !ok {
				t.Fatalf("handshake refused: %s", reply)
			}
			if got := readLineT(t, br); got != upstreamGreeting {
				t.Fatalf("greeting through proxy = %q, want %q", got, upstreamGreeting)
			}
			io.WriteString(c, "ping\r\n")
			if got := readLineT(t, br); got != "ping\r\n" {
				t.Fatalf("echo through proxy = %q, want %q", got, "ping\r\n")
			}
		})
	}
}

func TestRefusalEveryProtocol(t *testing.T) {
	up := startUpstream(t)
	closed := closedPort(t)
	tests := []struct {
		name  string
		proto Protocol
		hs    handshake
		dst   netip.AddrPort
		allow func(netip.AddrPort) bool
		want  string
	}{
		{"socks4 denied", SOCKS4, socks4Handshake, up.addr, nil, "socks4 0x5b"},
		{"socks4 refused", SOCKS, socks4Handshake, closed, allowOnly(closed), "socks4 0x5b"},
		{"socks5 denied", SOCKS5, socks5Handshake, up.addr, allowOnly(closed), "socks5 0x02"},
		{"socks5 refused", SOCKS, socks5Handshake, closed, allowOnly(closed), "socks5 0x05"},
		{"wingate denied", Wingate, wingateHandshake("%s:%d"), up.addr, nil, "Connecting to host 127.0.0.1...Access denied"},
		{"wingate refused", Wingate, wingateHandshake("%s %d"), closed, allowOnly(closed), "Connecting to host 127.0.0.1...Connection refused"},
		{"http denied", HTTP, httpConnectHandshake, up.addr, nil, "HTTP/1.1 403 Forbidden"},
		{"http refused", HTTP, httpConnectHandshake, closed, allowOnly(closed), "HTTP/1.1 503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startServer(t, Options{Protocol: tt.proto, Allow: tt.allow})
			c, br := dial(t, addr)
			ok, reply := tt.hs(t, c, br, tt.dst)
			if ok || reply != tt.want {
				t.Fatalf("handshake(%v) = %v %q, want refusal %q", tt.dst, ok, reply, tt.want)
			}
		})
	}
	if n := up.count(); n != 0 {
		t.Errorf("upstream connections = %d, want 0 (denied destinations must not be dialled)", n)
	}
}

func TestHTTPForwardPost(t *testing.T) {
	up := startUpstream(t)
	_, addr := startServer(t, Options{Protocol: HTTP, Allow: allowOnly(up.addr)})
	c, br := dial(t, addr)
	body := "QUIT\r\n"
	fmt.Fprintf(c, "POST http://%s/x?y=1 HTTP/1.0\r\nHost: %s\r\nProxy-Connection: keep-alive\r\nContent-Length: %d\r\n\r\n%s", up.addr, up.addr, len(body), body)
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	// The upstream greets, then echoes the forwarded request.
	want := upstreamGreeting + fmt.Sprintf("POST /x?y=1 HTTP/1.0\r\nHost: %s\r\nContent-Length: 6\r\nConnection: close\r\n\r\nQUIT\r\n", up.addr)
	if string(got) != want {
		t.Fatalf("POST through proxy returned\n%q\nwant\n%q", got, want)
	}
}

func TestResolve(t *testing.T) {
	up := startUpstream(t)
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "mx.fabrikam.com" {
			return []netip.Addr{up.addr.Addr()}, nil
		}
		return nil, errors.New("no such host")
	}
	tests := []struct {
		name    string
		resolve func(context.Context, string) ([]netip.Addr, error)
		host    string
		want    byte
	}{
		{"no resolver", nil, "mx.fabrikam.com", socks.HostUnreachable},
		{"unknown name", resolve, "other.example", socks.HostUnreachable},
		{"lab name", resolve, "mx.fabrikam.com", socks.Succeeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startServer(t, Options{Protocol: SOCKS5, Allow: allowOnly(up.addr), Resolve: tt.resolve})
			c, br := dial(t, addr)
			c.Write([]byte{5, 1, 0})
			readN(t, br, 2)
			c.Write(socks5DomainReq(tt.host, up.addr.Port()))
			if r := readN(t, br, 10); r[1] != tt.want {
				t.Fatalf("SOCKS5 CONNECT %s = %#02x, want %#02x", tt.host, r[1], tt.want)
			}
		})
	}
	t.Run("socks4a", func(t *testing.T) {
		_, addr := startServer(t, Options{Protocol: SOCKS, Allow: allowOnly(up.addr), Resolve: resolve})
		c, br := dial(t, addr)
		c.Write(socks4aReq("mx.fabrikam.com", up.addr.Port()))
		if r := readN(t, br, 8); r[1] != socks.V4Granted {
			t.Fatalf("SOCKS4a CONNECT = %#02x, want %#02x", r[1], socks.V4Granted)
		}
		if got := readLineT(t, br); got != upstreamGreeting {
			t.Fatalf("greeting = %q, want %q", got, upstreamGreeting)
		}
	})
}

func TestGarbage(t *testing.T) {
	long := strings.Repeat("a", 5000)
	tests := []struct {
		name  string
		proto Protocol
		send  string
		want  string // prefix of everything the server says before closing
	}{
		{"socks: http request", SOCKS, "GET / HTTP/1.0\r\n\r\n", "\x00\x5b\x00\x00\x00\x00\x00\x00"},
		{"socks4: bind", SOCKS4, "\x04\x02\x00\x19\x7f\x00\x00\x01\x00", "\x00\x5b\x00\x00\x00\x00\x00\x00"},
		{"socks4: version 5", SOCKS4, "\x05\x01\x00", "\x00\x5b"},
		{"socks4: overlong userid", SOCKS4, "\x04\x01\x00\x19\x7f\x00\x00\x01" + long, "\x00\x5b"},
		{"socks5: no methods", SOCKS5, "\x05\x00", "\x05\xff"},
		{"socks5: auth only", SOCKS5, "\x05\x01\x02", "\x05\xff"},
		{"socks5: version 4", SOCKS5, "\x04\x01\x00\x19", "\x05\xff"},
		{"socks5: bind", SOCKS5, "\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x19", "\x05\x00\x05\x07"},
		{"socks5: bad address type", SOCKS5, "\x05\x01\x00\x05\x01\x00\x09", "\x05\x00\x05\x08"},
		{"socks5: port 0", SOCKS5, "\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x00", "\x05\x00\x05\x01"},
		{"wingate: three bad commands", Wingate, "x\r\nfoo bar baz qux\r\nhost:0\r\n", "WinGate>Error: invalid destination \"x\"\r\nWinGate>Error: too many arguments\r\nWinGate>Error: invalid port \"0\"\r\nToo many errors"},
		{"wingate: overlong line", Wingate, long + "\r\n", "WinGate>\r\nError: line too long\r\n"},
		{"wingate: telnet negotiation then quit", Wingate, "\xff\xfd\x01\xff\xfa\x18\x01\xff\xf0quit\r\n", "WinGate>"},
		{"http: origin-form", HTTP, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"http: not http", HTTP, "\x05\x01\x00\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"http: https target", HTTP, "GET https://127.0.0.1/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"http: version", HTTP, "GET http://127.0.0.1/ HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported\r\n"},
		{"http: long request line", HTTP, "GET http://127.0.0.1/" + long + " HTTP/1.1\r\n\r\n", "HTTP/1.1 414 Request URI Too Long\r\n"},
		{"http: long header", HTTP, "GET http://127.0.0.1/ HTTP/1.1\r\nX: " + long + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
		{"http: too many headers", HTTP, "GET http://127.0.0.1/ HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", 101) + "\r\n", "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
		{"http: obs-fold", HTTP, "GET http://127.0.0.1/ HTTP/1.1\r\nX: y\r\n z\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"http: connect without port", HTTP, "CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startServer(t, Options{Protocol: tt.proto, Allow: func(netip.AddrPort) bool { return true }, HandshakeTimeout: 5 * time.Second})
			c, br := dial(t, addr)
			go io.WriteString(c, tt.send) // the server may stop reading early
			got, err := io.ReadAll(br)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("server did not close after garbage; said %q", got)
			}
			if !strings.HasPrefix(string(got), tt.want) {
				t.Fatalf("reply to %q = %q, want prefix %q", tt.send[:min(len(tt.send), 40)], got, tt.want)
			}
		})
	}
}

func TestSlowClientTimesOut(t *testing.T) {
	for _, p := range []Protocol{SOCKS, SOCKS4, SOCKS5, Wingate, HTTP} {
		t.Run(string(p), func(t *testing.T) {
			_, addr := startServer(t, Options{Protocol: p, HandshakeTimeout: 100 * time.Millisecond})
			c, br := dial(t, addr)
			io.WriteString(c, "\x05") // half a greeting, then nothing
			expectEOF(t, br)
		})
	}
}

func TestIdleRelayCloses(t *testing.T) {
	up := startUpstream(t)
	_, addr := startServer(t, Options{Protocol: SOCKS5, Allow: allowOnly(up.addr), IdleTimeout: 100 * time.Millisecond})
	c, br := dial(t, addr)
	socks5Handshake(t, c, br, up.addr)
	readLineT(t, br)
	expectEOF(t, br)
}

func TestMaxConns(t *testing.T) {
	_, addr := startServer(t, Options{Protocol: Wingate, MaxConns: 1})
	_, br1 := dial(t, addr)
	readN(t, br1, len(wingatePrompt)) // the one slot is taken
	_, br2 := dial(t, addr)
	if b, _ := io.ReadAll(br2); len(b) != 0 {
		t.Fatalf("second connection over MaxConns got %q, want a close", b)
	}
}

func TestShutdownAndClose(t *testing.T) {
	before := runtime.NumGoroutine()
	up := startUpstream(t)
	l := servertest.Listen(t)
	s := NewServer(Options{Protocol: SOCKS5, Allow: allowOnly(up.addr)})
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	// An open tunnel keeps Shutdown waiting until its context ends.
	c, br := dial(t, l.Addr().String())
	socks5Handshake(t, c, br, up.addr)
	readLineT(t, br)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown() with an open tunnel = %v, want DeadlineExceeded", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve() = %v, want ErrServerClosed", err)
	}
	expectEOF(t, br) // the tunnel was closed at the deadline
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve() after Shutdown = %v, want ErrServerClosed", err)
	}
	s.Close()
	c.Close()
	leaktest.WaitGoroutines(t, before+1) // the upstream's accept loop remains until cleanup
}

func TestUnknownProtocol(t *testing.T) {
	l := servertest.Listen(t)
	defer l.Close()
	if err := NewServer(Options{Protocol: "gopher"}).Serve(l); err == nil {
		t.Fatal("Serve() with an unknown protocol = nil, want an error")
	}
}
