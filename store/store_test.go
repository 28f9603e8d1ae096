package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func openTest(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "mailboxes.db")
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testMsg(subject string) []byte {
	return []byte("From: Carol <carol@fabrikam.com>\r\nTo: alice@contoso.com\r\nSubject: " + subject +
		"\r\nDate: Fri, 29 Mar 2024 23:50:41 +0100\r\nMessage-ID: <" + subject + "@fabrikam.com>\r\n\r\nHello " + subject + "\r\n")
}

func mustMailbox(t *testing.T, s *Store, addr string) *Mailbox {
	t.Helper()
	m, err := s.CreateMailbox(context.Background(), addr)
	if err != nil {
		t.Fatalf("CreateMailbox(%s) = %v", addr, err)
	}
	return m
}

func mustFolder(t *testing.T, m *Mailbox, name string) *Folder {
	t.Helper()
	f, err := m.Folder(name)
	if err != nil {
		t.Fatalf("Folder(%q) = %v", name, err)
	}
	return f
}

func deliver(t *testing.T, s *Store, addr string, msg []byte) Delivered {
	t.Helper()
	ds, err := s.Deliver(context.Background(), msg, addr)
	if err != nil || len(ds) != 1 || ds[0].Err != nil {
		t.Fatalf("Deliver(%s) = %v, %v", addr, ds, err)
	}
	return ds[0]
}

func TestDefaultFolders(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "Alice@Contoso.com")
	if m.Address() != "alice@contoso.com" {
		t.Errorf("Address() = %q, want lower-cased", m.Address())
	}
	fs, err := m.Folders()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]FolderInfo{}
	uvs := map[uint32]bool{}
	for _, f := range fs {
		got[f.Name] = f
		if f.UIDValidity == 0 || uvs[f.UIDValidity] {
			t.Errorf("folder %s UIDVALIDITY %d is zero or repeated", f.Name, f.UIDValidity)
		}
		uvs[f.UIDValidity] = true
	}
	if fs[0].Name != Inbox {
		t.Errorf("Folders()[0] = %q, want INBOX first", fs[0].Name)
	}
	for _, want := range ExchangeFolders() {
		f, ok := got[want.Name]
		if !ok {
			t.Errorf("default folder %q missing", want.Name)
			continue
		}
		if f.SpecialUse != want.SpecialUse || !f.Default || !f.Subscribed || f.UIDNext != 1 {
			t.Errorf("folder %q = %+v, want special-use %q, default, subscribed, UIDNEXT 1", want.Name, f, want.SpecialUse)
		}
	}
	// Idempotent, and case-insensitive lookups.
	if _, err := s.CreateMailbox(context.Background(), "alice@contoso.com"); err != nil {
		t.Fatalf("second CreateMailbox = %v", err)
	}
	for _, name := range []string{"inbox", "Inbox", "sent items", "SENT ITEMS/"} {
		if _, err := m.Folder(name); err != nil {
			t.Errorf("Folder(%q) = %v", name, err)
		}
	}
	if f, err := m.SpecialFolder(SpecialSent); err != nil || f.Name() != "Sent Items" {
		t.Errorf("SpecialFolder(\\Sent) = %v, %v; want Sent Items", f, err)
	}
	if _, err := m.SpecialFolder(`\All`); !errors.Is(err, ErrNoFolder) {
		t.Errorf("SpecialFolder(\\All) = %v, want ErrNoFolder", err)
	}
	if _, err := s.Mailbox("nobody@contoso.com"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("Mailbox(nobody) = %v, want ErrNoMailbox", err)
	}
}

