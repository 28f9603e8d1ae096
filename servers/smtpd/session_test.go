package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/servers/internal/servertest"
)

func TestSTARTTLSResetsState(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	b := &testBackend{}
	_, addr := startServer(t, b, Options{TLSConfig: serverTLS})
	c := dial(t, addr)
	c.greet()
	c.expect("MAIL FROM:<a@fabrikam.com>", sender)
	// A command pipelined behind STARTTLS must not survive the handshake
	// (RFC 3207 section 6).
	c.send("STARTTLS\r\nNOOP\r\n")
	if got := c.reply(); got != "220 2.0.0 SMTP server ready" {
		t.Fatalf("STARTTLS = %q", got)
	}
	c.startTLS(clientTLS)
	c.expect("MAIL FROM:<a@fabrikam.com>", "503 5.5.2 Send hello first")
	if got := c.cmd(ehlo); strings.Contains(got, "STARTTLS") || !strings.HasPrefix(got, "250-") {
		t.Errorf("EHLO after TLS = %q, want 250 without STARTTLS", got)
	}
	c.expect("STARTTLS", badSeq)
	c.expect("X-ANONYMOUSTLS", badSeq)
	runSteps(t, c, []step{{"MAIL FROM:<a@fabrikam.com>", sender}, {"RCPT TO:<b@contoso.com>", rcptOK}, {"DATA", start}, {"Subject: tls\r\n\r\n.\r\n", queued}})
	if m := b.messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("messages = %+v, want one over TLS", m)
	}
}

func TestAuth(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	plain := b64("\x00alice@contoso.com\x00P@ssw0rd")
	tests := []struct {
		name  string
		steps []step
		id    string
	}{
		{"PLAIN initial response", []step{{"AUTH PLAIN " + plain, "235 2.7.0 Authentication successful"}}, "alice@contoso.com"},
		{"PLAIN challenge", []step{{"AUTH PLAIN", "334 "}, {plain, "235 2.7.0 Authentication successful"}}, "alice@contoso.com"},
		{"LOGIN", []step{{"AUTH LOGIN", "334 VXNlcm5hbWU6"}, {b64(`contoso\alice`), "334 UGFzc3dvcmQ6"}, {b64("P@ssw0rd"), "235 2.7.0 Authentication successful"}}, `contoso\alice`},
		{"LOGIN initial response", []step{{"auth login " + b64("alice@contoso.com"), "334 UGFzc3dvcmQ6"}, {b64("P@ssw0rd"), "235 2.7.0 Authentication successful"}}, "alice@contoso.com"},
		{"cancel", []step{{"AUTH LOGIN", "334 VXNlcm5hbWU6"}, {"*", "501 5.0.0 Authentication cancelled"}}, ""},
		{"bad base64", []step{{"AUTH PLAIN !!!", "501 5.5.2 Cannot Base64-decode Client responses"}}, ""},
		{"wrong password", []step{{"AUTH PLAIN " + b64("\x00alice@contoso.com\x00nope"), "535 5.7.3 Authentication unsuccessful"}}, ""},
		{"NTLM advertised, not provided", []step{{"AUTH NTLM", "504 5.7.4 Unrecognized authentication type"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &eventLog{}
			b := &testBackend{mechs: []string{"NTLM", "LOGIN", "PLAIN"}}
			_, addr := startServer(t, b, Options{TLSConfig: serverTLS, RequireTLSForAuth: true, ProtocolLog: log})
			c := dial(t, addr)
			c.greet()
			c.expect("STARTTLS", "220 2.0.0 SMTP server ready")
			c.startTLS(clientTLS)
			if got := c.cmd(ehlo); !strings.Contains(got, "\n250-AUTH NTLM LOGIN PLAIN\n") {
				t.Errorf("EHLO after TLS = %q, want AUTH NTLM LOGIN PLAIN", got)
			}
			runSteps(t, c, tt.steps)
			if tt.id != "" {
				c.expect("AUTH PLAIN "+plain, badSeq) // RFC 4954: no second AUTH
			}
			runSteps(t, c, []step{{"MAIL FROM:<alice@contoso.com>", sender}, {"RCPT TO:<b@contoso.com>", rcptOK}, {"DATA", start}, {"Subject: a\r\n\r\n.\r\n", queued}})
			if m := b.messages(); len(m) != 1 || m[0].Auth != tt.id {
				t.Errorf("AuthIdentity = %+v, want %q", m, tt.id)
			}
			for _, e := range log.all() {
				if strings.Contains(e.Data, "P@ssw0rd") || strings.Contains(e.Data, plain) || strings.Contains(e.Data, b64("P@ssw0rd")) {
					t.Errorf("protocol log shows a credential: %+v", e)
				}
			}
		})
	}
}

func TestTarpit(t *testing.T) {
	const interval = 300 * time.Millisecond
	log := &eventLog{}
	o := Options{ProtocolLog: log, Limits: DefaultLimits()}
	o.Limits.TarpitInterval = interval
	b := &testBackend{mechs: []string{"PLAIN"}, reject: map[string]*Reply{"nobody@contoso.com": ReplyUserUnknown, "full@contoso.com": ReplyInsufficientResources}}
	_, addr := startServer(t, b, o)

	tarpits := func(sessionID string) []string {
		var out []string
		for _, e := range log.all() {
			if e.SessionID == sessionID && e.Event == EventInfo && strings.HasPrefix(e.Data, "Tarpit for") {
				out = append(out, e.Data)
			}
		}
		return out
	}
	lastSession := func() string {
		ev := log.all()
		return ev[len(ev)-1].SessionID
	}

	// Anonymous: 5xx to RCPT waits; 250 and 4xx do not.
	c := dial(t, addr)
	c.greet()
	anon := lastSession()
	c.expect("MAIL FROM:<>", sender)
	start := time.Now()
	c.expect("RCPT TO:<nobody@contoso.com>", "550 5.1.1 User unknown")
	if d := time.Since(start); d < interval {
		t.Errorf("anonymous 550 to RCPT came after %v, want at least the %v tarpit", d, interval)
	}
	c.expect("RCPT TO:<a@contoso.com>", rcptOK)
	c.expect("RCPT TO:<full@contoso.com>", "452 4.3.1 Insufficient system resources")
	c.expect("NOOP", ok250)
	want := []string{"Tarpit for '0.00:00:00.300' due to '550 5.1.1 User unknown'"}
	if got := tarpits(anon); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("anonymous tarpits = %q, want %q", got, want)
	}

	// Authenticated: never delayed.
	a := dial(t, addr)
	a.greet()
	authed := lastSession()
	a.expect("AUTH PLAIN "+b64("\x00alice@contoso.com\x00P@ssw0rd"), "235 2.7.0 Authentication successful")
	a.expect("MAIL FROM:<>", sender)
	a.expect("RCPT TO:<nobody@contoso.com>", "550 5.1.1 User unknown")
	if got := tarpits(authed); len(got) != 0 {
		t.Errorf("authenticated session tarpits = %q, want none", got)
	}
}

