package smtpd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/servers/internal/serve/servetest"
	"github.com/exsim/exsim/servers/internal/servertest"
)

const tooManyErrors = "421 4.7.0 Too many errors on this connection, closing transmission channel"

func TestProtocolErrorLimit(t *testing.T) {
	tests := []struct {
		name string
		bad  string
		want string
	}{
		{"unrecognized", "FOO", unrec},
		{"bad sequence", "RCPT TO:<a@contoso.com>", badSeq},
		{"bad domain", "EHLO -", "501 5.5.4 Invalid domain name"},
		{"unsupported option", "MAIL FROM:<> FOO=1", "555 5.5.4 Unsupported option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Limits: DefaultLimits()}
			o.Limits.MaxProtocolErrors = 3
			_, addr := startServer(t, &testBackend{}, o)
			c := dial(t, addr)
			c.greet()
			c.expect(tt.bad, tt.want)
			c.expect("NOOP", ok250) // a good command does not clear the count
			c.expect(tt.bad, tt.want)
			c.expect(tt.bad, tt.want)
			c.expectClosed(tooManyErrors)
		})
	}
}

func TestLogonFailures(t *testing.T) {
	o := Options{Limits: DefaultLimits()}
	o.Limits.MaxLogonFailures = 3
	_, addr := startServer(t, &testBackend{mechs: []string{"LOGIN", "PLAIN"}}, o)
	c := dial(t, addr)
	c.greet()
	bad := "AUTH PLAIN " + b64("\x00alice@contoso.com\x00wrong")
	c.expect(bad, "535 5.7.3 Authentication unsuccessful")
	c.expect("AUTH LOGIN", "334 VXNlcm5hbWU6")
	c.expect(b64("alice@contoso.com"), "334 UGFzc3dvcmQ6")
	c.expect(b64("wrong"), "535 5.7.3 Authentication unsuccessful")
	c.expect(bad, "535 5.7.3 Authentication unsuccessful")
	c.expectClosed(tooManyErrors)
}

func TestConnectionLimits(t *testing.T) {
	const (
		total     = "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel"
		perSource = "421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel"
	)
	t.Run("per source", func(t *testing.T) {
		o := Options{Limits: DefaultLimits()}
		o.Limits.MaxInboundConnectionPerSource = 2
		log := &eventLog{notify: make(chan ProtocolEvent, 100)}
		o.ProtocolLog = log
		_, addr := startServer(t, &testBackend{}, o)
		a1 := dialFrom(t, "127.0.0.2", addr)
		a1.greet()
		a2 := dialFrom(t, "127.0.0.2", addr)
		a2.greet()
		a3 := dialFrom(t, "127.0.0.2", addr)
		if got := a3.reply(); got != perSource {
			t.Errorf("third connection from 127.0.0.2: %q, want %q", got, perSource)
		}
		a3.expectEOF()
		b1 := dialFrom(t, "127.0.0.3", addr)
		b1.greet()
		// Once a1 is gone, 127.0.0.2 may connect again.
		a1.expect("QUIT", "221 2.0.0 Service closing transmission channel")
		waitDisconnects(t, log, 2) // a3 and a1
		a4 := dialFrom(t, "127.0.0.2", addr)
		a4.greet()
	})
	t.Run("total", func(t *testing.T) {
		o := Options{Limits: DefaultLimits()}
		o.Limits.MaxInboundConnection = 2
		_, addr := startServer(t, &testBackend{}, o)
		dialFrom(t, "127.0.0.2", addr).greet()
		dialFrom(t, "127.0.0.3", addr).greet()
		c := dialFrom(t, "127.0.0.4", addr)
		if got := c.reply(); got != total {
			t.Errorf("third connection: %q, want %q", got, total)
		}
		c.expectEOF()
	})
}