func TestDeliverReadAndCounts(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "alice@contoso.com")
	mustMailbox(t, s, "bob@contoso.com")
	msg := testMsg("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=")
	ds, err := s.Deliver(context.Background(), msg, "ALICE@contoso.com", "bob@contoso.com", "nobody@contoso.com")
	if err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	if ds[0].UID != 1 || ds[0].Err != nil || ds[1].UID != 1 || ds[1].Err != nil {
		t.Errorf("Deliver = %+v, want UID 1 for alice and bob", ds)
	}
	if !errors.Is(ds[2].Err, ErrNoMailbox) {
		t.Errorf("Deliver(nobody).Err = %v, want ErrNoMailbox", ds[2].Err)
	}
	inbox := mustFolder(t, m, Inbox)
	msgs, err := inbox.Messages()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Messages() = %v, %v", msgs, err)
	}
	mi := msgs[0]
	if mi.Subject != "Grüße" || mi.From != "Carol <carol@fabrikam.com>" || mi.Size != int64(len(msg)) || mi.Seen() ||
		mi.Date.IsZero() || mi.InternalDate.IsZero() || mi.MessageID == "" {
		t.Errorf("Messages()[0] = %+v", mi)
	}
	body, err := inbox.Body(1)
	if err != nil || string(body) != string(msg) {
		t.Errorf("Body(1) = %q, %v", body, err)
	}
	if _, err := inbox.Body(2); !errors.Is(err, ErrNoMessage) {
		t.Errorf("Body(2) = %v, want ErrNoMessage", err)
	}
	st, _ := inbox.Status()
	if st.Messages != 1 || st.Unseen != 1 || st.UIDNext != 2 || st.Size != uint64(len(msg)) {
		t.Errorf("Status() = %+v", st)
	}
	all, err := s.Mailboxes()
	if err != nil || len(all) != 2 || all[0].Address != "alice@contoso.com" || all[0].Messages != 1 {
		t.Errorf("Mailboxes() = %+v, %v", all, err)
	}
}

func TestAutoCreate(t *testing.T) {
	s := openTest(t, "", Options{AutoCreate: true, Folders: BasicFolders()})
	d := deliver(t, s, "Carol@Fabrikam.com", testMsg("x"))
	if d.UID != 1 || d.Mailbox != "carol@fabrikam.com" {
		t.Errorf("Deliver = %+v", d)
	}
	m, err := s.Mailbox("carol@fabrikam.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Folder("Sent"); err != nil {
		t.Errorf("Folder(Sent) = %v, want BasicFolders", err)
	}
}

func TestFlags(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "alice@contoso.com")
	deliver(t, s, "alice@contoso.com", testMsg("a"))
	inbox := mustFolder(t, m, Inbox)
	ctx := context.Background()
	steps := []struct {
		op         FlagOp
		flags      []string
		want       []string
		wantUnseen uint32
	}{
		{FlagsAdd, []string{`\seen`, "$Label1"}, []string{FlagSeen, "$Label1"}, 0},
		{FlagsAdd, []string{`\Flagged`, "$label1", `\Recent`}, []string{FlagSeen, FlagFlagged, "$Label1"}, 0},
		{FlagsRemove, []string{`\Seen`, "$LABEL1"}, []string{FlagFlagged}, 1},
		{FlagsSet, []string{`\Deleted`, `\Answered`, `\Draft`, "Work"}, []string{FlagAnswered, FlagDeleted, FlagDraft, "Work"}, 1},
		{FlagsSet, nil, []string{}, 1},
	}
	for _, st := range steps {
		got, err := inbox.StoreFlags(ctx, []uint32{1, 7}, st.op, st.flags)
		if err != nil || len(got) != 1 || !slices.Equal(got[0].Flags, st.want) {
			t.Errorf("StoreFlags(%v, %v) = %+v, %v, want %v", st.op, st.flags, got, err, st.want)
		}
		if info, _ := inbox.Status(); info.Unseen != st.wantUnseen {
			t.Errorf("after StoreFlags(%v, %v) unseen = %d, want %d", st.op, st.flags, info.Unseen, st.wantUnseen)
		}
	}
}

