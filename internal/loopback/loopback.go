// Package loopback runs the small servers tests stand up on a loopback
// listener: every connection handed to a handler of the test in a goroutine
// of its own, and nothing left running when the test ends.
package loopback

import (
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// Serve accepts connections on l until the test ends and runs handle for
// each in a goroutine of its own, closing the connection when handle
// returns. When the test ends it closes l and every connection still open
// (which ends a handler blocked on it), and waits for the handlers.
func Serve(t testing.TB, l net.Listener, handle func(net.Conn)) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open = map[net.Conn]bool{}
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					c.Close()
				}()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// Listen returns a TCP listener on 127.0.0.1 and a port the system picks,
// closed when the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// ServeSMTP runs srv, an emersion go-smtp server (the plain MTA tests send
// to), on a Listen listener until the test ends, and returns the listener.
func ServeSMTP(t testing.TB, srv *smtp.Server) net.Listener {
	t.Helper()
	l := Listen(t)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l
}
