package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/exsim/exsim/internal/fuzzseed"
)

func countBodies(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.view(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketBodies).Stats().KeyN
		if r := tx.Bucket(bucketRefs).Stats().KeyN; r != n {
			return fmt.Errorf("%d bodies but %d reference counts", n, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWatch(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "alice@contoso.com")
	w := m.Watch()
	defer w.Close()
	other := mustMailbox(t, s, "bob@contoso.com").Watch()
	defer other.Close()

	ctx := context.Background()
	d := deliver(t, s, "alice@contoso.com", testMsg("a"))
	<-w.C()
	inbox := mustFolder(t, m, Inbox)
	inbox.StoreFlags(ctx, []uint32{d.UID}, FlagsAdd, []string{FlagSeen})
	inbox.StoreFlags(ctx, []uint32{d.UID}, FlagsAdd, []string{FlagSeen}) // no change, no event
	inbox.Move(ctx, []uint32{d.UID}, "Archive")
	archive := mustFolder(t, m, "Archive")
	archive.Copy(ctx, []uint32{1}, Inbox)
	archive.Remove(ctx, []uint32{1})
	archive.Append(ctx, testMsg("b"), nil, time.Time{})

	// Watchers tell a delivery from a save and a move from a delete
	// (EWS raises NewMail, Created, Moved, Copied and Deleted from them).
	var got []string
	for len(got) < 7 {
		<-w.C()
		for _, c := range w.Changes() {
			got = append(got, fmt.Sprintf("%s %s %v cause %d from %q %v", c.Kind, c.Folder, c.UIDs, c.Cause, c.SourceFolder, c.SourceUIDs))
		}
	}
	want := []string{`added INBOX [1] cause 1 from "" []`, `flags INBOX [1] cause 0 from "" []`,
		`expunged INBOX [1] cause 4 from "" []`, `added Archive [1] cause 4 from "INBOX" [1]`,
		`added INBOX [2] cause 3 from "Archive" [1]`, `expunged Archive [1] cause 5 from "" []`,
		`added Archive [2] cause 2 from "" []`}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("changes = %q, want %q", got, want)
	}
	if cs := other.Changes(); len(cs) != 0 {
		t.Errorf("bob's watch saw %v", cs)
	}
}

// A watcher that never reads must not slow deliveries down or grow without
// bound; it learns that it lost changes.
func TestWatchSlowListener(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "alice@contoso.com")
	w := m.Watch()
	defer w.Close()
	msg := testMsg("flood")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range (maxWatchQueue + 100) / 8 {
				if _, err := s.Deliver(context.Background(), msg, "alice@contoso.com"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	cs := w.Changes()
	if len(cs) != maxWatchQueue+1 || cs[len(cs)-1].Kind != ChangesLost {
		t.Errorf("Changes() = %d changes ending in %v, want %d then ChangesLost", len(cs), cs[len(cs)-1].Kind, maxWatchQueue)
	}
}

func TestWatchClosedWithStore(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := mustMailbox(t, s, "alice@contoso.com")
	w := m.Watch()
	w2 := m.Watch()
	w2.Close()
	w2.Close()
	s.Close()
	if _, ok := <-w.C(); ok {
		// drain a pending signal, then the channel must be closed
		if _, ok := <-w.C(); ok {
			t.Errorf("Watch.C still open after Store.Close")
		}
	}
	w.Close()
	if _, ok := <-m.Watch().C(); ok {
		t.Errorf("Watch after Close is open")
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	s := openTest(t, "", Options{})
	addrs := []string{"alice@contoso.com", "bob@contoso.com"}
	for _, a := range addrs {
		mustMailbox(t, s, a)
	}
	const workers, each = 20, 25
	var mu sync.Mutex
	seen := map[string]map[uint32]bool{}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for j := range each {
				ds, err := s.Deliver(context.Background(), testMsg(fmt.Sprint(i, "-", j)), addrs...)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, d := range ds {
					if seen[d.Mailbox] == nil {
						seen[d.Mailbox] = map[uint32]bool{}
					}
					if seen[d.Mailbox][d.UID] {
						t.Errorf("UID %d handed out twice in %s", d.UID, d.Mailbox)
					}
					seen[d.Mailbox][d.UID] = true
				}
				mu.Unlock()
			}
		})
	}
	// Readers and flag writers run alongside.
	m, _ := s.Mailbox("alice@contoso.com")
	inbox := mustFolder(t, m, Inbox)
	wg.Go(func() {
		for range 50 {
			if _, err := inbox.Messages(); err != nil {
				t.Error(err)
			}
			if _, err := inbox.StoreFlags(context.Background(), []uint32{1, 2, 3}, FlagsAdd, []string{FlagSeen}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	for _, a := range addrs {
		if len(seen[a]) != workers*each {
			t.Errorf("%s got %d distinct UIDs, want %d", a, len(seen[a]), workers*each)
		}
		mb, _ := s.Mailbox(a)
		st, _ := mustFolder(t, mb, Inbox).Status()
		if st.Messages != workers*each || st.UIDNext != workers*each+1 {
			t.Errorf("%s status = %+v", a, st)
		}
	}
	if n := countBodies(t, s); n != workers*each {
		t.Errorf("bodies = %d, want %d (one per message, shared by recipients)", n, workers*each)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check() = %v", err)
	}
}

// One failing op in a group commit fails alone.
func TestBatchIsolation(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "alice@contoso.com")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			if i%4 == 0 {
				_, errs[i] = m.CreateFolder(context.Background(), "Same")
				return
			}
			_, errs[i] = s.Deliver(context.Background(), testMsg("x"), "alice@contoso.com")
		})
	}
	wg.Wait()
	creates, exists := 0, 0
	for i, err := range errs {
		switch {
		case i%4 != 0 && err != nil:
			t.Errorf("Deliver #%d = %v", i, err)
		case i%4 == 0 && err == nil:
			creates++
		case i%4 == 0 && errors.Is(err, ErrFolderExists):
			exists++
		case i%4 == 0:
			t.Errorf("CreateFolder #%d = %v", i, err)
		}
	}
	if creates != 1 || exists != 9 {
		t.Errorf("CreateFolder: %d created, %d exists; want 1 and 9", creates, exists)
	}
	st, _ := mustFolder(t, m, Inbox).Status()
	if st.Messages != 30 {
		t.Errorf("INBOX has %d messages, want 30", st.Messages)
	}
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	s, err := Open(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustMailbox(t, s, "alice@contoso.com")
	for i := range 200 {
		deliver(t, s, "alice@contoso.com", testMsg(fmt.Sprint(i)))
	}
	var used int64
	s.view(func(tx *bbolt.Tx) error { used = tx.Size(); return nil })
	s.Close()
	b, _ := os.ReadFile(good)
	b = b[:used]

	cases := map[string][]byte{
		"garbage":   bytes.Repeat([]byte("not a bolt database "), 2000),
		"truncated": b[:used/2],
		"one page":  b[:4096],
	}
	for name, content := range cases {
		path := filepath.Join(dir, name+".db")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err == nil {
			s.Close()
		}
		var ce *CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%s) = %v, want a CorruptError naming %s", name, err, path)
		}
	}

	// Damage anywhere in the file: every call returns (an error or not) and
	// the process survives. Page faults and bbolt panics become errors.
	for off := 2 * 4096; off < len(b); off += 4096 + 100 {
		c := bytes.Clone(b)
		for i := off; i < off+64 && i < len(c); i++ {
			c[i] ^= 0x5a
		}
		path := filepath.Join(dir, "flipped.db")
		if err := os.WriteFile(path, c, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			continue
		}
		s.Check()
		s.Mailboxes()
		if m, err := s.Mailbox("alice@contoso.com"); err == nil {
			if f, err := m.Folder(Inbox); err == nil {
				f.Messages()
				f.Body(100)
			}
		}
		s.Deliver(context.Background(), testMsg("after damage"), "alice@contoso.com")
		s.Close()
	}
}

