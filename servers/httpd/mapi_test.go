package httpd

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/mapi"
	"github.com/exsim/exsim/internal/mapiclient"
	"github.com/exsim/exsim/internal/ntlm"
)

// ntlmStore is fakeStore with Integrated Windows authentication, as the
// roles' backend has it: MAPI/HTTP accepts nothing else.
type ntlmStore struct {
	*fakeStore
	auth *ntlm.HTTPAuth
}

var _ IntegratedAuth = ntlmStore{}

func (s ntlmStore) IntegratedLogon(r *http.Request) (*User, string, IntegratedStatus) {
	return fakeIntegratedLogon(s.auth, s.fakeBackend, r)
}

// mapiServer serves a fakeStore over HTTPS with NTLM.
func mapiServer(t testing.TB, o Options) (*testServer, *fakeStore) {
	t.Helper()
	fs := newFakeStore()
	srv, auth := fakeNTLM(fs.fakeBackend)
	o.RPCAuth = srv // Outlook Anywhere's DCE/RPC binds authenticate as the channels do
	if o.FQDN == "" {
		o.FQDN = labFQDN
	}
	ts := newTestServerWith(t, o, ntlmStore{fs, auth}, fs.fakeBackend, func(srv *httptest.Server) {
		srv.Config.ConnContext = auth.ConnContext
	})
	t.Cleanup(ts.handler.Close)
	return ts, fs
}

// mapiDial connects alice with the repository's client.
func mapiDial(t testing.TB, ts *testServer, onPending func(string)) *mapiclient.Session {
	t.Helper()
	hc := ts.client(false)
	hc.Timeout = 0 // NotificationWait outlasts any fixed timeout
	s, err := mapiclient.Dial(t.Context(), mapiclient.Config{URL: ts.base + "/mapi/", User: "alice@contoso.com",
		Password: "P@ssw0rd", HTTP: hc, OnPending: onPending})
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	return s
}

