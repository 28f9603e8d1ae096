package proxyd

import (
	"bufio"
	"io"
	"net"
	"testing"
)

// BenchmarkSOCKS5Tunnel measures one SOCKS5 handshake, onward connection and
// first upstream line per operation: the cost of one open proxy probe on the
// proxy's side.
func BenchmarkSOCKS5Tunnel(b *testing.B) {
	up := startUpstream(b)
	_, addr := startServer(b, Options{Protocol: SOCKS5, Allow: allowOnly(up.addr)})
	req := append([]byte{5, 1, 0}, socks5Req(up.addr)...)
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Write(req)
		br := bufio.NewReader(c)
		if _, err := io.ReadFull(br, make([]byte, 12)); err != nil {
			b.Fatal(err)
		}
		if _, err := br.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkRelayThroughput pushes 1 MiB through an open tunnel and back.
func BenchmarkRelayThroughput(b *testing.B) {
	up := startUpstream(b)
	_, addr := startServer(b, Options{Protocol: SOCKS5, Allow: allowOnly(up.addr)})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.Write(append([]byte{5, 1, 0}, socks5Req(up.addr)...))
	br := bufio.NewReader(c)
	if _, err := io.ReadFull(br, make([]byte, 12)); err != nil {
		b.Fatal(err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	back := make([]byte, len(chunk))
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		errc := make(chan error, 1)
		go func() { _, err := c.Write(chunk); errc <- err }()
		if _, err := io.ReadFull(br, back); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}