func TestRestartSurvival(t *testing.T) {
	path := filepath.Join(t.TempDir(), "EX01", "mailboxes.db")
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := mustMailbox(t, s, "alice@contoso.com")
	for i := range 3 {
		deliver(t, s, "alice@contoso.com", testMsg(fmt.Sprint("m", i)))
	}
	inbox := mustFolder(t, m, Inbox)
	if _, err := inbox.StoreFlags(ctx, []uint32{2}, FlagsAdd, []string{FlagSeen, "$Work"}); err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.StoreFlags(ctx, []uint32{3}, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if got, err := inbox.Expunge(ctx, nil); err != nil || !slices.Equal(got, []uint32{3}) {
		t.Fatalf("Expunge = %v, %v", got, err)
	}
	if _, err := m.CreateFolder(ctx, "Projects/2024"); err != nil {
		t.Fatal(err)
	}
	before, _ := m.Folders()
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if _, err := m.Folders(); !errors.Is(err, ErrClosed) {
		t.Errorf("Folders() after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Deliver(ctx, testMsg("late"), "alice@contoso.com"); !errors.Is(err, ErrClosed) {
		t.Errorf("Deliver after Close = %v, want ErrClosed", err)
	}

	s2 := openTest(t, path, Options{})
	m2, err := s2.Mailbox("alice@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := m2.Folders()
	if !slices.Equal(before, after) {
		t.Errorf("folders after restart = %+v\nwant %+v", after, before)
	}
	inbox2 := mustFolder(t, m2, Inbox)
	msgs, _ := inbox2.Messages()
	var uids []uint32
	for _, mi := range msgs {
		uids = append(uids, mi.UID)
	}
	if !slices.Equal(uids, []uint32{1, 2}) || !slices.Equal(msgs[1].Flags, []string{FlagSeen, "$Work"}) {
		t.Errorf("messages after restart = %+v", msgs)
	}
	// UIDNEXT is never reused: the expunged UID 3 stays burnt.
	if d := deliver(t, s2, "alice@contoso.com", testMsg("new")); d.UID != 4 {
		t.Errorf("Deliver after restart UID = %d, want 4", d.UID)
	}
}

func TestFolderLifecycle(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "alice@contoso.com")
	ctx := context.Background()

	fi, err := m.CreateFolder(ctx, "Projects/Alpha/")
	if err != nil || fi.Name != "Projects/Alpha" || fi.Subscribed {
		t.Fatalf("CreateFolder = %+v, %v", fi, err)
	}
	if _, err := m.Folder("projects"); err != nil {
		t.Errorf("parent not created: %v", err)
	}
	errCases := []struct {
		name string
		err  error
		do   func() error
	}{
		{"create existing (case)", ErrFolderExists, func() error { _, err := m.CreateFolder(ctx, "PROJECTS/alpha"); return err }},
		{"create empty level", ErrBadName, func() error { _, err := m.CreateFolder(ctx, "a//b"); return err }},
		{"create wildcard", ErrBadName, func() error { _, err := m.CreateFolder(ctx, "a*"); return err }},
		{"create empty", ErrBadName, func() error { _, err := m.CreateFolder(ctx, ""); return err }},
		{"delete INBOX", ErrDefaultFolder, func() error { return m.DeleteFolder(ctx, "inbox") }},
		{"delete Sent Items", ErrDefaultFolder, func() error { return m.DeleteFolder(ctx, "Sent Items") }},
		{"delete with children", ErrHasChildren, func() error { return m.DeleteFolder(ctx, "Projects") }},
		{"delete missing", ErrNoFolder, func() error { return m.DeleteFolder(ctx, "Nope") }},
		{"rename default", ErrDefaultFolder, func() error { return m.RenameFolder(ctx, "Drafts", "X") }},
		{"rename onto existing", ErrFolderExists, func() error { return m.RenameFolder(ctx, "Projects", "inbox") }},
		{"rename into itself", ErrBadName, func() error { return m.RenameFolder(ctx, "Projects", "Projects/Sub") }},
	}
	for _, c := range errCases {
		if err := c.do(); !errors.Is(err, c.err) {
			t.Errorf("%s = %v, want %v", c.name, err, c.err)
		}
	}

	// Rename keeps UIDVALIDITY and messages and moves children.
	alpha := mustFolder(t, m, "Projects/Alpha")
	before, _ := alpha.Status()
	if _, err := alpha.Append(ctx, testMsg("kept"), []string{FlagSeen}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := m.RenameFolder(ctx, "projects", "Archive2024/Projects"); err != nil {
		t.Fatalf("RenameFolder = %v", err)
	}
	moved := mustFolder(t, m, "Archive2024/Projects/Alpha")
	after, _ := moved.Status()
	if after.UIDValidity != before.UIDValidity || after.Messages != 1 || after.ID != before.ID {
		t.Errorf("renamed status = %+v, want UIDVALIDITY %d and 1 message", after, before.UIDValidity)
	}
	if st, err := alpha.Status(); err != nil || st.Name != "Archive2024/Projects/Alpha" {
		t.Errorf("old handle after rename = %+v, %v; want it to follow the folder", st, err)
	}
	if _, err := m.Folder("Projects/Alpha"); !errors.Is(err, ErrNoFolder) {
		t.Errorf("old name after rename = %v, want ErrNoFolder", err)
	}

	// Delete and re-create: a new UIDVALIDITY, the old handle is dead.
	if err := m.DeleteFolder(ctx, "Archive2024/Projects/Alpha"); err != nil {
		t.Fatalf("DeleteFolder = %v", err)
	}
	re, err := m.CreateFolder(ctx, "Archive2024/Projects/Alpha")
	if err != nil {
		t.Fatal(err)
	}
	if re.UIDValidity == before.UIDValidity || re.Messages != 0 {
		t.Errorf("re-created folder = %+v, want a new UIDVALIDITY than %d", re, before.UIDValidity)
	}
	if _, err := moved.Status(); !errors.Is(err, ErrNoFolder) {
		t.Errorf("stale handle Status() = %v, want ErrNoFolder", err)
	}

	if err := m.SetSubscribed(ctx, "archive2024", true); err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Folder("Archive2024"); f != nil {
		if st, _ := f.Status(); !st.Subscribed {
			t.Errorf("Subscribed = false after SetSubscribed(true)")
		}
	}
}

func TestCopyMoveExpunge(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "alice@contoso.com")
	ctx := context.Background()
	for i := range 5 {
		deliver(t, s, "alice@contoso.com", testMsg(fmt.Sprint("m", i)))
	}
	inbox := mustFolder(t, m, Inbox)
	if _, err := inbox.StoreFlags(ctx, []uint32{2}, FlagsAdd, []string{FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	deleted := mustFolder(t, m, "Deleted Items")
	dst, _ := deleted.Status()

	cp, err := inbox.Copy(ctx, []uint32{4, 2, 99, 2}, "deleted items")
	if err != nil {
		t.Fatal(err)
	}
	want := Copied{UIDValidity: dst.UIDValidity, SourceUIDs: []uint32{2, 4}, DestUIDs: []uint32{1, 2}}
	if fmt.Sprint(cp) != fmt.Sprint(want) {
		t.Errorf("Copy = %+v, want %+v", cp, want)
	}
	if mis, _ := deleted.Lookup([]uint32{1}); len(mis) != 1 || !mis[0].HasFlag(FlagFlagged) {
		t.Errorf("copied flags = %+v, want \\Flagged kept", mis)
	}

	mv, err := inbox.Move(ctx, []uint32{1, 5}, "Deleted Items")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(mv.SourceUIDs, []uint32{1, 5}) || !slices.Equal(mv.DestUIDs, []uint32{3, 4}) {
		t.Errorf("Move = %+v", mv)
	}
	if _, err := inbox.Move(ctx, []uint32{2}, "INBOX"); !errors.Is(err, ErrSameFolder) {
		t.Errorf("Move to same folder = %v, want ErrSameFolder", err)
	}
	if _, err := inbox.Copy(ctx, []uint32{2}, "Nope"); !errors.Is(err, ErrNoFolder) {
		t.Errorf("Copy to missing folder = %v, want ErrNoFolder", err)
	}
	if body, err := deleted.Body(3); err != nil || !strings.Contains(string(body), "Hello m0") {
		t.Errorf("moved Body = %q, %v", body, err)
	}
	st, _ := inbox.Status()
	if st.Messages != 3 {
		t.Errorf("inbox after move = %+v, want 3 messages", st)
	}

	// Expunge removes only \Deleted messages, optionally limited to UIDs.
	if _, err := inbox.StoreFlags(ctx, []uint32{2, 3, 4}, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if got, _ := inbox.Expunge(ctx, []uint32{3}); !slices.Equal(got, []uint32{3}) {
		t.Errorf("Expunge([3]) = %v", got)
	}
	if got, _ := inbox.Expunge(ctx, nil); !slices.Equal(got, []uint32{2, 4}) {
		t.Errorf("Expunge(nil) = %v", got)
	}
	// The copies survive their originals: bodies are reference counted.
	if body, err := deleted.Body(1); err != nil || !strings.Contains(string(body), "Hello m1") {
		t.Errorf("copy Body after original expunged = %q, %v", body, err)
	}
	if got, _ := deleted.Remove(ctx, []uint32{1, 2, 3, 4}); len(got) != 4 {
		t.Errorf("Remove = %v", got)
	}
	if n := countBodies(t, s); n != 0 {
		t.Errorf("bodies left after every message removed = %d, want 0", n)
	}
}

func TestDeleteMailbox(t *testing.T) {
	s := openTest(t, "", Options{})
	mustMailbox(t, s, "alice@contoso.com")
	mustMailbox(t, s, "bob@contoso.com")
	if _, err := s.Deliver(context.Background(), testMsg("both"), "alice@contoso.com", "bob@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(context.Background(), "alice@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if n := countBodies(t, s); n != 1 {
		t.Errorf("bodies = %d, want 1 (still referenced by bob)", n)
	}
	if err := s.DeleteMailbox(context.Background(), "bob@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if n := countBodies(t, s); n != 0 {
		t.Errorf("bodies = %d, want 0", n)
	}
}

// List is Messages without the header fields.
func TestList(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "alice@contoso.com")
	for i := range 3 {
		deliver(t, s, "alice@contoso.com", testMsg(fmt.Sprint("list", i)))
	}
	inbox := mustFolder(t, m, Inbox)
	if _, err := inbox.StoreFlags(context.Background(), []uint32{2}, FlagsAdd, []string{FlagSeen, "$Label1"}); err != nil {
		t.Fatal(err)
	}
	full, err := inbox.Messages()
	if err != nil {
		t.Fatal(err)
	}
	list, err := inbox.List()
	if err != nil || len(list) != len(full) {
		t.Fatalf("List() = %d messages, %v; want %d", len(list), err, len(full))
	}
	for i, mi := range full {
		if mi.Subject == "" || mi.From == "" {
			t.Fatalf("Messages()[%d] has no header fields: %+v", i, mi)
		}
		mi.From, mi.To, mi.Cc, mi.Subject, mi.MessageID = "", "", "", "", ""
		if got := list[i]; got.UID != mi.UID || !slices.Equal(got.Flags, mi.Flags) || got.Size != mi.Size ||
			!got.InternalDate.Equal(mi.InternalDate) || !got.Date.Equal(mi.Date) || got.From+got.To+got.Cc+got.Subject+got.MessageID != "" {
			t.Errorf("List()[%d] = %+v, want %+v", i, got, mi)
		}
	}
}
