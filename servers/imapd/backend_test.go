package imapd

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/certs/certstest"
	"github.com/exsim/exsim/internal/membudget"
	"github.com/exsim/exsim/servers/internal/servertest"
	"github.com/exsim/exsim/store"
)

// dialProxy logs alice on through EX02's frontend (STARTTLS on 143), which
// relays to EX01's backend.
func (l *lab) dialProxy(t *testing.T, handler *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialStartTLS(l.fe143, &imapclient.Options{TLSConfig: l.clientTLS, UnilateralDataHandler: handler})
	if err != nil {
		t.Fatalf("DialStartTLS = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(`CONTOSO\alice`, password).Wait(); err != nil {
		t.Fatalf("Login = %v", err)
	}
	return c
}

func TestBackendThroughFrontend(t *testing.T) {
	l := newLab(t, labOptions{})
	for _, s := range []string{"one", "two", "three"} {
		l.deliver(t, "alice@contoso.com", "message "+s)
	}
	c := l.dialProxy(t, nil)

	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 3 || sel.UIDNext != 4 || sel.UIDValidity == 0 {
		t.Fatalf("Select(INBOX) = %+v, %v", sel, err)
	}

	// Metadata, envelope and structure without touching \Seen.
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}},
	}).Collect()
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Fetch(1:3) = %d messages, %v", len(msgs), err)
	}
	m := msgs[1]
	if m.UID != 2 || m.Envelope == nil || m.Envelope.Subject != "message two" || len(m.Envelope.From) != 1 ||
		m.Envelope.From[0].Host != "fabrikam.com" || m.RFC822Size == 0 || slices.Contains(m.Flags, imap.FlagSeen) {
		t.Errorf("Fetch(2) = %+v", m)
	}
	if bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.Type != "text" || bs.Subtype != "plain" {
		t.Errorf("BODYSTRUCTURE = %#v, want text/plain", m.BodyStructure)
	}
	if got := string(m.FindBodySection(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}})); got != "Subject: message two\r\n\r\n" {
		t.Errorf("BODY[HEADER.FIELDS (SUBJECT)] = %q", got)
	}

	// BODY[] sets \Seen and reports it; partial fetch.
	full, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}, {Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 7, Size: 4}}}}).Collect()
	if err != nil || len(full) != 1 {
		t.Fatalf("Fetch(1 BODY[]) = %v", err)
	}
	if body := string(full[0].FindBodySection(&imap.FetchItemBodySection{})); !strings.Contains(body, "Hello, this is message one.") {
		t.Errorf("BODY[] = %q", body)
	}
	if got := string(full[0].FindBodySection(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 7, Size: 4}})); got != "this" {
		t.Errorf("BODY[TEXT]<7.4> = %q, want %q", got, "this")
	}
	if !slices.Contains(full[0].Flags, imap.FlagSeen) {
		t.Errorf("flags after BODY[] = %v, want \\Seen reported", full[0].Flags)
	}

	search := func(kind string, crit *imap.SearchCriteria) []uint32 {
		t.Helper()
		var res *imap.SearchData
		var err error
		if kind == "uid" {
			res, err = c.UIDSearch(crit, nil).Wait()
		} else {
			res, err = c.Search(crit, nil).Wait()
		}
		if err != nil {
			t.Fatalf("Search(%+v) = %v", crit, err)
		}
		if kind == "uid" {
			var out []uint32
			for _, u := range res.AllUIDs() {
				out = append(out, uint32(u))
			}
			return out
		}
		return res.AllSeqNums()
	}
	for _, tc := range []struct {
		kind string
		crit *imap.SearchCriteria
		want []uint32
	}{
		{"seq", &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3}},
		{"seq", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "TWO"}}}, []uint32{2}},
		{"uid", &imap.SearchCriteria{Body: []string{"message three"}}, []uint32{3}},
		{"seq", &imap.SearchCriteria{Text: []string{"fabrikam"}}, []uint32{1, 2, 3}},
		{"seq", &imap.SearchCriteria{Larger: 100000}, nil},
		{"uid", &imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(2, 3)}, Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}, []uint32{2, 3}},
	} {
		if got := search(tc.kind, tc.crit); !slices.Equal(got, tc.want) {
			t.Errorf("%s SEARCH %+v = %v, want %v", tc.kind, tc.crit, got, tc.want)
		}
	}

	// Exchange keeps $MDNSent but no other keyword (PERMANENTFLAGS has no \*).
	stored, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, imap.FlagMDNSent, "$Work"}}, nil).Collect()
	if err != nil || len(stored) != 1 || !slices.Contains(stored[0].Flags, imap.FlagFlagged) || !slices.Contains(stored[0].Flags, imap.FlagMDNSent) || slices.Contains(stored[0].Flags, "$Work") {
		t.Errorf("Store(+FLAGS \\Flagged $MDNSent $Work) = %+v, %v, want \\Flagged and $MDNSent only", stored, err)
	}

	cp, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil || cp.UIDValidity == 0 || cp.SourceUIDs.String() != "1:2" || cp.DestUIDs.String() != "1:2" {
		t.Errorf("Copy = %+v, %v", cp, err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nope").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("Copy to missing folder = %v, want TRYCREATE", err)
	}
	mv, err := c.Move(imap.SeqSetNum(3), "Deleted Items").Wait()
	if err != nil || mv.SourceUIDs.String() != "3" || mv.DestUIDs.String() != "1" {
		t.Errorf("Move = %+v, %v", mv, err)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Errorf("after MOVE the client counts %d messages, want 2", n)
	}

	for _, box := range []string{"Sent Items", "Drafts", "Deleted Items"} {
		raw := "From: alice@contoso.com\r\nTo: bob@contoso.com\r\nSubject: to " + box + "\r\n\r\nbody\r\n"
		cmd := c.Append(box, int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, imap.FlagDraft}, Time: time.Date(2024, 3, 29, 10, 0, 0, 0, time.UTC)})
		cmd.Write([]byte(raw))
		cmd.Close()
		a, err := cmd.Wait()
		if err != nil || a.UID == 0 || a.UIDValidity == 0 {
			t.Errorf("Append(%s) = %+v, %v", box, a, err)
		}
	}
	st, err := c.Status("Deleted Items", &imap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true, UIDValidity: true}).Wait()
	if err != nil || *st.NumMessages != 2 || st.UIDNext != 3 || *st.NumUnseen != 1 {
		t.Errorf("Status(Deleted Items) = %+v, %v", st, err)
	}

	// EXPUNGE and UID EXPUNGE.
	if err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.UIDExpunge(imap.UIDSetNum(2)).Collect(); err != nil || !slices.Equal(got, []uint32{2}) {
		t.Errorf("UID EXPUNGE 2 = %v, %v", got, err)
	}
	if got, err := c.Expunge().Collect(); err != nil || !slices.Equal(got, []uint32{1}) {
		t.Errorf("EXPUNGE = %v, %v", got, err)
	}

	// Folders: LIST with children and special-use, CREATE/RENAME/DELETE.
	for _, op := range []struct {
		name string
		err  error
	}{
		{"create", c.Create("Projects/2024", nil).Wait()},
		{"subscribe", c.Subscribe("Projects/2024").Wait()},
		{"rename", c.Rename("Projects/2024", "Projects/2025", nil).Wait()},
	} {
		if op.err != nil {
			t.Errorf("%s = %v", op.name, op.err)
		}
	}
	if err := c.Delete("Projects").Wait(); err == nil || !strings.Contains(err.Error(), "HASCHILDREN") {
		t.Errorf("Delete(Projects) = %v, want HASCHILDREN", err)
	}
	if err := c.Delete("Sent Items").Wait(); err == nil {
		t.Errorf("Delete(Sent Items) succeeded")
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{}
	for _, d := range list {
		attrs[d.Mailbox] = fmt.Sprint(d.Attrs)
	}
	for box, want := range map[string]string{
		"INBOX": `[\HasNoChildren]`, "Sent Items": `[\HasNoChildren \Sent]`, "Drafts": `[\HasNoChildren \Drafts]`,
		"Deleted Items": `[\HasNoChildren \Trash]`, "Junk Email": `[\HasNoChildren \Junk]`, "Archive": `[\HasNoChildren \Archive]`,
		"Projects": `[\HasChildren]`, "Projects/2025": `[\HasNoChildren]`, "Outbox": `[\HasNoChildren]`,
	} {
		if attrs[box] != want {
			t.Errorf("LIST %q attrs = %q, want %q", box, attrs[box], want)
		}
	}
	if top, _ := c.List("", "%", nil).Collect(); len(top) != len(list)-1 {
		t.Errorf(`LIST "" %% = %d mailboxes, want %d`, len(top), len(list)-1)
	}
	if ns, err := c.Namespace().Wait(); err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("Namespace = %+v, %v", ns, err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Errorf("Unselect = %v", err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("Logout = %v", err)
	}
}

// IDLE sees a delivery, and a second session sees the first one's changes.
func TestIdleAndOtherSessions(t *testing.T) {
	l := newLab(t, labOptions{})
	l.deliver(t, "alice@contoso.com", "first")

	exists := make(chan uint32, 10)
	fetched := make(chan string, 10)
	expunged := make(chan uint32, 10)
	watcher := l.dialProxy(t, &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			b, _ := m.Collect()
			fetched <- fmt.Sprint(b.SeqNum, b.Flags)
		},
		Expunge: func(seq uint32) { expunged <- seq },
	})
	if _, err := watcher.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := watcher.Idle()
	if err != nil {
		t.Fatalf("Idle = %v", err)
	}
	l.deliver(t, "alice@contoso.com", "second")
	idleReport(t, exists, 2, "EXISTS of the delivery")

	other := l.dialProxy(t, nil)
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := other.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	idleReport(t, fetched, `1 [\Deleted]`, "FETCH of the flag change")
	if _, err := other.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	idleReport(t, expunged, 1, "EXPUNGE")
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Errorf("IDLE done = %v", err)
	}
	if n := watcher.Mailbox().NumMessages; n != 1 {
		t.Errorf("watcher counts %d messages, want 1", n)
	}
}

