package imapd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/leaktest"
	"github.com/exsim/exsim/servers/internal/serve/servetest"
	"github.com/exsim/exsim/servers/internal/servertest"
)

// conversation drives a raw IMAP connection and records it as S:/C: lines.
type conversation struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	log  []string
}

func dialText(t *testing.T, addr string, cfg *tls.Config) *conversation {
	t.Helper()
	conn := servertest.Dial(t, addr, cfg)
	return &conversation{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// recv reads one line; "" at EOF.
func (c *conversation) recv() string {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		if line != "" {
			c.log = append(c.log, "S: "+strings.TrimRight(line, "\r\n")+" (no CRLF)")
		}
		if !errors.Is(err, io.EOF) && !isReset(err) {
			c.t.Fatalf("read: %v", err)
		}
		c.log = append(c.log, "-- closed by server --")
		return ""
	}
	if !strings.HasSuffix(line, "\r\n") {
		c.t.Errorf("line %q does not end in CRLF", line)
	}
	line = strings.TrimSuffix(line, "\r\n")
	c.log = append(c.log, "S: "+line)
	return line
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func (c *conversation) send(raw string) {
	c.t.Helper()
	c.log = append(c.log, "C: "+strings.TrimSuffix(raw, "\r\n"))
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatalf("write %q: %v", raw, err)
	}
}

// cmd sends line and reads up to its tagged reply, a continuation request
// or EOF; it returns the last line.
func (c *conversation) cmd(line string) string {
	c.t.Helper()
	tag, _, _ := strings.Cut(line, " ")
	return c.reply(tag, line)
}

// reply sends line (a continuation of command tag) and reads up to the
// tagged reply, a continuation request or EOF.
func (c *conversation) reply(tag, line string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	for {
		l := c.recv()
		if l == "" || strings.HasPrefix(l, tag+" ") || strings.HasPrefix(l, "+") {
			return l
		}
	}
}

func (c *conversation) startTLS(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake after STARTTLS: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.log = append(c.log, "-- TLS --")
}

func (c *conversation) expectEOF() {
	c.t.Helper()
	if l := c.recv(); l != "" {
		c.t.Errorf("read %q, want the server to close", l)
	}
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func golden(t *testing.T, name string, got []string) {
	t.Helper()
	servertest.Golden(t, filepath.Join("testdata", name+".golden"), strings.Join(got, "\n")+"\n")
}

// The pre-logon persona of Exchange's IMAP4 service, byte for byte.
func TestFrontendPersonaGolden(t *testing.T) {
	l := newLab(t, labOptions{})
	t.Run("143", func(t *testing.T) {
		c := dialText(t, l.fe143, nil)
		c.recv()
		c.cmd("a1 CAPABILITY")
		c.cmd("a2 NOOP")
		c.cmd(`a3 ID ("name" "exsim-test")`)
		c.cmd("a4 LOGIN alice@contoso.com " + password)
		c.cmd("a5 AUTHENTICATE PLAIN")
		c.cmd("a6 SELECT INBOX")
		c.cmd("a7 XYZZY")
		c.cmd("a8 STARTTLS")
		c.startTLS(l.clientTLS)
		c.cmd("b1 CAPABILITY")
		c.cmd("b2 STARTTLS")
		c.cmd("b3 LOGIN alice@contoso.com wrong")
		c.cmd("b4 AUTHENTICATE PLAIN " + plain("alice@contoso.com", "wrong"))
		c.cmd(`b5 LIST "" *`)
		c.cmd("b6 LOGOUT")
		c.expectEOF()
		golden(t, "persona-143", c.log)
	})
	t.Run("993", func(t *testing.T) {
		c := dialText(t, l.fe993, l.clientTLS)
		c.recv()
		c.cmd("c1 CAPABILITY")
		c.cmd("c2 STARTTLS")
		c.cmd("c3 LOGIN alice@contoso.com wrong")
		if l := c.cmd("c4 AUTHENTICATE PLAIN"); l != "+ " {
			t.Fatalf("AUTHENTICATE PLAIN = %q, want the empty challenge", l)
		}
		c.reply("c4", plain("alice@contoso.com", "wrong"))
		c.cmd("c5 NOOP")
		c.cmd("c6 LOGOUT")
		c.expectEOF()
		golden(t, "persona-993", c.log)
	})
}

// logonSteps opens a connection to the Frontend on 993, sends steps (each
// waiting for a continuation or the tagged reply) and checks the last reply.
func logonSteps(t *testing.T, l *lab, steps []string, want string) *conversation {
	t.Helper()
	c := dialText(t, l.fe993, l.clientTLS)
	c.recv()
	var last string
	for _, s := range steps {
		last = c.reply("t", s)
	}
	if last != want {
		t.Errorf("%v = %q, want %q", steps, last, want)
	}
	return c
}

// Successful logons answer with Exchange's text and then talk to the backend.
func TestFrontendLogonForms(t *testing.T) {
	l := newLab(t, labOptions{})
	cases := []struct {
		name  string
		steps []string // sent in order; each waits for a continuation or the tagged reply
		want  string
	}{
		{"LOGIN atoms", []string{"t LOGIN alice@contoso.com P@ssw0rd"}, "t OK LOGIN completed."},
		{"LOGIN quoted NetBIOS", []string{`t LOGIN "CONTOSO\\alice" "P@ssw0rd"`}, "t OK LOGIN completed."},
		{"LOGIN literals", []string{"t LOGIN {5}", "alice {8}", "P@ssw0rd"}, "t OK LOGIN completed."},
		{"AUTHENTICATE SASL-IR", []string{"t AUTHENTICATE PLAIN " + plain("alice", password)}, "t OK AUTHENTICATE completed."},
		{"AUTHENTICATE continuation", []string{"t AUTHENTICATE PLAIN", plain("alice@contoso.com", password)}, "t OK AUTHENTICATE completed."},
		{"AUTHENTICATE authzid", []string{"t AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("bob\x00alice\x00"+password))}, "t NO AUTHENTICATE failed."},
		{"AUTHENTICATE NTLM garbage", []string{"t AUTHENTICATE NTLM", "Zm9v"}, "t NO AUTHENTICATE failed."},
		{"AUTHENTICATE cancel", []string{"t AUTHENTICATE PLAIN", "*"}, "t BAD Command Argument Error. 11"},
		{"LOGIN one argument", []string{"t LOGIN alice"}, "t BAD Command Argument Error. 11"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := logonSteps(t, l, tc.steps, tc.want)
			if strings.Contains(tc.want, " OK ") {
				// Now relayed: the backend answers, in Exchange's words.
				if got := c.cmd("n NOOP"); got != "n OK NOOP completed." {
					t.Errorf("NOOP after logon = %q, want the backend's reply", got)
				}
			}
		})
	}
	// LITERAL+ and pipelining after the logon (the pipelined command is
	// relayed to the backend).
	c := dialText(t, l.fe993, l.clientTLS)
	c.recv()
	c.send("p LOGIN {17+}\r\nalice@contoso.com {8+}\r\nP@ssw0rd\r\nq SELECT INBOX\r\n")
	for l := c.recv(); l != "p OK LOGIN completed."; l = c.recv() {
		if l == "" {
			t.Fatal("closed before LOGIN completed")
		}
	}
	for l := c.recv(); !strings.HasPrefix(l, "q "); l = c.recv() {
		if l == "" {
			t.Fatal("closed before SELECT completed")
		}
	}
	if last := c.log[len(c.log)-1]; last != "S: q OK [READ-WRITE] SELECT completed." {
		t.Errorf("pipelined SELECT = %q", last)
	}
}

func TestFrontendLogonThrottling(t *testing.T) {
	const delay = 30 * time.Millisecond
	l := newLab(t, labOptions{frontend: FrontendOptions{LogonFailureDelay: delay, MaxLogonFailures: 3}})
	c := dialText(t, l.fe993, l.clientTLS)
	c.recv()
	start := time.Now()
	for i, want := range []string{"f1 NO LOGIN failed.", "f2 NO AUTHENTICATE failed.", "f3 NO LOGIN failed."} {
		var got string
		if i == 1 {
			got = c.cmd("f2 AUTHENTICATE PLAIN " + plain("alice", "nope"))
		} else {
			got = c.cmd("f" + string(rune('1'+i)) + " LOGIN alice nope")
		}
		if got != want {
			t.Errorf("failure %d = %q, want %q", i+1, got, want)
		}
	}
	if l := c.recv(); l != textTimeoutBye {
		t.Errorf("after 3 failures = %q, want %q", l, textTimeoutBye)
	}
	c.expectEOF()
	// The n-th failure waits n × delay: 1+2+3.
	if el := time.Since(start); el < 6*delay {
		t.Errorf("3 failures answered in %v, want at least %v of growing delays", el, 6*delay)
	}
}

func TestFrontendBackendUnreachable(t *testing.T) {
	ln := servertest.Listen(t)
	dead := ln.Addr().String()
	ln.Close()
	l := newLab(t, labOptions{upstream: tlsUpstream{addr: dead, cfg: &tls.Config{}}})
	c := dialText(t, l.fe993, l.clientTLS)
	c.recv()
	if got := c.cmd("u LOGIN alice " + password); got != "u "+string(replyUnavailable) {
		t.Errorf("LOGIN with the backend down = %q, want %q", got, "u "+string(replyUnavailable))
	}
	if got := c.cmd("v NOOP"); got != "v OK NOOP completed." {
		t.Errorf("NOOP afterwards = %q", got)
	}
}

// Garbage, oversized input and slow clients get a clear reply and never
// hang the server or leak goroutines.
func TestFrontendBadInput(t *testing.T) {
	base := runtime.NumGoroutine()
	l := newLab(t, labOptions{frontend: FrontendOptions{PreAuthTimeout: 300 * time.Millisecond, MaxCommandSize: 1024}})
	cases := []struct {
		name   string
		send   string
		want   []string // replies in order
		closed bool     // the server closes afterwards
	}{
		{"empty line", "\r\n", []string{"* BAD Command Argument Error. 11"}, false},
		{"tag only", "a1\r\n", []string{"a1 BAD Command Argument Error. 11"}, false},
		{"control bytes", "\x00\x01\x02\r\n", []string{"* BAD Command Argument Error. 11"}, false},
		{"bad tag", "a+b NOOP\r\n", []string{"* BAD Command Argument Error. 11"}, false},
		{"unterminated quote", "a2 LOGIN \"alice\r\n", []string{"a2 BAD Command Argument Error. 11"}, false},
		{"unbalanced paren", "a3 ID (\"x\"\r\n", []string{"a3 BAD Command Argument Error. 11"}, false},
		{"bare LF", "a4 NOOP\n", []string{"a4 OK NOOP completed."}, false},
		{"lower case", "a5 noop\r\n", []string{"a5 OK NOOP completed."}, false},
		{"huge literal", "a6 LOGIN {999999999}\r\n", []string{"a6 BAD Command Argument Error. 11"}, false},
		{"huge LITERAL+", "a7 LOGIN {999999999+}\r\n", []string{"a7 BAD Command Argument Error. 11"}, true},
		{"overlong line", "a8 " + strings.Repeat("A", 5000) + "\r\n", []string{"a8 BAD Command Argument Error. 11"}, true},
		{"pipelined after STARTTLS", "a9 STARTTLS\r\nb1 NOOP\r\n", []string{"a9 OK Begin TLS negotiation now."}, true},
		{"silence", "", []string{textTimeoutBye}, true},
		{"partial line then silence", "a10 NOO", []string{textTimeoutBye}, true},
		{"literal never sent", "a11 LOGIN {5}\r\n", []string{textLiteralGo, textTimeoutBye}, true},
		{"garbage flood", strings.Repeat("?\r\n", 12), append(repeat("? BAD Command Argument Error. 11", 10), textTimeoutBye), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialText(t, l.fe143, nil)
			c.recv()
			if tc.send != "" {
				c.send(tc.send)
			}
			for _, want := range tc.want {
				if got := c.recv(); got != want {
					t.Errorf("%.40q: got %q, want %q", tc.send, got, want)
				}
			}
			if tc.closed {
				c.expectEOF()
			} else if got := c.cmd("z NOOP"); got != "z OK NOOP completed." {
				t.Errorf("after %.40q NOOP = %q, want the connection usable", tc.send, got)
			}
		})
	}
	t.Run("silence on 993", func(t *testing.T) {
		conn := servertest.Dial(t, l.fe993, nil)
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if n, err := io.Copy(io.Discard, conn); err != nil {
			t.Errorf("silent TLS client: read %d bytes, %v; want the server to close", n, err)
		}
	})
	l.frontend.Close()
	leaktest.WaitGoroutines(t, base+8) // the backend and store remain
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// Close ends relayed sessions too and leaves no goroutine behind.
func TestFrontendCloseEndsRelays(t *testing.T) {
	base := runtime.NumGoroutine()
	l := newLab(t, labOptions{})
	c := l.dialProxy(t, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	l.frontend.Close()
	select {
	case <-c.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("client still connected after Frontend.Close")
	}
	l.backend.Close()
	l.st.Close()
	leaktest.WaitGoroutines(t, base)
}

func TestShutdown(t *testing.T) {
	l := newLab(t, labOptions{})
	c := l.dialProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// A relayed session is still open: Shutdown gives up at the deadline
	// and closes it.
	if err := l.frontend.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Frontend.Shutdown with a session open = %v, want DeadlineExceeded", err)
	}
	select {
	case <-c.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("session still open after Shutdown")
	}
	if _, err := net.Dial("tcp", l.fe143); err == nil {
		t.Errorf("143 still accepts after Shutdown")
	}
	// The backend's session ended with the relay: a prompt, clean Shutdown.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := l.backend.Shutdown(ctx2); err != nil {
		t.Errorf("Backend.Shutdown = %v", err)
	}
}

// TestFrontendSurvivesEMFILE: a process out of file descriptors makes
// Accept fail; the frontend pauses and goes on serving.
func TestFrontendSurvivesEMFILE(t *testing.T) {
	l := newLab(t, labOptions{})
	ln := servertest.Listen(t)
	go l.frontend.Serve(servetest.EMFILE(ln, 3))
	c := dialText(t, ln.Addr().String(), nil)
	if g := c.recv(); !strings.HasPrefix(g, "* OK The Microsoft Exchange IMAP4 service is ready.") {
		t.Errorf("greeting after EMFILE: %q", g)
	}
}

// TestBackendSurvivesEMFILE: go-imap's accept loop gets the Lifecycle's
// accept policy (the warning is the Lifecycle's), so the Backend too pauses
// and goes on serving.
func TestBackendSurvivesEMFILE(t *testing.T) {
	l := newLab(t, labOptions{})
	ex01 := servertest.Issue(t, l.ca, "EX01", "ex01.contoso.com")
	var logged syncBuffer
	b, err := NewBackend(BackendOptions{Store: l.st, Auth: testAuth{}, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ln := servertest.Listen(t)
	go b.Serve(tls.NewListener(servetest.EMFILE(ln, 3), l.ca.ServerTLS(ex01)))
	c := dialText(t, ln.Addr().String(), l.ca.ClientTLS("ex01.contoso.com", nil))
	if g := c.recv(); !strings.HasPrefix(g, "* OK The Microsoft Exchange IMAP4 service is ready.") {
		t.Errorf("greeting after EMFILE: %q", g)
	}
	if n := strings.Count(logged.String(), "imapd: backend: accept failed, retrying"); n != 3 {
		t.Errorf("logged %d accept retries, want 3:\n%s", n, logged.String())
	}
}

// syncBuffer is a bytes.Buffer for a logger written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