func TestCorruptRecord(t *testing.T) {
	s := openTest(t, "", Options{})
	m := mustMailbox(t, s, "alice@contoso.com")
	for i := range 3 {
		deliver(t, s, "alice@contoso.com", testMsg(fmt.Sprint(i)))
	}
	inbox := mustFolder(t, m, Inbox)
	// Damage the record of UID 2 behind the store's back.
	err := s.update(func(tx *bbolt.Tx) error {
		mb, err := s.openMbx(tx, "alice@contoso.com")
		if err != nil {
			return err
		}
		return mb.msgs.Bucket(u64key(inbox.ID())).Put(u32key(2), []byte{msgRecVersion, 0, 0xff, 0xff})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = inbox.Body(2)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != s.Path() || !strings.Contains(err.Error(), "uid 2") {
		t.Errorf("Body(2) = %v, want a CorruptError naming the file and uid 2", err)
	}
	msgs, err := inbox.Messages()
	if err != nil || len(msgs) != 2 {
		t.Errorf("Messages() = %d messages, %v; want the 2 intact ones", len(msgs), err)
	}
	var scanned []string
	err = inbox.Scan(func(info *MessageInfo, read func() []byte) error {
		body := read()
		if want := testMsg(fmt.Sprint(info.UID - 1)); string(body) != string(want) || info.Subject != "" || info.Size != int64(len(want)) {
			t.Errorf("Scan: uid %d subject %q size %d body %q, want no subject (as List) and %q", info.UID, info.Subject, info.Size, body, want)
		}
		scanned = append(scanned, fmt.Sprint(info.UID))
		return nil
	})
	if err != nil || strings.Join(scanned, " ") != "1 3" {
		t.Errorf("Scan() = UIDs %v, %v; want the 2 intact ones, 1 3", scanned, err)
	}
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), s.Path()) {
		t.Errorf("Check() = %v, want the damaged record reported", err)
	}
	// Writes touching the damaged record fail alone; others still work.
	if _, err := inbox.StoreFlags(context.Background(), []uint32{2}, FlagsAdd, []string{FlagSeen}); !errors.As(err, &ce) {
		t.Errorf("StoreFlags(2) = %v, want CorruptError", err)
	}
	deliver(t, s, "alice@contoso.com", testMsg("after"))
}

