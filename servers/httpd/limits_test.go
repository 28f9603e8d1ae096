package httpd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/membudget"
)

// limitsServer serves a handler that reads the whole body and reports
// how it ended on errs.
func limitsServer(t *testing.T, l Limits) (addr string, errs chan error) {
	t.Helper()
	errs = make(chan error, 16)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		errs <- err
		if err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := l.Serve(h, nil)
	go srv.Serve(l.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), errs
}

func post(t *testing.T, c net.Conn, body string) (status int, text string) {
	t.Helper()
	fmt.Fprintf(c, "POST /owa/auth.owa HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// TestSlowBodyIsCut: a body that trickles in below MinBytesPerSecond is
// cut with a read timeout long before the client would have finished; a
// body sent at speed is read whole.
func TestSlowBodyIsCut(t *testing.T) {
	addr, errs := limitsServer(t, Limits{HeaderWait: 500 * time.Millisecond, RequestTimeout: time.Minute, MinBytesPerSecond: 240})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Content-Length 100000, then one byte a second (the attack
	// sent one every 10 s): the 100000 bytes would take a day.
	fmt.Fprintf(c, "POST /owa/auth.owa HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	sent := 0
	for ; sent < 10; sent++ {
		select {
		case err := <-errs:
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("slow body ended with %v, want a read timeout", err)
			}
			// A body sent at speed is read whole (its own server: under the
			// race detector a 1 MB write may take longer than this grace).
			addr, _ := limitsServer(t, Limits{RequestTimeout: time.Minute, MinBytesPerSecond: 240})
			fast(t, addr)
			return
		case <-time.After(time.Second):
			c.Write([]byte("x"))
		}
	}
	t.Fatalf("a body arriving at 1 byte/s was still read after %d bytes", sent)
}

func fast(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code, text := post(t, c, strings.Repeat("y", 1<<20)); code != 200 || text != "1048576" {
		t.Fatalf("1 MB body at speed: %d %q, want 200 1048576", code, text)
	}
}

// TestConnectionsPerSource: a source's connection beyond the limit is
// answered 403 (Dynamic IP Restrictions' Forbidden) and closed; once one
// of its connections closes, a new one is served.
func TestConnectionsPerSource(t *testing.T) {
	addr, _ := limitsServer(t, Limits{MaxConnectionsPerSource: 2})
	var open []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if code, _ := post(t, c, "a"); code != 200 {
			t.Fatalf("connection %d within the limit: %d", len(open)+1, code)
		}
		open = append(open, c)
	}
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if code, text := post(t, third, "a"); code != 403 || !strings.Contains(text, "Dynamic IP Restriction") {
		t.Fatalf("third connection from one source: %d %q, want 403", code, text)
	}
	open[0].Close()
	for i := 0; ; i++ { // the server notices the close a moment later
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := post(t, c, "a")
		c.Close()
		if code == 200 {
			break
		}
		if i == 100 {
			t.Fatalf("after a connection closed, a new one still gets %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBodyOverBudget: with the process-wide in-flight budget spent, a
// body cannot be read; afterwards it can.
func TestBodyOverBudget(t *testing.T) {
	addr, errs := limitsServer(t, Limits{})
	func() {
		defer membudget.Memory.SetMax(membudget.DefaultMemory)
		_, used, _ := membudget.Memory.Stats()
		membudget.Memory.SetMax(used)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if code, _ := post(t, c, "hello"); code != 400 {
			t.Errorf("body with the budget spent: %d, want the handler's 400", code)
		}
		if err := <-errs; !errors.Is(err, errBudget) {
			t.Errorf("body read with the budget spent: %v, want errBudget", err)
		}
	}()
	fast(t, addr)
	if _, used, _ := membudget.Memory.Stats(); used != 0 {
		t.Errorf("%d bytes still drawn after the requests ended", used)
	}
}
