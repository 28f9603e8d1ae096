package serve

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/leaktest"
	"github.com/exsim/exsim/servers/internal/serve/servetest"
	"github.com/exsim/exsim/servers/internal/servertest"
)

var errTestClosed = errors.New("test: server closed")

// start serves l with handle in the background; the returned channel
// receives Serve's result.
func start(lc *Lifecycle, l net.Listener, handle func(net.Conn)) <-chan error {
	served := make(chan error, 1)
	go func() { served <- lc.Serve(l, handle) }()
	return served
}

func dial(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	return servertest.Dial(t, l.Addr().String(), nil)
}

func wantServed(t *testing.T, served <-chan error, want error) {
	t.Helper()
	if err := leaktest.Wait(t, served, 5*time.Second, "Serve()"); !errors.Is(err, want) {
		t.Errorf("Serve() = %v, want %v", err, want)
	}
}

// blocking is a handler that says hello, reports its connection on started
// and returns when release closes.
func blocking(started chan<- net.Conn, release <-chan struct{}) func(net.Conn) {
	return func(c net.Conn) {
		c.Write([]byte("hello\n"))
		started <- c
		<-release
	}
}

func TestShutdownWaitsForActiveConnection(t *testing.T) {
	lc := New(Options{Name: "test", Closed: errTestClosed})
	l := servertest.Listen(t)
	started := make(chan net.Conn, 1)
	release := make(chan struct{})
	served := start(lc, l, blocking(started, release))
	c := dial(t, l)
	<-started

	shut := make(chan error, 1)
	go func() { shut <- lc.Shutdown(context.Background()) }()
	wantServed(t, served, errTestClosed)
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Error("dial after Shutdown began succeeded; the listener is still open")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown() = %v while a connection was still being handled", err)
	case <-time.After(100 * time.Millisecond):
	}
	if lc.Context().Err() != nil {
		t.Error("Context canceled before the connections ended")
	}
	close(release)
	if err := leaktest.Wait(t, shut, 5*time.Second, "Shutdown() after the connection ended"); err != nil {
		t.Errorf("Shutdown() = %v, want nil", err)
	}
	// The Lifecycle closes the connection once its handler returns.
	if b, err := io.ReadAll(c); string(b) != "hello\n" || err != nil {
		t.Errorf("client read %q, %v; want hello and EOF", b, err)
	}
	if lc.Context().Err() == nil {
		t.Error("Context not canceled after Shutdown")
	}
}

func TestCloseForceClosesConnections(t *testing.T) {
	aborted := make(chan struct{})
	lc := New(Options{Name: "test", Closed: errTestClosed, Abort: func() { close(aborted) }})
	l := servertest.Listen(t)
	readErr := make(chan error, 1)
	served := start(lc, l, func(c net.Conn) {
		c.Write([]byte("hello\n"))
		_, err := c.Read(make([]byte, 1)) // the client never writes
		readErr <- err
	})
	c := dial(t, l)
	if _, err := c.Read(make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	if err := lc.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	// Close returned: the handler has returned too.
	select {
	case err := <-readErr:
		if err == nil {
			t.Error("handler's Read succeeded")
		}
	default:
		t.Fatal("Close returned before the handler")
	}
	select {
	case <-aborted:
	default:
		t.Error("Close did not call Options.Abort")
	}
	if lc.Context().Err() == nil {
		t.Error("Context not canceled by Close")
	}
	wantServed(t, served, errTestClosed)
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("client read %d bytes after Close", n)
	}
}

func TestShutdownContextExpires(t *testing.T) {
	lc := New(Options{Name: "test", Closed: errTestClosed})
	l := servertest.Listen(t)
	running, ended := make(chan struct{}), make(chan struct{})
	start(lc, l, func(c net.Conn) {
		defer close(ended)
		close(running)
		io.Copy(io.Discard, c) // until the connection is closed
	})
	dial(t, l).Write([]byte("x"))
	<-running // the connection is accepted and tracked before Shutdown starts

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begun := time.Now()
	if err := lc.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown() = %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(begun); d < 50*time.Millisecond {
		t.Errorf("Shutdown returned after %v, before its context ended", d)
	}
	select {
	case <-ended:
	default:
		t.Error("Shutdown returned before the force-closed handler")
	}
	if lc.Context().Err() == nil {
		t.Error("Context not canceled when Shutdown's context ended")
	}
}

func TestServeAfterShutdown(t *testing.T) {
	for _, stop := range []struct {
		name string
		f    func(*Lifecycle) error
	}{
		{"Shutdown", func(lc *Lifecycle) error { return lc.Shutdown(context.Background()) }},
		{"Close", (*Lifecycle).Close},
	} {
		t.Run(stop.name, func(t *testing.T) {
			lc := New(Options{Name: "test", Closed: errTestClosed})
			if err := stop.f(lc); err != nil {
				t.Fatalf("%s() = %v", stop.name, err)
			}
			l := servertest.Listen(t)
			called := false
			if err := lc.Serve(l, func(net.Conn) { called = true }); !errors.Is(err, errTestClosed) {
				t.Errorf("Serve() after %s = %v, want %v", stop.name, err, errTestClosed)
			}
			if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept() on the listener = %v, want it closed", err)
			}
			if called {
				t.Error("handler called")
			}
			if lc.Begin() {
				t.Errorf("Begin() after %s = true", stop.name)
			}
			if _, ok := lc.Listen(l); ok {
				t.Errorf("Listen() after %s = true", stop.name)
			}
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if err := lc.ServePacket(pc, func() error { return nil }); !errors.Is(err, errTestClosed) {
				t.Errorf("ServePacket() after %s = %v, want %v", stop.name, err, errTestClosed)
			}
			if _, _, err := pc.ReadFrom(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("ReadFrom() = %v, want the packet socket closed", err)
			}
		})
	}
}