func TestShutdown(t *testing.T) {
	b := &testBackend{}
	l := servertest.Listen(t)
	s := serveOn(t, b, Options{Hostname: testHost}, l) // checks Serve's ErrServerClosed
	addr := l.Addr().String()

	idle := dial(t, addr)
	idle.greet()
	busy := dial(t, addr)
	busy.greet()
	runSteps(t, busy, []step{{"MAIL FROM:<>", sender}, {"RCPT TO:<a@contoso.com>", rcptOK}, {"DATA", start}, {"Subject: in flight\r\n", ""}})
	// The 354 was flushed when the server began reading the message: it is
	// in DATA now, not idle.
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()

	idle.expectClosed("421 4.3.2 Service not available")
	busy.send("\r\nbody\r\n.\r\n")
	busy.expectReplies(queued, "421 4.3.2 Service not available")
	busy.expectEOF()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown() = %v, want nil", err)
	}
	if m := b.messages(); len(m) != 1 || !strings.Contains(string(m[0].Body), "in flight") {
		t.Errorf("in-flight message lost: %+v", m)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("dial after Shutdown succeeded")
	}
}

func TestShutdownContextExpires(t *testing.T) {
	l := servertest.Listen(t)
	s := serveOn(t, &testBackend{}, Options{Hostname: testHost}, l)
	c := dial(t, l.Addr().String())
	c.greet()
	runSteps(t, c, []step{{"MAIL FROM:<>", sender}, {"RCPT TO:<a@contoso.com>", rcptOK}, {"DATA", start}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown() with a stuck DATA = %v, want DeadlineExceeded", err)
	}
	c.expectEOF()
}

func TestNewSessionRefused(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{ReplyNoPermission, "550 5.7.1 Client does not have permissions to submit to this server"},
		{errors.New("database down"), "421 4.3.2 Service not available"},
	}
	for _, tt := range tests {
		_, addr := startServer(t, &testBackend{refuse: tt.err}, Options{})
		c := dial(t, addr)
		c.expectClosed(tt.want)
	}
}

type tlsRefuser struct{ *testSession }

func (s tlsRefuser) TLSEstablished(cs *tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return ReplyNotAuthenticated
	}
	return nil
}

