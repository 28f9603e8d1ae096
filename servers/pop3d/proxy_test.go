package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/leaktest"
	"github.com/exsim/exsim/servers/internal/servertest"
)

// accountOf maps the three login forms Exchange accepts to an account.
func accountOf(login string) string {
	login = strings.ToLower(login)
	if _, u, ok := strings.Cut(login, `\`); ok {
		return u
	}
	u, _, _ := strings.Cut(login, "@")
	return u
}

// contosoAuth is the frontend's Authenticator (Active Directory).
type contosoAuth struct{ store *memStore }

func (a contosoAuth) Authenticate(ctx context.Context, user, password string) (string, error) {
	account := accountOf(user)
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	if pw, ok := a.store.passwords[account]; !ok || pw != password {
		return "", ErrLogonFailure
	}
	return account, nil
}

// contosoBackend is the backend's Backend: the same login forms.
type contosoBackend struct{ *memStore }

func (b contosoBackend) Login(ctx context.Context, user, password string) (Maildrop, error) {
	return b.memStore.Login(ctx, accountOf(user), password)
}

// labUpstream dials the POP3 Backend of EX01 with EX02's certificate, as
// Exchange servers authenticate each other.
type labUpstream struct {
	addr  string
	tls   *tls.Config
	dials atomic.Int32
}

func newUpstream(t *testing.T, addr string) *labUpstream {
	ca, _, ex02 := lab(t)
	return &labUpstream{addr: addr, tls: ca.ClientTLS("ex01.contoso.com", &ex02)}
}

func (u *labUpstream) DialBackend(ctx context.Context, account string) (net.Conn, error) {
	u.dials.Add(1)
	d := tls.Dialer{Config: u.tls}
	return d.DialContext(ctx, "tcp", u.addr)
}

// twoServers starts the POP3 Backend of EX01 (1995, implicit TLS) and the
// POP3 frontend of EX02 (110 with STLS, or 995).
func twoServers(t *testing.T, backendPersona Persona, frontendImplicit bool) (string, *memStore, *labUpstream) {
	t.Helper()
	store := aliceStore()
	bo := testOptions(t, nil)
	bo.Backend, bo.Persona = contosoBackend{store}, backendPersona
	backendAddr, _ := startServer(t, bo, true)
	up := newUpstream(t, backendAddr)
	ca, _, ex02 := lab(t)
	fo := Options{
		ServerName:           "EX02",
		TLSConfig:            ca.ServerTLS(ex02),
		Authenticator:        contosoAuth{store},
		Upstream:             up,
		LogonFailureDelay:    time.Millisecond,
		MaxLogonFailureDelay: time.Millisecond,
	}
	frontendAddr, _ := startServer(t, fo, frontendImplicit)
	return frontendAddr, store, up
}

// noLeak fails the test if goroutines started during it outlive its
// cleanups (the servers' Close waits for their sessions).
func noLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { leaktest.WaitGoroutines(t, before) })
}

func TestProxy(t *testing.T) {
	noLeak(t)
	addr, store, up := twoServers(t, ExchangePersona(), false)
	c := dialPOP(t, addr, false)
	if g := c.line(); g != "+OK The Microsoft Exchange POP3 service is ready." {
		t.Fatalf("greeting = %q", g)
	}
	run(t, c, []step{
		{"CAPA", capaClear},
		{"USER CONTOSO\\alice", l(eState)},
		{"STAT", l(eState)},
		{"STLS", l("+OK Begin TLS negotiation.")},
		{"CAPA", capaTLS},
		{"USER CONTOSO\\alice", l("+OK")},
		{"PASS wrong", l(eLogon)},
		{"AUTH NTLM", l("+ ")},
		{"*", l("-ERR Authentication canceled.")},
		{"USER CONTOSO\\alice", l("+OK")},
		{"PASS P@ssw0rd", l(okLogon)},
		// From here on the backend answers.
		{"STAT", l("+OK 3 " + itoa(size1+size2+size3))},
		{"RETR 2", l("+OK", "Subject: two", "", "line1", "line2", "..", "line4", ".")},
		{"DELE 1", l("+OK Marked to be deleted.")},
		{"QUIT", l(okQuit)},
	})
	if !c.closed() {
		t.Error("frontend kept the connection after the backend closed")
	}
	waitClosed(t, store, "alice")
	if got := store.uids("alice"); !slices.Equal(got, []string{"alice-2", "alice-3"}) {
		t.Errorf("backend uids after QUIT = %v, want message 1 removed", got)
	}
	if n := up.dials.Load(); n != 1 {
		t.Errorf("backend dialed %d times, want 1 (failed logons never reach it)", n)
	}
}

// TestProxyImplicitPipelined: on 995 a client pipelining behind its logon
// gets its commands through to the backend.
func TestProxyImplicitPipelined(t *testing.T) {
	noLeak(t)
	addr, _, _ := twoServers(t, ExchangePersona(), true)
	c := greeted(t, addr, true)
	c.send("USER alice@contoso.com\r\nPASS P@ssw0rd\r\nUIDL 3\r\nNOOP")
	for _, want := range []string{"+OK", okLogon, "+OK 3 alice-3", "+OK"} {
		if got := c.line(); got != want {
			t.Fatalf("pipelined reply = %q, want %q", got, want)
		}
	}
}

// TestProxyBackendWithoutSASL: a backend that offers only USER gets USER/PASS,
// and long credentials use AUTH PLAIN's continuation form.
func TestProxyBackendLogonForms(t *testing.T) {
	noSASL := ExchangePersona()
	noSASL.SASL = nil
	long := strings.Repeat("p", 200)
	for _, tt := range []struct {
		name     string
		persona  Persona
		password string
	}{
		{"user/pass", noSASL, "P@ssw0rd"},
		{"auth plain continuation", ExchangePersona(), long},
	} {
		t.Run(tt.name, func(t *testing.T) {
			noLeak(t)
			addr, store, _ := twoServers(t, tt.persona, true)
			store.addUser("dave", tt.password, "Subject: d\r\n\r\nd\r\n")
			c := greeted(t, addr, true)
			run(t, c, []step{{"USER dave", l("+OK")}, {"PASS " + tt.password, l(okLogon)}, {"UIDL", l("+OK", "1 dave-1", ".")}})
		})
	}
}

func TestProxyBackendUnavailable(t *testing.T) {
	noLeak(t)
	store := aliceStore()
	dead := servertest.Listen(t)
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there any more
	fo := testOptions(t, nil)
	fo.Backend, fo.Authenticator, fo.Upstream = nil, contosoAuth{store}, newUpstream(t, deadAddr)
	c := serveAndGreet(t, fo, true)
	run(t, c, []step{
		{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l("-ERR Server Unavailable. 21")},
		{"QUIT", l(okQuit)},
	})
}

// refusingBackend accepts TCP and TLS but refuses every logon: a frontend
// and backend that disagree.
func TestProxyBackendRefuses(t *testing.T) {
	noLeak(t)
	addr, store, _ := twoServers(t, ExchangePersona(), true)
	store.mu.Lock()
	store.loginErr = ErrLogonFailure
	store.mu.Unlock()
	c := greeted(t, addr, true)
	run(t, c, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l("-ERR Server Unavailable. 21")}})
}

// TestProxyDrop: a client that vanishes mid-session commits nothing on the
// backend, and closing the frontend ends the relay at once.
func TestProxyDrop(t *testing.T) {
	noLeak(t)
	addr, store, _ := twoServers(t, ExchangePersona(), true)
	c := greeted(t, addr, true)
	run(t, c, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}, {"DELE 1", l("+OK Marked to be deleted.")}})
	c.conn.Close()
	waitClosed(t, store, "alice")
	if got := store.uids("alice"); len(got) != 3 {
		t.Errorf("backend uids after a dropped client = %v, want all three", got)
	}
}

func TestProxyFrontendClose(t *testing.T) {
	noLeak(t)
	store := aliceStore()
	bo := testOptions(t, nil)
	bo.Backend = contosoBackend{store}
	backendAddr, _ := startServer(t, bo, true)
	fo := testOptions(t, nil)
	fo.Backend, fo.Authenticator, fo.Upstream = nil, contosoAuth{store}, newUpstream(t, backendAddr)
	addr, frontend := startServer(t, fo, true)
	c := greeted(t, addr, true)
	run(t, c, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}})
	closed := make(chan error, 1)
	go func() { closed <- frontend.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close() = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("frontend Close() blocked by a relayed session")
	}
	waitClosed(t, store, "alice")
}

func TestOptionsValidation(t *testing.T) {
	store := newMemStore()
	for _, tt := range []struct {
		name string
		o    Options
	}{
		{"nothing", Options{}},
		{"both modes", Options{Backend: store, Authenticator: contosoAuth{store}, Upstream: &labUpstream{}}},
		{"authenticator alone", Options{Authenticator: contosoAuth{store}}},
	} {
		err := NewServer(tt.o).Serve(servertest.Listen(t))
		if err == nil || errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve(%s) = %v, want a configuration error", tt.name, err)
		}
	}
}
