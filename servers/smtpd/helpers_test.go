package smtpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/servers/internal/servertest"
)

const testHost = "ex01.contoso.com"

// testNow is the fixed clock of every golden transcript.
var testNow = time.Date(2016, 8, 5, 16, 24, 41, 0, time.FixedZone("", -7*3600))

// message is one transaction the test backend accepted.
type message struct {
	From  string
	Mail  MailOptions
	To    []string
	Rcpt  []RcptOptions
	Body  []byte
	Helo  string
	Auth  string
	TLS   bool
	Error error // the error Data's reader returned, if any
}

// testBackend records transactions. Recipients in reject get that reply.
type testBackend struct {
	mu        sync.Mutex
	msgs      []message
	reject    map[string]*Reply
	mechs     []string     // AUTH mechanisms; nil: not an AuthSession
	ntlm      *ntlm.Server // provides NTLM when set
	refuse    error        // NewSession error
	dataReply func(m *message) (*Reply, error)
	dataRead  func(r io.Reader) ([]byte, error) // how Data reads; nil reads all
	resets    int
	logouts   int
}

func (b *testBackend) NewSession(c *Conn) (Session, error) {
	if b.refuse != nil {
		return nil, b.refuse
	}
	s := &testSession{b: b, c: c}
	if b.mechs != nil {
		return &testAuthSession{s}, nil
	}
	return s, nil
}

func (b *testBackend) messages() []message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]message(nil), b.msgs...)
}

type testSession struct {
	b   *testBackend
	c   *Conn
	cur message
}

func (s *testSession) Mail(from string, opts *MailOptions) error {
	s.cur = message{From: from, Mail: *opts, Helo: s.c.HeloName(), Auth: s.c.AuthIdentity(), TLS: s.c.TLS() != nil}
	return nil
}

func (s *testSession) Rcpt(to string, opts *RcptOptions) error {
	if r, ok := s.b.reject[strings.ToLower(to)]; ok {
		return r
	}
	if to == "fail@contoso.com" {
		return errors.New("backend exploded")
	}
	s.cur.To = append(s.cur.To, to)
	s.cur.Rcpt = append(s.cur.Rcpt, *opts)
	return nil
}

func (s *testSession) Data(r io.Reader) (*Reply, error) {
	read := s.b.dataRead
	if read == nil {
		read = io.ReadAll
	}
	body, err := read(r)
	m := s.cur
	m.Body, m.Error = body, err
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, m)
	s.b.mu.Unlock()
	if s.b.dataReply != nil {
		return s.b.dataReply(&m)
	}
	if err != nil {
		return nil, err
	}
	return Queued("<0123456789abcdef@ex01.contoso.com>", 4242, testHost, int64(len(body)), 12*time.Millisecond), nil
}

func (s *testSession) Reset() {
	s.b.mu.Lock()
	s.b.resets++
	s.b.mu.Unlock()
}

func (s *testSession) Logout() {
	s.b.mu.Lock()
	s.b.logouts++
	s.b.mu.Unlock()
}

type testAuthSession struct{ *testSession }

func (s *testAuthSession) AuthMechanisms() []string { return s.b.mechs }

func (s *testAuthSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != "contoso\\alice" && user != "alice@contoso.com" || pass != "P@ssw0rd" {
			return errors.New("bad password")
		}
		s.c.SetAuthIdentity(user)
		return nil
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, user, pass string) error { return check(user, pass) }), nil
	case "LOGIN":
		return NewLoginServer(check), nil
	case "NTLM":
		if s.b.ntlm != nil {
			return ntlm.NewSASLServer(s.b.ntlm, func(account string) error {
				s.c.SetAuthIdentity(account)
				return nil
			}), nil
		}
	}
	return nil, errors.New("mechanism not provided")
}

// eventLog is a ProtocolLog that keeps every event.
type eventLog struct {
	mu     sync.Mutex
	events []ProtocolEvent
	notify chan ProtocolEvent
}

func (l *eventLog) Log(e ProtocolEvent) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	if l.notify != nil {
		l.notify <- e
	}
}

func (l *eventLog) all() []ProtocolEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ProtocolEvent(nil), l.events...)
}

// testTLS returns a lab server config and a client config trusting it.
func testTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	server, client, _ = testTLSWithCA(t)
	return server, client
}

// testTLSWithCA also returns the CA certificate in PEM.
func testTLSWithCA(t testing.TB) (server, client *tls.Config, caPEM []byte) {
	t.Helper()
	ca := servertest.CA(t)
	cert := servertest.Issue(t, ca, "EX01", testHost)
	return ca.ServerTLS(cert), ca.ClientTLS(testHost, nil), ca.PEM()
}

// startServer serves o on 127.0.0.1:0 and returns the address.
func startServer(t testing.TB, b Backend, o Options) (*Server, string) {
	t.Helper()
	if o.Hostname == "" {
		o.Hostname = testHost
	}
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	s := NewServer(b, o)
	return s, servertest.Start(t, s, nil, ErrServerClosed)
}

func serveOn(t testing.TB, b Backend, o Options, l net.Listener) *Server {
	t.Helper()
	s := NewServer(b, o)
	servertest.Serve(t, s, l, ErrServerClosed)
	return s
}

// client is a raw SMTP client for tests.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn := servertest.Dial(t, addr, nil)
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// dialFrom dials from a given loopback source address.
func dialFrom(t testing.TB, src, addr string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(servertest.ConnDeadline))
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// reply reads one (multi-line) reply; lines joined by "\n".
func (c *client) reply() string {
	c.t.Helper()
	s, err := c.readReply()
	if err != nil {
		c.t.Fatalf("read reply: %v (got %q)", err, s)
	}
	return s
}

func (c *client) readReply() (string, error) {
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return strings.Join(append(lines, line), "\n"), err
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n"), nil
		}
	}
}

// cmd sends one line and returns the reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.reply()
}

// expect sends line and checks the reply.
func (c *client) expect(line, want string) {
	c.t.Helper()
	if got := c.cmd(line); got != want {
		c.t.Errorf("%s = %q, want %q", line, got, want)
	}
}

// expectEOF checks that the server closed the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	if s, err := c.readReply(); err == nil || s != "" {
		c.t.Errorf("after close: read %q, %v; want EOF", s, err)
	}
}

// startTLS upgrades the client connection after a 220 to STARTTLS.
func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// greet reads the banner and sends EHLO.
func (c *client) greet() {
	c.t.Helper()
	if b := c.reply(); !strings.HasPrefix(b, "220 ") {
		c.t.Fatalf("banner = %q, want 220", b)
	}
	if r := c.cmd("EHLO client.example.com"); !strings.HasPrefix(r, "250-") {
		c.t.Fatalf("EHLO = %q, want 250", r)
	}
}

// expectClosed reads a last reply and checks that the server then closed.
func (c *client) expectClosed(want string) {
	c.t.Helper()
	if got := c.reply(); got != want {
		c.t.Errorf("last reply = %q, want %q", got, want)
	}
	c.expectEOF()
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// expectReplies reads consecutive replies.
func (c *client) expectReplies(want ...string) {
	c.t.Helper()
	for i, w := range want {
		if got := c.reply(); !matchReply(got, w) {
			c.t.Errorf("reply %d = %q, want %q", i, got, w)
		}
	}
}

var (
	_ Backend     = (*testBackend)(nil)
	_ Session     = (*testSession)(nil)
	_ AuthSession = (*testAuthSession)(nil)
	_ TLSSession  = tlsRefuser{}
	_ ProtocolLog = (*eventLog)(nil)
)