// idleReport waits for what IDLE reports on ch and checks that it is want.
func idleReport[T comparable](t *testing.T, ch <-chan T, want T, what string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Errorf("IDLE %s = %v, want %v", what, got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("IDLE did not report the %s", what)
	}
}

// UIDVALIDITY and UIDs survive a restart of the store and backend.
func TestUIDValidityStableAcrossRestart(t *testing.T) {
	l := newLab(t, labOptions{upstream: &redialUpstream{}})
	l.frontend.opts.Upstream.(*redialUpstream).l = l
	l.deliver(t, "alice@contoso.com", "kept")
	c := l.dialProxy(t, nil)
	before, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	c.Close()

	l.restartStoreAndBackend(t)
	l.deliver(t, "alice@contoso.com", "after restart")
	c2 := l.dialProxy(t, nil)
	after, err := c2.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if after.UIDValidity != before.UIDValidity || after.UIDNext != 3 || after.NumMessages != 2 {
		t.Errorf("after restart SELECT = %+v, want UIDVALIDITY %d, UIDNEXT 3", after, before.UIDValidity)
	}
}

// redialUpstream follows the lab's current backend address.
type redialUpstream struct{ l *lab }

func (u *redialUpstream) DialBackend(ctx context.Context, account string) (net.Conn, error) {
	ex02, _ := u.l.ca.Issue(certs.Identity{Name: "EX02", FQDN: "ex02.contoso.com"})
	return tlsUpstream{addr: u.l.beAddr, cfg: u.l.ca.ClientTLS("ex01.contoso.com", &ex02)}.DialBackend(ctx, account)
}

