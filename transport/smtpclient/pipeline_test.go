package smtpclient

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// bothWays runs a Deliver test one command at a time with DATA and
// pipelined with BDAT (Options.Chunking): the replies must not differ.
func bothWays(t *testing.T, test func(t *testing.T, chunking bool)) {
	t.Run("DATA", func(t *testing.T) { test(t, false) })
	t.Run("BDAT", func(t *testing.T) { test(t, true) })
}

// countConn counts the client's writes.
type countConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *countConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// transcript collects Options.Trace lines.
type transcript struct {
	mu    sync.Mutex
	lines []string
}

func (tr *transcript) trace(dir, line string) {
	tr.mu.Lock()
	tr.lines = append(tr.lines, dir+" "+line)
	tr.mu.Unlock()
}

// since returns the lines after the first n and how many there are.
func (tr *transcript) since(n int) ([]string, int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.lines[n:]...), len(tr.lines)
}

// TestDeliverPipelinedTranscript: on a warm connection to exsim's own
// Transport-persona server, each message is one write (MAIL, RCPT, RCPT,
// BDAT n LAST and the body) and one read of four replies: one round trip.
// The body goes as it is, a leading dot unstuffed.
func TestDeliverPipelinedTranscript(t *testing.T) {
	l := newLab(t)
	ts := startServer(t, l, serverOptions{})
	cc := &countConn{Conn: dial(t, ts)}
	tr := &transcript{}
	c, err := NewClient(context.Background(), cc, Options{Helo: "ex01.contoso.com", TLS: TLSNone, Timeout: 5 * time.Second, Chunking: true, Trace: tr.trace})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, mark := tr.since(0)
	for i, body := range []string{"Subject: one\r\n\r\n.dot\r\n", "Subject: two\r\n\r\nline\r\n"} {
		before := cc.count()
		got, err := c.Deliver(&Envelope{From: "alice@contoso.com", To: []Rcpt{{Address: "bob@fabrikam.com"}, {Address: "carol@fabrikam.com"}}}, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if !got["bob@fabrikam.com"].OK() || !got["carol@fabrikam.com"].OK() {
			t.Fatalf("message %d: Deliver = %v", i, got)
		}
		if n := cc.count() - before; n != 1 {
			t.Errorf("message %d: %d writes, want 1", i, n)
		}
		var lines []string
		lines, mark = tr.since(mark)
		want := []string{
			"> MAIL FROM:<alice@contoso.com> BODY=8BITMIME SIZE=" + strconv.Itoa(len(body)),
			"> RCPT TO:<bob@fabrikam.com>",
			"> RCPT TO:<carol@fabrikam.com>",
			"> BDAT " + strconv.Itoa(len(body)) + " LAST",
			"< 250 2.1.0 Sender OK",
			"< 250 2.1.5 Recipient OK",
			"< 250 2.1.5 Recipient OK",
			"< 250 2.6.0 <test@ex02.contoso.com> Queued mail for delivery",
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("message %d transcript:\n%s\nwant:\n%s", i, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		if txns := ts.transactions(); len(txns) != i+1 || txns[i].body != body {
			t.Errorf("message %d: server got %d transactions, last %+v", i, len(txns), txns[len(txns)-1])
		}
	}
}

// goSMTPSession records the messages a go-smtp server received.
type goSMTPSession struct {
	mu   *sync.Mutex
	got  *[]string
	from string
	to   []string
}

func (s *goSMTPSession) Reset()        { s.from, s.to = "", nil }
func (s *goSMTPSession) Logout() error { return nil }
func (s *goSMTPSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *goSMTPSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *goSMTPSession) Data(r io.Reader) error {
	var b strings.Builder
	_, err := io.Copy(&b, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.got = append(*s.got, s.from+">"+strings.Join(s.to, ",")+":"+b.String())
	return err
}

// TestDeliverGoSMTPServer: go-smtp's server offers PIPELINING and CHUNKING;
// pipelined BDAT transactions, one with a refused recipient and one with
// only refused recipients (its chunk skipped), leave the session usable.
func TestDeliverGoSMTPServer(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &goSMTPSession{mu: &mu, got: &got}, nil
	}))
	srv.Domain = "mx.fabrikam.com"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc := &countConn{Conn: conn}
	c, err := NewClient(context.Background(), cc, Options{Helo: "ex01.contoso.com", TLS: TLSNone, Timeout: 5 * time.Second, Chunking: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := cc.count()
	r, err := c.Deliver(&Envelope{From: "a@contoso.com", To: []Rcpt{{Address: "b@fabrikam.com"}, {Address: "nobody@fabrikam.com"}}}, []byte("Subject: x\r\n\r\n"), []byte(".body\r\n"))
	if err != nil || !r["b@fabrikam.com"].OK() || r["nobody@fabrikam.com"].String() != "550 5.1.1 User unknown" {
		t.Fatalf("Deliver = %v, %v", r, err)
	}
	if n := cc.count() - before; n != 1 {
		t.Errorf("%d writes for one message, want 1", n)
	}
	r, err = c.Deliver(&Envelope{From: "a@contoso.com", To: []Rcpt{{Address: "nobody@fabrikam.com"}}}, []byte("MAIL FROM:<evil@x>\r\n"))
	if err != nil || r["nobody@fabrikam.com"].Code != 550 {
		t.Fatalf("all refused: Deliver = %v, %v", r, err)
	}
	r, err = c.Deliver(&Envelope{From: "a@contoso.com", To: []Rcpt{{Address: "c@fabrikam.com"}}}, []byte("Subject: y\r\n\r\n"))
	if err != nil || !r["c@fabrikam.com"].OK() {
		t.Fatalf("after a refused chunk: Deliver = %v, %v", r, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "a@contoso.com>b@fabrikam.com:Subject: x\r\n\r\n.body\r\n|a@contoso.com>c@fabrikam.com:Subject: y\r\n\r\n"
	if strings.Join(got, "|") != want {
		t.Errorf("server got %q, want %q", strings.Join(got, "|"), want)
	}
}

// TestDeliverFallsBackToDATA: a server that offers PIPELINING but not
// CHUNKING gets DATA with dot-stuffing, one command at a time.
func TestDeliverFallsBackToDATA(t *testing.T) {
	c, seen := dialScripted(t)
	r, err := c.Deliver(&Envelope{From: "a@contoso.com", To: []Rcpt{{Address: "b@fabrikam.com"}}}, []byte("Subject: x\r\n\r\n.dot\r\n"))
	if err != nil || !r["b@fabrikam.com"].OK() {
		t.Fatalf("Deliver = %v, %v", r, err)
	}
	c.Close()
	if got := seen(); got != wantScripted {
		t.Errorf("server saw %q, want %q", got, wantScripted)
	}
}

// wantScripted is what scriptedServer sees of one message to
// b@fabrikam.com with DATA. Without TLS the set-up sends EHLO twice (its
// own, then go-smtp's; session.go).
const wantScripted = "EHLO ex01.contoso.com|EHLO ex01.contoso.com|MAIL FROM:<a@contoso.com> BODY=8BITMIME|RCPT TO:<b@fabrikam.com>|DATA|Subject: x||..dot|.|QUIT"

// dialScripted sets up a pipelining-enabled session to a scriptedServer;
// seen returns, after the client closed, the lines the server read.
func dialScripted(t *testing.T) (c *Client, seen func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		lines = scriptedServer(conn)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err = NewClient(context.Background(), conn, Options{Helo: "ex01.contoso.com", TLS: TLSNone, Timeout: 5 * time.Second, Chunking: true})
	if err != nil {
		t.Fatal(err)
	}
	return c, func() string { <-done; return strings.Join(lines, "|") }
}

// scriptedServer speaks a minimal SMTP without CHUNKING and returns the
// lines it read.
func scriptedServer(conn net.Conn) []string {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	var seen []string
	io.WriteString(conn, "220 old.fabrikam.com ready\r\n")
	data := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return seen
		}
		line = strings.TrimRight(line, "\r\n")
		seen = append(seen, line)
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case data && line == ".":
			data = false
			io.WriteString(conn, "250 2.6.0 Queued\r\n")
		case data:
		case verb == "EHLO":
			io.WriteString(conn, "250-old.fabrikam.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
		case verb == "DATA":
			data = true
			io.WriteString(conn, "354 go ahead\r\n")
		case verb == "QUIT":
			io.WriteString(conn, "221 bye\r\n")
			return seen
		default:
			io.WriteString(conn, "250 2.0.0 OK\r\n")
		}
	}
}