// TestAcceptErrorPolicy: transient accept errors (EMFILE) are waited out,
// a permanent one ends Serve with that error.
func TestAcceptErrorPolicy(t *testing.T) {
	lc := New(Options{Name: "test", Closed: errTestClosed})
	t.Cleanup(func() { lc.Close() })
	l := servertest.Listen(t)
	served := start(lc, servetest.EMFILE(l, 3), func(c net.Conn) { c.Write([]byte("hello\n")) })
	c := dial(t, l)
	if b, err := io.ReadAll(c); string(b) != "hello\n" {
		t.Fatalf("after EMFILE: client read %q, %v; want hello", b, err)
	}

	l.Close() // not by the Lifecycle: a permanent error
	err := leaktest.Wait(t, served, 5*time.Second, "Serve() on a permanent accept error")
	if errors.Is(err, errTestClosed) || !errors.Is(err, net.ErrClosed) || !strings.HasPrefix(err.Error(), "test: accept: ") {
		t.Errorf("Serve() = %v, want test: accept: ... use of closed network connection", err)
	}
}

// TestShutdownEndsAcceptBackoff: a Serve pausing after transient errors
// returns at once on Shutdown.
func TestShutdownEndsAcceptBackoff(t *testing.T) {
	lc := New(Options{Name: "test", Closed: errTestClosed})
	l := servertest.Listen(t)
	served := start(lc, servetest.EMFILE(l, 1<<30), func(net.Conn) {})
	time.Sleep(100 * time.Millisecond) // into the back-off
	if err := lc.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
	wantServed(t, served, errTestClosed)
}

func TestMaxConns(t *testing.T) {
	lc := New(Options{Name: "test", Closed: errTestClosed, MaxConns: 1})
	t.Cleanup(func() { lc.Close() })
	l := servertest.Listen(t)
	started := make(chan net.Conn, 2)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	start(lc, l, blocking(started, release))
	first := dial(t, l)
	<-started
	second := dial(t, l)
	if b, err := io.ReadAll(second); len(b) != 0 {
		t.Errorf("connection over MaxConns read %q, %v; want it closed at once", b, err)
	}
	if n, err := first.Read(make([]byte, 6)); n != 6 {
		t.Errorf("first connection: Read() = %d, %v", n, err)
	}
}

// TestWakeReaders: Shutdown calls Wake until the connections end, and
// WakeReaders ends a read waiting for a client that never writes.
func TestWakeReaders(t *testing.T) {
	var wakes atomic.Int32
	var lc *Lifecycle
	lc = New(Options{Name: "test", Closed: errTestClosed, Wake: func() {
		if wakes.Add(1) >= 3 { // the first calls may come before the read
			lc.WakeReaders()
		}
	}})
	l := servertest.Listen(t)
	reading := make(chan struct{})
	readErr := make(chan error, 1)
	start(lc, l, func(c net.Conn) {
		close(reading)
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	})
	dial(t, l)
	<-reading
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lc.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown() = %v, want the woken connection to end first", err)
	}
	if err := <-readErr; !isTimeout(err) {
		t.Errorf("woken Read() = %v, want a timeout", err)
	}
	if n := wakes.Load(); n < 3 {
		t.Errorf("Wake called %d times, want it repeated until the connection ended", n)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestBeginHoldsShutdown: work counted with Begin delays Shutdown until End.
func TestBeginHoldsShutdown(t *testing.T) {
	lc := New(Options{Name: "test"})
	if !lc.Begin() {
		t.Fatal("Begin() = false on a new Lifecycle")
	}
	l := servertest.Listen(t)
	release, ok := lc.Listen(l)
	if !ok {
		t.Fatal("Listen() = false on a new Lifecycle")
	}
	defer release()
	shut := make(chan error, 1)
	go func() { shut <- lc.Shutdown(context.Background()) }()
	<-lc.Stopping()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept() on a Listen'ed listener after Shutdown = %v, want it closed", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown() = %v before End", err)
	case <-time.After(50 * time.Millisecond):
	}
	lc.End()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
}

// TestServePacket: Shutdown wakes a packet socket's reader; ServePacket then
// returns Options.Closed and closes the socket.
func TestServePacket(t *testing.T) {
	lc := New(Options{Name: "test", Closed: errTestClosed})
	lc.o.Wake = lc.WakeReaders
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reading := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- lc.ServePacket(pc, func() error {
			close(reading)
			_, _, err := pc.ReadFrom(make([]byte, 512))
			return err
		})
	}()
	<-reading
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lc.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
	wantServed(t, served, errTestClosed)
	if _, _, err := pc.ReadFrom(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrom() after ServePacket = %v, want the socket closed", err)
	}
}