// TestMAPIClientSession is a client's life over MAPI/HTTP: bind to the
// address book, find the DN, Connect, Logon, list the folders and the
// Inbox, wait for mail that arrives, Disconnect.
func TestMAPIClientSession(t *testing.T) {
	ts, fs := mapiServer(t, Options{MAPINotificationWait: 5 * time.Second})
	ctx := t.Context()
	s := mapiDial(t, ts, nil)
	if s.DisplayName != "Alice Wood" || !strings.Contains(s.DN, "/cn=Recipients/cn=") {
		t.Errorf("Connect: DisplayName %q, DN %q", s.DisplayName, s.DN)
	}
	inbox, err := s.Inbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range inbox {
		subjects = append(subjects, m.Subject)
		if m.Received.IsZero() || m.From == "" || m.Size == 0 {
			t.Errorf("Inbox row %+v: missing received time, sender or size", m)
		}
	}
	if len(inbox) != 3 || !strings.Contains(strings.Join(subjects, "|"), "Quarterly report") {
		t.Fatalf("Inbox = %q, want the three fake messages", subjects)
	}
	folders, err := s.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]mapiclient.Folder{}
	for _, f := range folders {
		found[f.Name] = f
	}
	if in := found["Inbox"]; in.Total != 3 || in.Unread != 2 {
		t.Errorf("Folders: Inbox = %+v, want 3 items, 2 unread (all: %+v)", in, folders)
	}
	for _, want := range []string{"Sent Items", "Deleted Items", "Drafts", "Junk Email", "Calendar"} {
		if _, ok := found[want]; !ok {
			t.Errorf("Folders: no %q in %+v", want, folders)
		}
	}
	if err := fs.CreateFolder(ctx, "alice@contoso.com", "INBOX/Receipts"); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subfolders(ctx, found["Inbox"].ID)
	if err != nil || len(sub) != 1 || sub[0].Name != "Receipts" {
		t.Errorf("Subfolders(Inbox) = %+v, %v; want Receipts", sub, err)
	}
	es, err := s.ResolveNames(ctx, "bob@contoso.com", "nobody", "b")
	if err != nil {
		t.Fatal(err)
	}
	if es[0].DisplayName != "Bob Smith" || es[0].Address != "bob@contoso.com" || es[1] != (mapiclient.Entry{}) {
		t.Errorf("ResolveNames = %+v", es)
	}

	waited := make(chan error, 1)
	var pending bool
	go func() {
		var err error
		pending, err = s.WaitForMail(ctx)
		waited <- err
	}()
	time.Sleep(50 * time.Millisecond) // mostly lets the wait start; either order must work
	fs.deliverNew(t, "alice@contoso.com", "arrived over SMTP")
	if err := <-waited; err != nil || !pending {
		t.Fatalf("WaitForMail = %v, %v; want true", pending, err)
	}
	inbox, err = s.Inbox(ctx)
	if err != nil || len(inbox) != 4 {
		t.Fatalf("Inbox after delivery: %d rows, %v", len(inbox), err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var re *mapiclient.ResponseError
	if err := s.Ping(ctx); !errors.As(err, &re) || re.Code != mapi.RespContextNotFound {
		t.Fatalf("Ping after Disconnect = %v, want X-ResponseCode 10", err)
	}
}

// TestMAPIPendingKeepAlive: a NotificationWait that finds nothing streams
// PENDING every X-PendingPeriod and answers EventPending 0 at the end.
func TestMAPIPendingKeepAlive(t *testing.T) {
	ts, _ := mapiServer(t, Options{MAPIPendingPeriod: 10 * time.Millisecond, MAPINotificationWait: time.Second})
	var pendings atomic.Int32
	s := mapiDial(t, ts, func(req string) {
		if req == mapi.ReqNotificationWait {
			pendings.Add(1)
		}
	})
	got, err := s.WaitForMail(t.Context())
	if err != nil || got {
		t.Fatalf("WaitForMail = %v, %v; want false after the wait", got, err)
	}
	if pendings.Load() == 0 {
		t.Errorf("no PENDING line during a 1 s wait with a 10 ms pending period")
	}
}

// TestMAPISessionExpiry: a Session Context lives MAPISessionTimeout
// after its last request; PINGs keep it alive.
func TestMAPISessionExpiry(t *testing.T) {
	clock := newFakeClock()
	ts, _ := mapiServer(t, Options{MAPISessionTimeout: time.Minute, Now: clock.Now})
	ctx := t.Context()
	s := mapiDial(t, ts, nil)
	for range 5 { // 5 × 40 s idle with a PING each time: 200 s in all
		clock.Advance(40 * time.Second)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping after 40 s = %v", err)
		}
	}
	if _, err := s.Inbox(ctx); err != nil {
		t.Fatalf("Inbox after 200 s kept alive by PINGs = %v", err)
	}
	clock.Advance(61 * time.Second)
	var re *mapiclient.ResponseError
	if _, err := s.Inbox(ctx); !errors.As(err, &re) || re.Code != mapi.RespContextNotFound {
		t.Fatalf("Inbox after 61 s idle = %v, want X-ResponseCode 10", err)
	}
}

// BenchmarkMAPIInbox is one Inbox listing of 100 messages by the
// repository's client over HTTPS with NTLM on loopback: an Execute of
// RopOpenFolder, RopGetContentsTable, RopSetColumns and RopQueryRows, and
// one of two RopRelease. The numbers are in docs/PERFORMANCE.md.
func BenchmarkMAPIInbox(b *testing.B) {
	ts, fs := mapiServer(b, Options{})
	alice := fs.find("alice@contoso.com")
	for i := len(alice.folders[FolderInbox]); i < 100; i++ {
		fs.deliver(alice, FolderInbox, time.Date(2026, 12, 5, 8, 0, i, 0, time.UTC), false,
			"Carol <carol@fabrikam.com>", "message "+strconv.Itoa(i), "text/plain", "", "hello\r\n")
	}
	s := mapiDial(b, ts, nil)
	b.ResetTimer()
	for b.Loop() {
		rows, err := s.Inbox(b.Context())
		if err != nil || len(rows) != 100 {
			b.Fatalf("Inbox = %d rows, %v", len(rows), err)
		}
	}
}