func waitDisconnects(t *testing.T, log *eventLog, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for n > 0 {
		select {
		case e := <-log.notify:
			if e.Event == EventDisconnect {
				n--
			}
		case <-timeout:
			t.Fatalf("waiting for %d more disconnects", n)
		}
	}
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name       string
		inactivity time.Duration
		session    time.Duration
		before     []step
		want       string
	}{
		{"inactivity", 150 * time.Millisecond, time.Minute, nil, "451 4.7.0 Timeout waiting for client input"},
		{"inactivity in DATA", 150 * time.Millisecond, time.Minute,
			[]step{{ehlo, ehloOK}, {"MAIL FROM:<>", sender}, {"RCPT TO:<a@contoso.com>", rcptOK}, {"DATA", start}, {"Subject: half", ""}},
			"451 4.7.0 Timeout waiting for client input"},
		{"session", time.Minute, 200 * time.Millisecond, nil, "421 4.4.1 Connection timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Limits: DefaultLimits()}
			o.Limits.ConnectionInactivityTimeout = tt.inactivity
			o.Limits.ConnectionTimeout = tt.session
			b := &testBackend{}
			_, addr := startServer(t, b, o)
			c := dial(t, addr)
			c.reply()
			runSteps(t, c, tt.before)
			if got := c.reply(); got != tt.want {
				t.Errorf("idle client got %q, want %q", got, tt.want)
			}
			c.expectEOF()
		})
	}
}

func TestSizeLimits(t *testing.T) {
	const (
		tooLarge     = "552 5.3.4 Message size exceeds fixed maximum message size"
		headerTooBig = "552 5.3.4 Header size exceeds fixed maximum size"
	)
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789012345678901234567890123456789\r\n", 60) // ~2.5 KB
	bigHeader := strings.Repeat("X-Filler: 0123456789012345678901234567890123456789\r\n", 10) + "\r\nbody\r\n"
	tx := []step{{ehlo, ehloOK}, {"MAIL FROM:<>", sender}, {"RCPT TO:<a@contoso.com>", rcptOK}}
	tests := []struct {
		name  string
		steps []step
	}{
		{"SIZE parameter", []step{{ehlo, ehloOK}, {"MAIL FROM:<a@b.example> SIZE=1001", tooLarge}, {"MAIL FROM:<a@b.example> SIZE=1000", sender}}},
		{"DATA streamed", append(tx, step{"DATA", start}, step{big + ".\r\n", tooLarge}, step{"NOOP", ok250})},
		{"DATA header", append(tx, step{"DATA", start}, step{bigHeader + ".\r\n", headerTooBig}, step{"NOOP", ok250})},
		{"BDAT streamed", append(tx, step{fmt.Sprintf("BDAT %d\r\n%s", len(big), big), tooLarge}, step{"NOOP", ok250},
			step{"BDAT 5 LAST\r\nhello", badSeq})},
		{"BDAT header", append(tx, step{fmt.Sprintf("BDAT %d LAST\r\n%s", len(bigHeader), bigHeader), headerTooBig}, step{"NOOP", ok250})},
		{"just fits", append(tx, step{"DATA", start}, step{big[:990] + "\r\n.\r\n", queued})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Limits: DefaultLimits()}
			o.Limits.MaxMessageSize = 1000
			o.Limits.MaxHeaderSize = 300
			o.Limits.MaxProtocolErrors = 100
			b := &testBackend{}
			_, addr := startServer(t, b, o)
			c := dial(t, addr)
			c.reply()
			runSteps(t, c, tt.steps)
			for _, m := range b.messages() {
				if len(m.Body) > 1000 {
					t.Errorf("Session.Data read %d bytes, more than MaxMessageSize", len(m.Body))
				}
			}
		})
	}
}

// TestBDATPastTheLimit: a chunk whose declared size exceeds the message
// size limit gets the 552 before its data; a chunk far past it (a 4 GB
// BDAT) also ends the connection instead of being read to its end.
func TestBDATPastTheLimit(t *testing.T) {
	c, b := limitedServer(t, func(l *Limits) { l.MaxMessageSize = 1000 })
	c.expect("MAIL FROM:<>", sender)
	c.expect("RCPT TO:<a@contoso.com>", rcptOK)
	// Declared past the limit, data not yet sent: the 552 comes first.
	c.expect("BDAT 1500", "552 5.3.4 Message size exceeds fixed maximum message size")
	c.send(strings.Repeat("x", 1500))
	c.expect("NOOP", ok250)
	c.expect("MAIL FROM:<>", sender)
	c.expect("RCPT TO:<a@contoso.com>", rcptOK)
	c.expect("BDAT 4294967296 LAST", "552 5.3.4 Message size exceeds fixed maximum message size")
	c.expectEOF()
	if m := b.messages(); len(m) != 0 {
		t.Errorf("messages = %d, want none", len(m))
	}
}

