package loopback

import (
	"io"
	"net"
	"testing"
)

// TestServe: each connection reaches the handler, and is closed when the
// handler returns.
func TestServe(t *testing.T) {
	l := Listen(t)
	Serve(t, l, func(c net.Conn) { c.Write([]byte("hello")) })
	for range 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c) // EOF: the helper closed the connection
		c.Close()
		if err != nil || string(b) != "hello" {
			t.Fatalf("read %q, %v; want hello and EOF", b, err)
		}
	}
}