func TestRecordRoundTrip(t *testing.T) {
	r := msgRec{Flags: bitSeen | bitDraft, Keywords: []string{"$A", "b"}, Internal: 123456789, Size: 42, Body: 7,
		From: "f", To: "t", Cc: "c", Subject: "s", MsgID: "<m>", Sent: 99}
	got, err := decodeMsgRec(r.encode())
	if err != nil || fmt.Sprint(got) != fmt.Sprint(r) {
		t.Errorf("decodeMsgRec(encode(%+v)) = %+v, %v", r, got, err)
	}
	enc := r.encode()
	for i := range enc {
		if _, err := decodeMsgRec(enc[:i]); err == nil {
			t.Errorf("decodeMsgRec(truncated to %d) = nil error", i)
		}
	}
	f := folderRec{Name: "INBOX", UIDValidity: 5, UIDNext: 9, Messages: 3, Unseen: 1, Size: 100, ModSeq: 4, Subscribed: true, SpecialUse: `\Sent`, Default: true, Created: 1}
	gotF, err := decodeFolderRec(f.encode())
	if err != nil || gotF != f {
		t.Errorf("decodeFolderRec(encode(%+v)) = %+v, %v", f, gotF, err)
	}
	m := mailboxRec{Address: "alice@contoso.com", Created: 1700000000}
	if gotM, err := decodeMailboxRec(m.encode()); err != nil || gotM != m {
		t.Errorf("decodeMailboxRec(encode(%+v)) = %+v, %v", m, gotM, err)
	}
	// The bytes on disk: stores written by earlier versions must still open.
	for _, c := range []struct{ name, got, want string }{
		{"msgRec", hex.EncodeToString(r.encode()), "0111020224410162aab4de752a070166017401630173033c6d3ec601"},
		{"folderRec", hex.EncodeToString(f.encode()), "0105494e424f580509030100640401055c53656e740102"},
		{"mailboxRec", hex.EncodeToString(m.encode()), "0111616c69636540636f6e746f736f2e636f6d80c49fd50c"},
	} {
		if c.got != c.want {
			t.Errorf("%s encodes as %s, want %s", c.name, c.got, c.want)
		}
	}
}

func FuzzDecodeRecords(f *testing.F) {
	fuzzseed.Add(f, (&msgRec{Keywords: []string{"x"}, Body: 1, Subject: "s"}).encode())
	fuzzseed.Add(f, (&folderRec{Name: "INBOX", UIDValidity: 1, UIDNext: 1}).encode())
	fuzzseed.Add(f, []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeMsgRec(b); err == nil {
			if _, err := decodeMsgRec(r.encode()); err != nil {
				t.Errorf("re-decode of %+v: %v", r, err)
			}
		}
		if r, err := decodeFolderRec(b); err == nil {
			if _, err := decodeFolderRec(r.encode()); err != nil {
				t.Errorf("re-decode of %+v: %v", r, err)
			}
		}
		decodeMailboxRec(b)
	})
}

func TestBackup(t *testing.T) {
	s := openTest(t, "", Options{})
	mustMailbox(t, s, "alice@contoso.com")
	deliver(t, s, "alice@contoso.com", testMsg("backed up"))
	var buf bytes.Buffer
	if err := s.Backup(&buf); err != nil {
		t.Fatalf("Backup = %v", err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c := openTest(t, path, Options{})
	m, err := c.Mailbox("alice@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if body, err := mustFolder(t, m, Inbox).Body(1); err != nil || !strings.Contains(string(body), "backed up") {
		t.Errorf("restored Body(1) = %q, %v", body, err)
	}
}