// limitedServer starts a server with DefaultLimits changed by set and
// returns a client past EHLO.
func limitedServer(t *testing.T, set func(*Limits)) (*client, *testBackend) {
	t.Helper()
	o := Options{Limits: DefaultLimits()}
	set(&o.Limits)
	b := &testBackend{}
	_, addr := startServer(t, b, o)
	c := dial(t, addr)
	c.greet()
	return c, b
}

func TestRecipientLimit(t *testing.T) {
	c, b := limitedServer(t, func(l *Limits) { l.MaxRecipientsPerMessage = 3 })
	c.expect("MAIL FROM:<>", sender)
	for i := 1; i <= 3; i++ {
		c.expect(fmt.Sprintf("RCPT TO:<u%d@contoso.com>", i), rcptOK)
	}
	c.expect("RCPT TO:<u4@contoso.com>", "452 4.5.3 Too many recipients")
	c.expect("RCPT TO:<u5@contoso.com>", "452 4.5.3 Too many recipients")
	runSteps(t, c, []step{{"DATA", start}, {"Subject: x\r\n\r\n.\r\n", queued}})
	if m := b.messages(); len(m) != 1 || len(m[0].To) != 3 {
		t.Errorf("recipients = %v, want 3", m)
	}
	// The count starts again with the next transaction.
	c.expect("MAIL FROM:<>", sender)
	c.expect("RCPT TO:<u4@contoso.com>", rcptOK)
}

func TestBDAT(t *testing.T) {
	b := &testBackend{}
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	c.greet()
	chunk1 := "Subject: chunks\r\n\r\n"
	chunk2 := "binary \x00\xff\r\n.\r\nnot the end\r\n"
	runSteps(t, c, []step{
		{"MAIL FROM:<a@fabrikam.com> BODY=BINARYMIME", sender},
		{"RCPT TO:<b@contoso.com>", rcptOK},
		{fmt.Sprintf("BDAT %d\r\n%s", len(chunk1), chunk1), fmt.Sprintf("250 2.6.0 CHUNK received OK, %d octets", len(chunk1))},
		{"NOOP", ok250},
		{fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk2), chunk2), queued},
		// A whole message in one BDAT LAST, and BDAT 0 LAST.
		{"MAIL FROM:<a@fabrikam.com>", sender}, {"RCPT TO:<b@contoso.com>", rcptOK},
		{"BDAT 3 LAST\r\nabc", queued},
		{"MAIL FROM:<a@fabrikam.com>", sender}, {"RCPT TO:<b@contoso.com>", rcptOK},
		{"BDAT 3\r\nxyz", "250 2.6.0 CHUNK received OK, 3 octets"},
		{"BDAT 0 LAST", queued},
		// RSET abandons a chunked transaction.
		{"MAIL FROM:<a@fabrikam.com>", sender}, {"RCPT TO:<b@contoso.com>", rcptOK},
		{"BDAT 4\r\nlost", "250 2.6.0 CHUNK received OK, 4 octets"},
		{"RSET", "250 2.0.0 Resetting"},
		{"BDAT 4 LAST\r\nlost", badSeq},
	})
	c.expect("QUIT", "221 2.0.0 Service closing transmission channel")
	c.expectEOF()
	msgs := b.messages()
	want := []string{chunk1 + chunk2, "abc", "xyz", "lost"}
	if len(msgs) != len(want) {
		t.Fatalf("messages = %d, want %d", len(msgs), len(want))
	}
	for i, w := range want {
		if string(msgs[i].Body) != w {
			t.Errorf("message %d body = %q, want %q", i, msgs[i].Body, w)
		}
	}
	if msgs[0].Mail.Body != BodyBinaryMIME {
		t.Errorf("Body = %q, want BINARYMIME", msgs[0].Mail.Body)
	}
	if msgs[3].Error == nil {
		t.Errorf("RSET in BDAT: Data's reader returned no error")
	}
}

