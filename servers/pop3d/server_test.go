package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/servers/internal/serve/servetest"
	"github.com/exsim/exsim/servers/internal/servertest"
)

func TestShutdownIdleSession(t *testing.T) {
	store := aliceStore()
	addr, srv := startServer(t, testOptions(t, store), true)
	c := greeted(t, addr, true)
	run(t, c, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}, {"DELE 1", l("+OK Marked to be deleted.")}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
	if got := c.line(); got != "-ERR Server Unavailable. 21" {
		t.Errorf("idle session at shutdown got %q", got)
	}
	waitClosed(t, store, "alice")
	if got := store.uids("alice"); len(got) != 3 {
		t.Errorf("uids after shutdown = %v, want nothing deleted", got)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
}

// blockingStore's Open waits for release: a command in flight.
type blockingStore struct {
	*memStore
	opened  chan struct{}
	release chan struct{}
}

func (b blockingStore) Login(ctx context.Context, user, password string) (Maildrop, error) {
	d, err := b.memStore.Login(ctx, user, password)
	if err != nil {
		return nil, err
	}
	return blockingDrop{d.(*memDrop), b}, nil
}

type blockingDrop struct {
	*memDrop
	b blockingStore
}

func (d blockingDrop) Open(ctx context.Context, uid string) (io.ReadCloser, error) {
	close(d.b.opened)
	select {
	case <-d.b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.memDrop.Open(ctx, uid)
}

// retrInFlight logs alice on to a server whose messages open only when
// bs.release closes and sends retr; it returns once the server is opening
// the message.
func retrInFlight(t *testing.T, retr string) (*popClient, *Server, blockingStore) {
	t.Helper()
	bs := blockingStore{aliceStore(), make(chan struct{}), make(chan struct{})}
	o := testOptions(t, nil)
	o.Backend = bs
	addr, srv := startServer(t, o, true)
	c := greeted(t, addr, true)
	run(t, c, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}})
	c.send(retr)
	<-bs.opened
	return c, srv, bs
}

// TestShutdownFinishesCommand: a RETR in flight completes before the
// session is told the server is going away.
func TestShutdownFinishesCommand(t *testing.T) {
	c, srv, bs := retrInFlight(t, "RETR 3")
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	close(bs.release)
	want := []string{"+OK", "Subject: three", "", "no final newline", ".", "-ERR Server Unavailable. 21"}
	for _, w := range want {
		if got := c.line(); got != w {
			t.Fatalf("reply = %q, want %q", got, w)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
}

// TestShutdownDeadline: a session that does not finish in time is closed.
func TestShutdownDeadline(t *testing.T) {
	c, srv, _ := retrInFlight(t, "RETR 1") // never released
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown() = %v, want DeadlineExceeded", err)
	}
	if !c.closed() {
		t.Error("session still open after Shutdown's deadline")
	}
}

func TestServeAfterClose(t *testing.T) {
	srv := NewServer(testOptions(t, newMemStore()))
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	l := servertest.Listen(t)
	defer l.Close()
	if err := srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
}

// popSession runs a whole session without testing.T (for goroutines).
func popSession(addr, user string) error {
	ca, _, _ := lab(nil)
	conn, err := tls.Dial("tcp", addr, ca.ClientTLS("127.0.0.1", nil))
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	io.WriteString(conn, "USER "+user+"\r\nPASS pw\r\nUIDL\r\nQUIT\r\n") // pipelined
	var got []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, strings.TrimSuffix(line, "\r\n"))
	}
	want := []string{"+OK The Microsoft Exchange POP3 service is ready.", "+OK", okLogon, "+OK", "1 " + user + "-1", ".", okQuit}
	if !slices.Equal(got, want) {
		return fmt.Errorf("session of %s = %q, want %q", user, got, want)
	}
	return nil
}

// TestManyClients: concurrent pipelined sessions on one server, each on
// its own maildrop.
func TestManyClients(t *testing.T) {
	store := newMemStore()
	users := make([]string, 50)
	for i := range users {
		users[i] = "user" + itoa(i)
		store.addUser(users[i], "pw", "Subject: "+users[i]+"\r\n\r\nhi\r\n")
	}
	addr, _ := startServer(t, testOptions(t, store), true)
	errs := make(chan error, len(users))
	for _, u := range users {
		go func() { errs <- popSession(addr, u) }()
	}
	for range users {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkSession is a whole clear-text session per iteration (USER, PASS,
// STAT, RETR 1, QUIT), the shape of the Dovecot reference in
// MEASUREMENTS.md.
func BenchmarkSession(b *testing.B) {
	store := newMemStore()
	store.addUser("alice", "pw", "Subject: bench\r\n\r\n"+strings.Repeat("x", 4000)+"\r\n")
	o := testOptions(b, store)
	o.LoginType = PlainTextLogin
	addr, _ := startServer(b, o, false)
	script := []byte("USER alice\r\nPASS pw\r\nSTAT\r\nRETR 1\r\nQUIT\r\n")
	for b.Loop() {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Write(script); err != nil {
			b.Fatal(err)
		}
		all, err := io.ReadAll(conn)
		conn.Close()
		if err != nil || !strings.HasSuffix(string(all), okQuit+"\r\n") {
			b.Fatalf("session = %q, %v", all, err)
		}
		<-store.closed
	}
}

// TestServeSurvivesEMFILE: a process out of file descriptors makes Accept
// fail; the server pauses and goes on serving.
func TestServeSurvivesEMFILE(t *testing.T) {
	s := NewServer(testOptions(t, newMemStore()))
	l := servertest.Listen(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve(servetest.EMFILE(l, 3)) }()
	c := dialPOP(t, l.Addr().String(), false)
	if g := c.line(); !strings.HasPrefix(g, "+OK The Microsoft Exchange POP3 service is ready.") {
		t.Errorf("greeting after EMFILE: %q", g)
	}
	s.Close()
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
}