func TestTLSSession(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	b := &testBackend{}
	be := BackendFunc(func(c *Conn) (Session, error) { return tlsRefuser{&testSession{b: b, c: c}}, nil })
	_, addr := startServer(t, be, Options{TLSConfig: serverTLS})
	c := dial(t, addr)
	c.greet()
	c.expect("STARTTLS", "220 2.0.0 SMTP server ready")
	c.startTLS(clientTLS)
	c.expectClosed("530 5.7.1 Client was not authenticated")
}

func TestImplicitTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	l := servertest.Listen(t)
	b := &testBackend{mechs: []string{"LOGIN", "PLAIN"}}
	serveOn(t, b, Options{Hostname: testHost, TLSConfig: serverTLS, RequireTLSForAuth: true}, tls.NewListener(l, serverTLS))
	conn := servertest.Dial(t, l.Addr().String(), clientTLS)
	c := &client{t: t, conn: conn, r: newReader(conn)}
	if got := c.reply(); !strings.HasPrefix(got, "220 ex01.contoso.com Microsoft ESMTP MAIL Service ready at ") {
		t.Errorf("banner = %q", got)
	}
	got := c.cmd(ehlo)
	if strings.Contains(got, "STARTTLS") || !strings.Contains(got, "AUTH LOGIN PLAIN") {
		t.Errorf("EHLO over implicit TLS = %q, want AUTH and no STARTTLS", got)
	}
	c.expect("AUTH PLAIN "+b64("\x00alice@contoso.com\x00P@ssw0rd"), "235 2.7.0 Authentication successful")
}

func TestTLSDescription(t *testing.T) {
	tests := []struct {
		cs   tls.ConnectionState
		want string
	}{
		{tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, "version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
		{tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_256_GCM_SHA384}, "version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384"},
	}
	for _, tt := range tests {
		if got := TLSDescription(&tt.cs); got != tt.want {
			t.Errorf("TLSDescription(%v) = %q, want %q", tt.cs.Version, got, tt.want)
		}
	}
	if got := TLSDescription(nil); got != "" {
		t.Errorf("TLSDescription(nil) = %q, want empty", got)
	}
	// The kept names are crypto/tls's, an unknown suite its hex form.
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if got := cipherSuiteName(cs.ID); got != tls.CipherSuiteName(cs.ID) {
			t.Errorf("cipherSuiteName(%#04x) = %q, want %q", cs.ID, got, tls.CipherSuiteName(cs.ID))
		}
	}
	if got := cipherSuiteName(0x1234); got != "0x1234" {
		t.Errorf("cipherSuiteName(0x1234) = %q", got)
	}
}

func TestProtocolLog(t *testing.T) {
	log := &eventLog{}
	b := &testBackend{}
	_, addr := startServer(t, b, Options{ProtocolLog: log, ConnectorName: `EX01\Default Frontend EX01`})
	c := dial(t, addr)
	c.greet()
	runSteps(t, c, []step{{"MAIL FROM:<a@fabrikam.com>", sender}, {"RCPT TO:<b@contoso.com>", rcptOK}, {"DATA", start},
		{"Subject: secret body\r\n\r\nsecret body\r\n.\r\n", queued}, {"QUIT", "221 2.0.0 Service closing transmission channel"}})
	c.expectEOF()
	waitFor(t, func() bool { ev := log.all(); return len(ev) > 0 && ev[len(ev)-1].Event == EventDisconnect })
	ev := log.all()
	var got []string
	for i, e := range ev {
		if e.Sequence != i || e.Connector != `EX01\Default Frontend EX01` || len(e.SessionID) != 16 || e.SessionID != ev[0].SessionID ||
			!strings.HasPrefix(e.Local, "127.0.0.1:") || !strings.HasPrefix(e.Remote, "127.0.0.1:") || !e.Time.Equal(testNow) {
			t.Errorf("event %d = %+v", i, e)
		}
		if strings.Contains(e.Data, "secret") {
			t.Errorf("protocol log shows the message body: %+v", e)
		}
		d := e.Data
		if len(d) > 30 {
			d = d[:30]
		}
		got = append(got, e.Event.String()+d+"|"+e.Context)
	}
	want := []string{
		"+|", ">220 ex01.contoso.com Microsoft|", "<EHLO client.example.com|", ">250-ex01.contoso.com Hello [12|",
		"<MAIL FROM:<a@fabrikam.com>|", ">250 2.1.0 Sender OK|", "<RCPT TO:<b@contoso.com>|", ">250 2.1.5 Recipient OK|",
		"<DATA|", ">354 Start mail input; end with|", ">250 2.6.0 <0123456789abcdef@ex|", "<QUIT|",
		">221 2.0.0 Service closing tran|", "-|Local",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(ev[3].Data, " SIZE 37748736 PIPELINING DSN ") {
		t.Errorf("EHLO reply logged as %q, want one row", ev[3].Data)
	}
}

// waitFor polls cond; used only where the server offers no event to wait on.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