// TestDataReturnsEarly: a Session that stops reading still leaves the
// connection in sync, for DATA and BDAT.
func TestDataReturnsEarly(t *testing.T) {
	b := &testBackend{
		dataRead: func(r io.Reader) ([]byte, error) {
			p := make([]byte, 4)
			n, err := r.Read(p)
			return p[:n], err
		},
		dataReply: func(m *message) (*Reply, error) { return ReplyHopCount, nil },
	}
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	c.greet()
	body := strings.Repeat("line of text\r\n", 2000)
	runSteps(t, c, []step{
		{"MAIL FROM:<>", sender}, {"RCPT TO:<b@contoso.com>", rcptOK}, {"DATA", start},
		{body + ".\r\n", "554 5.4.6 Hop count exceeded - possible mail loop"},
		{"MAIL FROM:<>", sender}, {"RCPT TO:<b@contoso.com>", rcptOK},
		{fmt.Sprintf("BDAT %d\r\n%s", len(body), body), "554 5.4.6 Hop count exceeded - possible mail loop"},
		{"NOOP", ok250},
	})
}

// TestPipelining sends whole transactions in one write and checks that the
// replies come back complete and in order.
func TestPipelining(t *testing.T) {
	b := &testBackend{reject: map[string]*Reply{"x@example.org": ReplyRelayDenied}}
	_, addr := startServer(t, b, Options{Limits: Limits{TarpitInterval: -1}})
	c := dial(t, addr)
	c.reply()
	c.send("EHLO client.example.com\r\nMAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\nRCPT TO:<x@example.org>\r\n" +
		"RCPT TO:<c@contoso.com>\r\nDATA\r\nSubject: p\r\n\r\nbody\r\n.\r\n" +
		"MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com>\r\nBDAT 4 LAST\r\nabcdRSET\r\nQUIT\r\n")
	want := []string{ehloOK, sender, rcptOK, "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain", rcptOK, start, queued,
		sender, rcptOK, queued, "250 2.0.0 Resetting", "221 2.0.0 Service closing transmission channel"}
	for i, w := range want {
		if got := c.reply(); !matchReply(got, w) {
			t.Errorf("reply %d = %q, want %q", i, got, w)
		}
	}
	c.expectEOF()
	if m := b.messages(); len(m) != 2 || len(m[0].To) != 2 || string(m[0].Body) != "Subject: p\r\n\r\nbody\r\n" || string(m[1].Body) != "abcd" {
		t.Errorf("messages = %+v", m)
	}
}