// FlavorPlain is the lab Internet server's IMAP service: go-imap's own
// greeting, SPECIAL-USE, served directly on 143 (STARTTLS) and 993.
func TestPlainFlavorDirect(t *testing.T) {
	ca := certstest.CA(t, "Fabrikam")
	cert := servertest.Issue(t, ca, "INET01", "mx.fabrikam.com")
	st, err := store.Open(filepath.Join(t.TempDir(), "INET01", "mailboxes.db"), store.Options{Folders: store.BasicFolders(), AutoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Deliver(context.Background(), []byte("Subject: hi\r\n\r\nhello\r\n"), "carol@fabrikam.com"); err != nil {
		t.Fatal(err)
	}
	b, err := NewBackend(BackendOptions{Store: st, Auth: testAuth{}, Flavor: FlavorPlain, TLSConfig: ca.ServerTLS(cert), Server: "INET01", Listener: "IMAP"})
	if err != nil {
		t.Fatal(err)
	}
	addr143 := servertest.Start(t, b, nil, net.ErrClosed)
	addr993 := servertest.Start(t, b, ca.ServerTLS(cert), net.ErrClosed)
	cfg := ca.ClientTLS("mx.fabrikam.com", nil)

	raw := dialText(t, addr143, nil)
	if g := raw.recv(); !strings.HasPrefix(g, "* OK [CAPABILITY IMAP4rev1") || !strings.Contains(g, "STARTTLS") || !strings.Contains(g, "LOGINDISABLED") {
		t.Errorf("plain greeting = %q", g)
	}
	for name, dial := range map[string]func() (*imapclient.Client, error){
		"143": func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(addr143, &imapclient.Options{TLSConfig: cfg})
		},
		"993": func() (*imapclient.Client, error) {
			return imapclient.DialTLS(addr993, &imapclient.Options{TLSConfig: cfg})
		},
	} {
		c, err := dial()
		if err != nil {
			t.Fatalf("%s: dial = %v", name, err)
		}
		if err := c.Login("carol@fabrikam.com", password).Wait(); err != nil {
			t.Fatalf("%s: Login = %v", name, err)
		}
		if !c.Caps().Has(imap.CapSpecialUse) {
			t.Errorf("%s: caps %v lack SPECIAL-USE", name, c.Caps())
		}
		list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range list {
			names = append(names, fmt.Sprintf("%s %v", d.Mailbox, d.Attrs))
		}
		if got := strings.Join(names, ", "); !strings.Contains(got, `Sent [\HasNoChildren \Sent]`) || !strings.Contains(got, `Trash [\HasNoChildren \Trash]`) {
			t.Errorf("%s: LIST = %s", name, got)
		}
		if sel, err := c.Select("inbox", nil).Wait(); err != nil || sel.NumMessages != 1 {
			t.Errorf("%s: Select(inbox) = %+v, %v", name, sel, err)
		}
		c.Logout().Wait()
		c.Close()
	}
}

// TestDeepNestingIsBAD: a command nested 100,000 parentheses deep after
// logon is a syntax error the client caused: BAD, never NO [SERVERBUG],
// and the session goes on.
func TestDeepNestingIsBAD(t *testing.T) {
	l := newLab(t, labOptions{})
	c := dialText(t, l.fe143, nil)
	c.recv()
	c.cmd("a1 STARTTLS")
	c.startTLS(l.clientTLS)
	if r := c.cmd("a2 LOGIN alice@contoso.com " + password); !strings.HasPrefix(r, "a2 OK") {
		t.Fatalf("LOGIN = %q", r)
	}
	c.cmd("a3 SELECT INBOX")
	const depth = 100000
	for _, cmd := range []string{
		"a4 SEARCH " + strings.Repeat("(", depth) + "ALL" + strings.Repeat(")", depth),
		"a5 FETCH 1 " + strings.Repeat("(", depth) + "FLAGS" + strings.Repeat(")", depth),
		"a6 STORE 1 +FLAGS " + strings.Repeat("(", depth) + "\\Seen" + strings.Repeat(")", depth),
	} {
		tag, _, _ := strings.Cut(cmd, " ")
		if r := c.cmd(cmd); !strings.HasPrefix(r, tag+" BAD") {
			t.Errorf("%s nested %d deep = %q, want BAD", tag, depth, r)
		}
	}
	// Short enough for MaxCommandSize, still deeper than maxNesting.
	deep := "a7 SEARCH " + strings.Repeat("(", maxNesting+1) + "ALL" + strings.Repeat(")", maxNesting+1)
	if r := c.cmd(deep); r != "a7 BAD Command Argument Error. 11" {
		t.Errorf("SEARCH nested %d deep = %q, want BAD Command Argument Error. 11", maxNesting+1, r)
	}
	if r := c.cmd(`a8 SEARCH (((SUBJECT "((((" ALL)))`); !strings.HasPrefix(r, "a8 OK") {
		t.Errorf("SEARCH nested 3 deep = %q, want OK", r)
	}
	if r := c.cmd("a9 NOOP"); !strings.HasPrefix(r, "a9 OK") {
		t.Errorf("NOOP after the deep commands = %q", r)
	}
}

// TestAppendOverBudget: an APPEND literal the process-wide in-flight
// budget cannot hold is answered NO [LIMIT] without being stored, and the
// session goes on (the literal was read past).
func TestAppendOverBudget(t *testing.T) {
	l := newLab(t, labOptions{})
	c := l.dialProxy(t, nil)
	raw := "From: alice@contoso.com\r\nSubject: over budget\r\n\r\n" + strings.Repeat("body line\r\n", 1000)
	appendRaw := func() error {
		cmd := c.Append("Drafts", int64(len(raw)), nil)
		cmd.Write([]byte(raw))
		cmd.Close()
		_, err := cmd.Wait()
		return err
	}
	func() {
		defer membudget.Memory.SetMax(membudget.DefaultMemory)
		_, used, _ := membudget.Memory.Stats()
		membudget.Memory.SetMax(used)
		err := appendRaw()
		if err == nil || !strings.Contains(err.Error(), "Insufficient system resources") {
			t.Fatalf("APPEND with the budget spent = %v, want NO [LIMIT] Insufficient system resources", err)
		}
		var ierr *imap.Error
		if e, ok := err.(*imap.Error); ok {
			ierr = e
		}
		if ierr == nil || ierr.Code != imap.ResponseCodeLimit {
			t.Errorf("APPEND with the budget spent = %#v, want response code LIMIT", err)
		}
	}()
	if err := appendRaw(); err != nil {
		t.Fatalf("APPEND after the budget was given back = %v", err)
	}
	st, err := c.Status("Drafts", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Errorf("Drafts after one refused and one accepted APPEND: %+v, %v; want 1 message", st, err)
	}
}

// TestAuthenticatedIdleTimeout: a logged-on client that sends nothing for
// AuthenticatedTimeout is disconnected by the front end; one that keeps
// talking is not.
func TestAuthenticatedIdleTimeout(t *testing.T) {
	l := newLab(t, labOptions{frontend: FrontendOptions{AuthenticatedTimeout: 400 * time.Millisecond}})
	busy := l.dialProxy(t, nil)
	idle := l.dialProxy(t, nil)
	for i := 0; ; i++ {
		select {
		case <-idle.Closed():
			select {
			case <-busy.Closed():
				t.Fatal("a client sending NOOPs was disconnected too")
			default:
			}
			if err := busy.Noop().Wait(); err != nil {
				t.Fatalf("NOOP on the busy connection: %v", err)
			}
			return
		case <-time.After(100 * time.Millisecond):
			if i == 600 {
				t.Fatal("an idle logged-on client was never disconnected")
			}
			if err := busy.Noop().Wait(); err != nil {
				t.Fatalf("NOOP on the busy connection: %v", err)
			}
		}
	}
}
