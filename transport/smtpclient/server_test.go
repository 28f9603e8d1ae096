package smtpclient

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/certs/certstest"
	"github.com/exsim/exsim/servers/smtpd"
)

// The tests talk to exsim's own SMTP server (servers/smtpd) on
// 127.0.0.1:0, as the client does in the lab.

// lab is the CA and the server certificate of ex02.contoso.com.
type lab struct {
	ca   *certs.CA
	cert tls.Certificate
}

func newLab(t *testing.T) *lab {
	t.Helper()
	ca := certstest.CA(t, "Contoso")
	return &lab{ca: ca, cert: certstest.Issue(t, ca, certs.Identity{Name: "EX02", FQDN: "ex02.contoso.com"})}
}

// clientTLS verifies ex02.contoso.com against the lab CA.
func (l *lab) clientTLS() *tls.Config { return l.ca.ClientTLS("ex02.contoso.com", nil) }

// serverOptions say how the test server behaves.
type serverOptions struct {
	starttls bool // offer STARTTLS
	implicit bool // TLS from the first byte
	users    map[string]string
	reject   map[string]*smtpd.Reply // RCPT replies by recipient
	mailErr  *smtpd.Reply            // MAIL reply
}

// txn is one transaction the server accepted.
type txn struct {
	from  string
	mail  smtpd.MailOptions
	rcpts []string
	ropts []smtpd.RcptOptions
	body  string
}

// testServer records what the client did.
type testServer struct {
	addr string
	o    serverOptions

	mu    sync.Mutex
	helo  []string
	tls   []bool
	auth  []string
	txns  []txn
	conns int
}

func startServer(t *testing.T, l *lab, o serverOptions) *testServer {
	t.Helper()
	ts := &testServer{o: o}
	opts := smtpd.Options{Hostname: "ex02.contoso.com", Persona: smtpd.PersonaFrontend, RequireTLSForAuth: true,
		Limits: smtpd.Limits{TarpitInterval: -1}}
	if o.starttls {
		opts.TLSConfig = l.ca.ServerTLS(l.cert)
	}
	srv := smtpd.NewServer(smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		ts.mu.Lock()
		ts.conns++
		ts.mu.Unlock()
		return &testSession{s: ts, c: c}, nil
	}), opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicit {
		ln = tls.NewListener(ln, l.ca.ServerTLS(l.cert))
	}
	ts.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ts
}

func (ts *testServer) transactions() []txn {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]txn(nil), ts.txns...)
}

type testSession struct {
	s   *testServer
	c   *smtpd.Conn
	cur txn
}

func (ss *testSession) Mail(from string, o *smtpd.MailOptions) error {
	ss.s.mu.Lock()
	ss.s.helo = append(ss.s.helo, ss.c.HeloName())
	ss.s.tls = append(ss.s.tls, ss.c.TLS() != nil)
	ss.s.auth = append(ss.s.auth, ss.c.AuthIdentity())
	ss.s.mu.Unlock()
	if ss.s.o.mailErr != nil {
		return ss.s.o.mailErr
	}
	ss.cur = txn{from: from, mail: *o}
	return nil
}

func (ss *testSession) Rcpt(to string, o *smtpd.RcptOptions) error {
	if r := ss.s.o.reject[to]; r != nil {
		return r
	}
	ss.cur.rcpts = append(ss.cur.rcpts, to)
	ss.cur.ropts = append(ss.cur.ropts, *o)
	return nil
}

func (ss *testSession) Data(r io.Reader) (*smtpd.Reply, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	ss.cur.body = string(b)
	ss.s.mu.Lock()
	ss.s.txns = append(ss.s.txns, ss.cur)
	ss.s.mu.Unlock()
	return &smtpd.Reply{Code: 250, Enhanced: "2.6.0", Text: "<test@ex02.contoso.com> Queued mail for delivery"}, nil
}

func (ss *testSession) Reset()  { ss.cur = txn{} }
func (ss *testSession) Logout() {}

func (ss *testSession) AuthMechanisms() []string {
	if ss.s.o.users == nil {
		return nil
	}
	return []string{"LOGIN", "PLAIN"}
}

func (ss *testSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if p, ok := ss.s.o.users[user]; !ok || p != pass {
			return &smtpd.Reply{Code: 535, Enhanced: "5.7.3", Text: "Authentication unsuccessful"}
		}
		ss.c.SetAuthIdentity(user)
		return nil
	}
	if mech == "LOGIN" {
		return smtpd.NewLoginServer(check), nil
	}
	return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
}

var _ smtpd.AuthSession = (*testSession)(nil)

// dial connects to the test server.
func dial(t *testing.T, ts *testServer) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