// TestPipelinedRepliesOneWrite checks RFC 2920's flush rule over net.Pipe,
// where every server Write arrives as its own Read: a pipelined group's
// replies must arrive in one piece.
func TestPipelinedRepliesOneWrite(t *testing.T) {
	s := NewServer(&testBackend{}, Options{Hostname: testHost, Now: func() time.Time { return testNow }})
	cli, srv := pipeConn()
	go s.admit(srv)
	t.Cleanup(func() { cli.Close(); s.Close() })
	cli.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := cli.Read(buf)
	if err != nil || !bytes.HasPrefix(buf[:n], []byte("220 ")) {
		t.Fatalf("banner: %q, %v", buf[:n], err)
	}
	if _, err := cli.Write([]byte("EHLO a.example\r\nMAIL FROM:<>\r\nRCPT TO:<a@contoso.com>\r\nRCPT TO:<b@contoso.com>\r\nNOOP\r\n")); err != nil {
		t.Fatal(err)
	}
	n, err = cli.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:n])
	if !strings.HasPrefix(got, "250-ex01.contoso.com Hello") || !strings.HasSuffix(got, "250 2.1.5 Recipient OK\r\n250 2.0.0 OK\r\n") {
		t.Errorf("first read after a pipelined group = %q, want all 5 replies", got)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func pipeConn() (client, server net.Conn) { return net.Pipe() }

func TestMessageRateLimit(t *testing.T) {
	const exceeded = "421 4.4.2 Message submission rate for this client has exceeded the configured limit"
	var mu sync.Mutex
	clock := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }

	o := Options{Limits: DefaultLimits(), Now: now}
	o.Limits.MessageRateLimit = 2
	b := &testBackend{}
	_, addr := startServer(t, b, o)

	send := func(c *client) {
		t.Helper()
		c.expect("MAIL FROM:<a@fabrikam.com>", "250 2.1.0 Sender OK")
		c.expect("RCPT TO:<b@contoso.com>", "250 2.1.5 Recipient OK")
		c.expect("DATA", "354 Start mail input; end with <CRLF>.<CRLF>")
		c.send("Subject: x\r\n\r\nbody\r\n.\r\n")
		if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
			t.Fatalf("end of data: %q", r)
		}
	}
	c := dialFrom(t, "127.0.0.1", addr)
	c.greet()
	send(c)
	send(c)
	c.send("MAIL FROM:<a@fabrikam.com>\r\n")
	c.expectClosed(exceeded)

	// The budget belongs to the source, not the connection.
	c = dialFrom(t, "127.0.0.1", addr)
	c.greet()
	c.send("MAIL FROM:<a@fabrikam.com>\r\n")
	c.expectClosed(exceeded)

	// Another source has its own budget.
	other := dialFrom(t, "127.0.0.2", addr)
	other.greet()
	send(other)

	// Half a minute later one message of the per-minute budget is back.
	advance(30 * time.Second)
	c = dialFrom(t, "127.0.0.1", addr)
	c.greet()
	send(c)
	c.send("MAIL FROM:<a@fabrikam.com>\r\n")
	c.expectClosed(exceeded)

	if got := len(b.messages()); got != 4 {
		t.Fatalf("%d messages accepted, want 4", got)
	}
}

func TestRateLimiterForgetsIdleSources(t *testing.T) {
	clock := time.Unix(0, 0)
	r := newRateLimiter(1, func() time.Time { return clock })
	for i := range maxIdleBuckets {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if !r.allow(a) {
			t.Fatalf("first message of %v refused", a)
		}
	}
	clock = clock.Add(time.Minute)
	r.allow(netip.MustParseAddr("10.1.0.1"))
	if n := len(r.buckets); n != 1 {
		t.Fatalf("%d buckets after a minute of quiet, want 1", n)
	}
	if newRateLimiter(0, time.Now) != nil || !(*rateLimiter)(nil).allow(netip.Addr{}) {
		t.Fatal("MessageRateLimit 0 must be Unlimited")
	}
}

// TestServeSurvivesEMFILE: a process out of file descriptors makes Accept
// fail; the connector pauses and goes on serving.
func TestServeSurvivesEMFILE(t *testing.T) {
	l := servertest.Listen(t)
	serveOn(t, &testBackend{}, Options{Hostname: "ex01.contoso.com"}, servetest.EMFILE(l, 3))
	c := dial(t, l.Addr().String())
	c.greet()
}

// TestSlowSenderInDATA: a client that trickles its message in faster than
// ConnectionInactivityTimeout never trips it, but ConnectionTimeout bounds
// the whole session (Exchange's model: no per-byte rate on SMTP), and the
// client is told so.
func TestSlowSenderInDATA(t *testing.T) {
	o := Options{Limits: DefaultLimits()}
	o.Limits.ConnectionInactivityTimeout = 2 * time.Second
	o.Limits.ConnectionTimeout = 700 * time.Millisecond
	_, addr := startServer(t, &testBackend{}, o)
	c := dial(t, addr)
	c.reply()
	runSteps(t, c, []step{{ehlo, ehloOK}, {"MAIL FROM:<>", sender}, {"RCPT TO:<a@contoso.com>", rcptOK}, {"DATA", start}})
	got := make(chan string, 1)
	go func() { s, _ := c.readReply(); got <- s }()
	for i := 0; ; i++ {
		select {
		case s := <-got:
			if s != "421 4.4.1 Connection timed out" {
				t.Fatalf("slow sender got %q, want 421 4.4.1 Connection timed out", s)
			}
			return
		case <-time.After(100 * time.Millisecond):
			if i == 600 {
				t.Fatal("a sender trickling a byte every 100 ms was never cut")
			}
			c.conn.Write([]byte("x"))
		}
	}
}
