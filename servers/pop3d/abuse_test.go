package pop3d

import (
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestLineTooLong(t *testing.T) {
	c := serveAndGreet(t, testOptions(t, aliceStore()), false)
	run(t, c, []step{
		{strings.Repeat("A", 253), l(eProto)}, // 255 with CRLF: at the limit
		{"USER " + strings.Repeat("a", 251), l("-ERR Command is too long.")},
		{"NOOP" + strings.Repeat(" ", 1<<20), l("-ERR Command is too long.")}, // 1 MiB, discarded as it comes
		{"CAPA", capaClear},
	})
}

func TestTooManyProtocolErrors(t *testing.T) {
	o := testOptions(t, aliceStore())
	o.MaxProtocolErrors = 4
	c := serveAndGreet(t, o, false)
	run(t, c, []step{
		{"FOO", l(eProto)},
		{"STAT", l(eState)},
		{strings.Repeat("x", 300), l("-ERR Command is too long.")},
		{"BAR", l("-ERR Too many errors. Connection is closed.")},
	})
	if !c.closed() {
		t.Error("connection still open after too many errors")
	}
}

// TestLogonThrottling: each failure is answered later than the previous
// one, and the third closes the connection (Options.MaxLogonFailures).
func TestLogonThrottling(t *testing.T) {
	o := testOptions(t, aliceStore())
	o.LogonFailureDelay = 40 * time.Millisecond
	o.MaxLogonFailureDelay = time.Second
	c := serveAndGreet(t, o, true)
	for i, want := range []struct {
		reply    string
		minDelay time.Duration
	}{
		{eLogon, 40 * time.Millisecond},
		{eLogon, 80 * time.Millisecond},
		{"-ERR Logon failure: unknown user name or bad password. Connection is closed.", 160 * time.Millisecond},
	} {
		start := time.Now()
		got := c.cmd("AUTH PLAIN AGFsaWNlAHdyb25n")
		if d := time.Since(start); d < want.minDelay {
			t.Errorf("failure %d answered after %v, want at least %v", i+1, d, want.minDelay)
		}
		if got != want.reply {
			t.Errorf("failure %d = %q, want %q", i+1, got, want.reply)
		}
	}
	if !c.closed() {
		t.Error("connection still open after MaxLogonFailures")
	}
}

func TestFailureDelayCap(t *testing.T) {
	ss := &session{srv: NewServer(Options{Backend: newMemStore(), LogonFailureDelay: time.Second, MaxLogonFailureDelay: 3 * time.Second})}
	for failures, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 3 * time.Second, 30: 3 * time.Second} {
		ss.logonFailures = failures
		if got := ss.failureDelay(); got != want {
			t.Errorf("failureDelay(%d failures) = %v, want %v", failures, got, want)
		}
	}
}

func TestIdleTimeouts(t *testing.T) {
	o := testOptions(t, aliceStore())
	o.PreAuthenticatedConnectionTimeout = 100 * time.Millisecond
	addr, _ := startServer(t, o, false)

	t.Run("silent client", func(t *testing.T) {
		c := greeted(t, addr, false)
		if got := c.line(); got != "-ERR Connection is closed. 13" {
			t.Errorf("autologout = %q", got)
		}
		if !c.closed() {
			t.Error("connection still open")
		}
	})
	t.Run("slow client", func(t *testing.T) {
		// Bytes keep coming, but the line never completes within the
		// timeout: the deadline is per line, not per byte.
		c := greeted(t, addr, false)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, b := range []byte("CAPA") {
				if _, err := c.conn.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(40 * time.Millisecond) // pacing the slow client, not synchronisation
			}
		}()
		if got := c.line(); got != "-ERR Connection is closed. 13" {
			t.Errorf("autologout = %q", got)
		}
		<-done
	})
}

func TestGarbage(t *testing.T) {
	addr, _ := startServer(t, testOptions(t, aliceStore()), false)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		c := greeted(t, addr, false)
		junk := make([]byte, 4096)
		for j := range junk {
			junk[j] = byte(rng.UintN(256))
		}
		c.conn.Write(append(junk, "\r\nQUIT\r\n"...))
		// The server answers -ERR to the junk, then closes: after QUIT, or
		// after too many errors.
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		all, err := io.ReadAll(c.conn)
		if err != nil {
			t.Fatalf("round %d: reading replies: %v", i, err)
		}
		lines := strings.Split(strings.TrimSuffix(string(all), "\r\n"), "\r\n")
		for j, line := range lines {
			if !strings.HasPrefix(line, "-ERR ") && !(j == len(lines)-1 && line == okQuit) {
				t.Fatalf("round %d: garbage got %q, want only -ERR replies", i, line)
			}
		}
	}
	c := greeted(t, addr, false)
	run(t, c, []step{{"CAPA", capaClear}})
}

// TestStlsInjection: clear text pipelined behind STLS is refused
// (RFC 2595 section 4; CVE-2011-0411).
func TestStlsInjection(t *testing.T) {
	c := serveAndGreet(t, testOptions(t, aliceStore()), false)
	c.send("STLS\r\nUSER alice")
	if got := c.line(); got != eProto {
		t.Errorf("STLS with pipelined data = %q, want %q", got, eProto)
	}
	if !c.closed() {
		t.Error("connection still open")
	}
}

// TestEarlyDisconnect: a client that leaves in the middle of RETR, or
// stops reading, costs the server its session and nothing more.
func TestEarlyDisconnect(t *testing.T) {
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 8000) // ~8 MB
	for _, tt := range []struct {
		name string
		end  func(c *popClient)
	}{
		{"leaves after +OK", func(c *popClient) { c.line(); c.conn.Close() }},
		{"never reads", func(c *popClient) {}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemStore()
			store.addUser("alice", "P@ssw0rd", big)
			o := testOptions(t, store)
			o.WriteTimeout = 200 * time.Millisecond
			c := serveAndGreet(t, o, true)
			run(t, c, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}})
			c.send("RETR 1")
			tt.end(c)
			waitClosed(t, store, "alice")
			if got := store.uids("alice"); len(got) != 1 {
				t.Errorf("uids = %v, want the message kept", got)
			}
		})
	}
}

func TestSASLResponseTooLong(t *testing.T) {
	c := serveAndGreet(t, testOptions(t, aliceStore()), true)
	run(t, c, []step{
		{"AUTH PLAIN", l("+ ")},
		{strings.Repeat("QUFB", 3000), l("-ERR Command is too long.")},
		{"AUTH PLAIN", l("+ ")},
		{strings.Repeat("QUFB", 1000), l(eLogon)}, // 4000 octets: allowed, decodes to garbage
	})
}
