package loopback

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
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

// TestServeEndsBlockedHandlers: a handler blocked reading a connection the
// client keeps open ends when the test does: Serve closes the connection.
func TestServeEndsBlockedHandlers(t *testing.T) {
	started, ended := make(chan struct{}), make(chan error, 1)
	var client net.Conn
	t.Run("server", func(t *testing.T) {
		l := Listen(t)
		Serve(t, l, func(c net.Conn) {
			close(started)
			_, err := c.Read(make([]byte, 1))
			ended <- err
		})
		var err error
		if client, err = net.Dial("tcp", l.Addr().String()); err != nil {
			t.Fatal(err)
		}
		<-started
	})
	defer client.Close() // open until the server's test has ended
	if err := <-ended; !errors.Is(err, net.ErrClosed) {
		t.Errorf("the blocked handler's Read = %v, want the error of a connection Serve closed", err)
	}
}

// TestServeSMTP: the go-smtp server greets on the listener ServeSMTP
// returns, and is closed when the test ends.
func TestServeSMTP(t *testing.T) {
	var addr string
	t.Run("server", func(t *testing.T) {
		srv := smtp.NewServer(nopBackend{})
		srv.Domain = "mx.fabrikam.com"
		addr = ServeSMTP(t, srv).Addr().String()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		greeting, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(greeting, "220 mx.fabrikam.com ") {
			t.Fatalf("greeting %q, %v; want 220 mx.fabrikam.com", greeting, err)
		}
	})
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the test ended", addr)
	}
}

type nopBackend struct{}

func (nopBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return nil, errors.New("no sessions")
}
