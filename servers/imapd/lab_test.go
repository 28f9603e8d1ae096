package imapd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/servers/internal/servertest"
	"github.com/exsim/exsim/store"
)

const password = "P@ssw0rd"

// testAuth accepts the logon forms of SPEC.md section 1.
type testAuth struct{}

func (testAuth) Authenticate(_ context.Context, user, pass string) (string, error) {
	u := strings.ToLower(user)
	u = strings.TrimPrefix(u, `contoso\`)
	if !strings.Contains(u, "@") {
		u += "@contoso.com"
	}
	if pass != password || (u != "alice@contoso.com" && u != "bob@contoso.com" && u != "carol@fabrikam.com") {
		return "", ErrAuthFailed
	}
	return u, nil
}

// tlsUpstream dials EX01's backend with TLS, as the lead's Upstream does.
type tlsUpstream struct {
	addr string
	cfg  *tls.Config
}

func (u tlsUpstream) DialBackend(ctx context.Context, _ string) (net.Conn, error) {
	d := tls.Dialer{Config: u.cfg}
	return d.DialContext(ctx, "tcp", u.addr)
}

// lab is EX01's IMAP4 Backend (store + 1993) and EX02's IMAP4 frontend
// (143 and 993) proxying to it, all on 127.0.0.1.
type lab struct {
	ca        *certs.CA
	caFile    string
	storePath string
	st        *store.Store
	backend   *Backend
	beAddr    string
	frontend  *Frontend
	fe143     string
	fe993     string
	clientTLS *tls.Config // trusts the lab CA, expects ex02
}

type labOptions struct {
	frontend FrontendOptions // Auth, Upstream, TLSConfig filled in
	upstream Upstream        // nil: the real backend
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func newLab(t testing.TB, o labOptions) *lab {
	t.Helper()
	ca := servertest.CA(t)
	ex01 := servertest.Issue(t, ca, "EX01", "ex01.contoso.com")
	ex02 := servertest.Issue(t, ca, "EX02", "ex02.contoso.com")
	dir := t.TempDir()
	l := &lab{ca: ca, caFile: filepath.Join(dir, "ca.pem"), storePath: filepath.Join(dir, "EX01", "mailboxes.db")}
	if err := os.WriteFile(l.caFile, ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	l.openStore(t)
	for _, a := range []string{"alice@contoso.com", "bob@contoso.com"} {
		if _, err := l.st.CreateMailbox(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	l.startBackend(t, ca.ServerTLS(ex01))

	up := o.upstream
	if up == nil {
		up = tlsUpstream{addr: l.beAddr, cfg: ca.ClientTLS("ex01.contoso.com", &ex02)}
	}
	fo := o.frontend
	fo.Auth, fo.Upstream, fo.TLSConfig = testAuth{}, up, ca.ServerTLS(ex02)
	fo.Server, fo.Logger = "EX02", testLogger(t)
	if fo.LogonFailureDelay == 0 {
		fo.LogonFailureDelay = -1
	}
	var err error
	l.frontend, err = NewFrontend(fo)
	if err != nil {
		t.Fatal(err)
	}
	l.fe143 = servertest.Start(t, l.frontend, nil, net.ErrClosed)
	l.fe993 = servertest.Start(t, l.frontend, fo.TLSConfig, net.ErrClosed)
	l.clientTLS = ca.ClientTLS("ex02.contoso.com", nil)
	return l
}

func (l *lab) openStore(t testing.TB) {
	t.Helper()
	st, err := store.Open(l.storePath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.st = st
	t.Cleanup(func() { st.Close() })
}

func (l *lab) startBackend(t testing.TB, cfg *tls.Config) {
	t.Helper()
	b, err := NewBackend(BackendOptions{Store: l.st, Auth: testAuth{}, Server: "EX01", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	l.backend = b
	l.beAddr = servertest.Start(t, b, cfg, net.ErrClosed)
}

// restartStoreAndBackend closes EX01's backend and store and brings both
// back on the same data file, as a process restart does. The new backend
// listens on a new address (l.beAddr).
func (l *lab) restartStoreAndBackend(t *testing.T) {
	t.Helper()
	l.backend.Close()
	if err := l.st.Close(); err != nil {
		t.Fatal(err)
	}
	l.openStore(t)
	ex01 := servertest.Issue(t, l.ca, "EX01", "ex01.contoso.com")
	l.startBackend(t, l.ca.ServerTLS(ex01))
}

func (l *lab) deliver(t testing.TB, rcpt, subject string) {
	t.Helper()
	msg := "From: Carol <carol@fabrikam.com>\r\nTo: " + rcpt + "\r\nSubject: " + subject +
		"\r\nDate: Fri, 29 Mar 2024 23:50:41 +0100\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@fabrikam.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, this is " + subject + ".\r\n"
	ds, err := l.st.Deliver(context.Background(), []byte(msg), rcpt)
	if err != nil || ds[0].Err != nil {
		t.Fatalf("Deliver(%s) = %v %v", rcpt, ds, err)
	}
}
