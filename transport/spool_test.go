package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exsim/exsim/internal/fuzzseed"
)

func openSpool(t *testing.T, path string) *Spool {
	t.Helper()
	s, err := OpenSpool(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func spoolMsg(netID string, rcpts ...string) *Message {
	m := &Message{NetworkID: netID, MessageID: "<a@contoso.com>"}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, Recipient{Address: r})
	}
	return m
}

func put(t *testing.T, s *Spool, m *Message, body string) int64 {
	t.Helper()
	if _, err := s.Put(m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// loadAll returns the queued messages by id with their bodies.
func loadAll(t *testing.T, s *Spool) (map[int64]*Message, map[int64]string) {
	t.Helper()
	msgs, problems := s.Load()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	byID, bodies := map[int64]*Message{}, map[int64]string{}
	for _, m := range msgs {
		b, err := s.Body(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		byID[m.ID], bodies[m.ID] = m, string(b)
	}
	return byID, bodies
}

// The queue database keeps what was put, updated and deleted across a
// restart, and never gives an InternalId twice.
func TestSpoolSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Queue", "mail.que")
	s := openSpool(t, path)
	a := put(t, s, spoolMsg("n1", "bob@contoso.com"), "body a")
	b := put(t, s, spoolMsg("", "carol@contoso.com"), "body b")
	c := put(t, s, spoolMsg("n3", "dave@contoso.com", "erin@contoso.com"), "")
	m := spoolMsg("n3", "erin@contoso.com")
	m.ID = c
	if err := s.Update(m); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(b, 999); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Put(spoolMsg("", "x@contoso.com"), nil); err == nil {
		t.Error("Put after Close succeeded")
	}

	s = openSpool(t, path)
	msgs, bodies := loadAll(t, s)
	if len(msgs) != 2 || bodies[a] != "body a" || bodies[c] != "" || len(msgs[c].Recipients) != 1 || msgs[c].Recipients[0].Address != "erin@contoso.com" {
		t.Fatalf("after restart: %d messages, bodies %v, message %d %+v", len(msgs), bodies, c, msgs[c])
	}
	if dup, _ := s.Put(spoolMsg("n3", "Dave@contoso.com"), nil); dup != 1 {
		t.Errorf("a resent copy after restart: %d duplicates, want 1", dup)
	}
	if d := put(t, s, spoolMsg("", "x@contoso.com"), "d"); d <= c {
		t.Errorf("InternalId %d given after %d", d, c)
	}
}

// A crash in the middle of a commit leaves a torn record at the end: it
// was never acknowledged, so it is set aside (kept in a file of its own and
// reported), and everything before it is resumed.
func TestSpoolSetsTornTailAside(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(rec []byte) []byte
	}{
		{"cut short", func(rec []byte) []byte { return rec[:len(rec)-7] }},
		{"bad checksum", func(rec []byte) []byte { rec[len(rec)-1] ^= 0xff; return rec }},
		{"header only", func(rec []byte) []byte { return rec[:5] }},
		{"absurd length", func(rec []byte) []byte { binary.BigEndian.PutUint32(rec, 0xfffffff0); return rec }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "mail.que")
			s := openSpool(t, path)
			put(t, s, spoolMsg("n1", "bob@contoso.com"), "kept")
			s.Close()
			rec, _ := putRecord(nil, 7, time.Now(), 0, []byte(`{"id":7}`), []byte("torn body"))
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tc.tear(rec))
			f.Close()

			s, err = OpenSpool(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			msgs, problems := s.Load()
			if len(msgs) != 1 || len(problems) != 1 || !strings.Contains(problems[0].Error(), "set aside in "+path+".tail-") {
				t.Fatalf("Load = %d messages, problems %v; want the first message and the tail reported", len(msgs), problems)
			}
			aside, _ := filepath.Glob(path + ".tail-*")
			if len(aside) != 1 {
				t.Fatalf("tail files %v", aside)
			}
			if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, tc.tear(append([]byte(nil), rec...))) && tc.name != "bad checksum" {
				t.Errorf("set-aside tail = %q", b)
			}
			id := put(t, s, spoolMsg("", "carol@contoso.com"), "after")
			s.Close()
			s = openSpool(t, path)
			msgs2, bodies := loadAll(t, s)
			if len(msgs2) != 2 || bodies[id] != "after" {
				t.Errorf("after the next restart: %d messages, bodies %v", len(msgs2), bodies)
			}
		})
	}
}

// A record the checksum vouches for but whose message cannot be decoded
// (another version wrote it) is moved aside once and reported, and the
// rest of the queue is resumed.
func TestSpoolMovesUnreadableMessageAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.que")
	s := openSpool(t, path)
	good := put(t, s, spoolMsg("", "bob@contoso.com"), "good")
	s.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	rec, _ := putRecord(nil, good+1, time.Now(), 0, []byte(`{"id": "not a number"`), []byte("b"))
	f.Write(rec)
	f.Close()

	s = openSpool(t, path)
	msgs, problems := s.Load()
	if len(msgs) != 1 || msgs[0].ID != good || len(problems) != 1 || !strings.Contains(problems[0].Error(), fmt.Sprintf("message %d unreadable (moved aside)", good+1)) {
		t.Fatalf("Load = %v, %v", msgs, problems)
	}
	s.Close()
	s = openSpool(t, path)
	if msgs, problems := s.Load(); len(msgs) != 1 || len(problems) != 0 {
		t.Errorf("second start: Load = %d messages, %v; the broken record must stay aside", len(msgs), problems)
	}
	if id := put(t, s, spoolMsg("", "x@contoso.com"), ""); id <= good+1 {
		t.Errorf("InternalId %d reuses the broken record's", id)
	}
}

// When most of the log is finished messages it is rewritten with the live
// ones: the file shrinks, the queued bodies and the seen table stay.
func TestSpoolCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.que")
	s := openSpool(t, path)
	big := strings.Repeat("x", 64<<10)
	var done []int64
	keep := put(t, s, spoolMsg("keep", "bob@contoso.com"), "still queued")
	for i := range 200 {
		done = append(done, put(t, s, spoolMsg(fmt.Sprintf("n%d", i), "bob@contoso.com"), big))
	}
	if err := s.Delete(done...); err != nil {
		t.Fatal(err)
	}
	put(t, s, spoolMsg("", "carol@contoso.com"), "after") // the commit that compacts
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 1<<20 {
		t.Fatalf("log is %d bytes after 200 of 202 messages left; not compacted", fi.Size())
	}
	if b, err := s.Body(keep); err != nil || string(b) != "still queued" {
		t.Fatalf("Body after compaction = %q, %v", b, err)
	}
	for _, restart := range []bool{false, true} {
		if restart {
			s.Close()
			s = openSpool(t, path)
		}
		if dup, _ := s.Put(spoolMsg("n7", "bob@contoso.com"), nil); dup != 1 {
			t.Errorf("restart %v: the seen table lost a pair in compaction", restart)
		}
		msgs, bodies := loadAll(t, s)
		if len(msgs) != 2 || bodies[keep] != "still queued" {
			t.Errorf("restart %v: %d messages, %q", restart, len(msgs), bodies[keep])
		}
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("compaction left %s.compact", path)
	}
}

// Pairs accepted more than SeenWindow ago are forgotten on the next start.
func TestSpoolForgetsOldSeenPairs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.que")
	s := openSpool(t, path)
	s.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	var recs []byte
	recs = seenRecord(recs, seenKey("old", "bob@contoso.com"), seenVal{at: time.Now().Add(-SeenWindow - time.Hour).UnixNano(), id: 1})
	recs = seenRecord(recs, seenKey("new", "bob@contoso.com"), seenVal{at: time.Now().Add(-time.Hour).UnixNano(), id: 2})
	f.Write(recs)
	f.Close()
	s = openSpool(t, path)
	if dup, _ := s.Put(spoolMsg("old", "bob@contoso.com"), nil); dup != 0 {
		t.Error("a pair older than SeenWindow still suppressed a message")
	}
	if dup, _ := s.Put(spoolMsg("new", "bob@contoso.com"), nil); dup != 1 {
		t.Error("a pair within SeenWindow was forgotten")
	}
}

// Sessions that store at the same time share commits; every message gets
// its own InternalId and body.
func TestSpoolConcurrentPuts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.que")
	s := openSpool(t, path)
	var wg sync.WaitGroup
	ids := make([]int64, 200)
	for i := range ids {
		wg.Go(func() {
			m := spoolMsg(fmt.Sprintf("n%d", i), "bob@contoso.com")
			if _, err := s.Put(m, []byte(fmt.Sprint("body ", i))); err != nil {
				t.Error(err)
			}
			ids[i] = m.ID
			if b, err := s.Body(m.ID); err != nil || string(b) != fmt.Sprint("body ", i) {
				t.Errorf("Body(%d) = %q, %v", m.ID, b, err)
			}
		})
	}
	wg.Wait()
	s.Close()
	s = openSpool(t, path)
	_, bodies := loadAll(t, s)
	for i, id := range ids {
		if bodies[id] != fmt.Sprint("body ", i) {
			t.Fatalf("after restart message %d = %q", id, bodies[id])
		}
	}
}

// A failed write is never answered as stored, and the database refuses
// every later write instead of guessing where its file ends.
func TestSpoolWriteFailureIsSticky(t *testing.T) {
	s := openSpool(t, filepath.Join(t.TempDir(), "mail.que"))
	put(t, s, spoolMsg("", "bob@contoso.com"), "x")
	s.f.Close() // the disk goes away
	if _, err := s.Put(spoolMsg("", "bob@contoso.com"), []byte("y")); err == nil {
		t.Fatal("Put on a failed file succeeded")
	}
	if err := s.Delete(1); err == nil {
		t.Error("Delete after a failed write succeeded")
	}
}

func TestSpoolRefusesForeignAndBusyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mail.que")
	os.WriteFile(path, []byte("something else entirely\n"), 0o600)
	if _, err := OpenSpool(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not an exsim queue log") {
		t.Errorf("foreign file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "something else entirely\n" {
		t.Error("the foreign file was changed")
	}

	busy := filepath.Join(dir, "busy.que")
	openSpool(t, busy)
	old := spoolLockWait
	spoolLockWait = 100 * time.Millisecond
	defer func() { spoolLockWait = old }()
	if _, err := OpenSpool(busy); err == nil || !strings.Contains(err.Error(), "in use by another exsim process") {
		t.Errorf("second open = %v", err)
	}
}

// A queue database written by an earlier exsim (bbolt) is converted on
// the first start: its messages, seen pairs and next InternalId carry over.
func TestSpoolConvertsBoltDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.que")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := func(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		body, _ := tx.CreateBucket([]byte("body"))
		seen, _ := tx.CreateBucket([]byte("seen"))
		tx.CreateBucket([]byte("broken"))
		meta.SetSequence(41)
		meta.Put(k(40), []byte(`{"id":40,"network_id":"n40","recipients":[{"address":"bob@contoso.com"}]}`))
		body.Put(k(40), []byte("queued before the upgrade"))
		meta.Put(k(41), []byte(`{"id":41}`)) // its body is missing: broken
		v := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
		seen.Put([]byte(seenKey("n40", "bob@contoso.com")), binary.BigEndian.AppendUint64(v, 40))
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s := openSpool(t, path)
	msgs, bodies := loadAll(t, s)
	if len(msgs) != 1 || bodies[40] != "queued before the upgrade" {
		t.Fatalf("converted queue: %d messages, %v", len(msgs), bodies)
	}
	if dup, _ := s.Put(spoolMsg("n40", "bob@contoso.com"), nil); dup != 1 {
		t.Error("the seen pair did not carry over")
	}
	if id := put(t, s, spoolMsg("", "x@contoso.com"), ""); id != 42 {
		t.Errorf("next InternalId %d, want 42", id)
	}
	if len(s.st.broken) != 1 {
		t.Errorf("%d broken records carried over, want 1", len(s.st.broken))
	}
	if isBolt(path) {
		t.Error("the file is still bbolt's")
	}
}

// FuzzSpoolReplay: whatever follows the magic of a queue log (damage,
// another version's records, a torn write), opening it never panics,
// answers with the messages it could read, and a message stored
// afterwards survives the next restart.
func FuzzSpoolReplay(f *testing.F) {
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC) // fixed: the seed files stay the same
	var valid []byte
	valid, _ = putRecord(valid, 1, at, putMarksSeen, []byte(`{"id":1,"network_id":"n1","recipients":[{"address":"bob@contoso.com"}]}`), []byte("body"))
	valid = updateRecord(valid, 1, []byte(`{"id":1,"recipients":[]}`))
	valid = seenRecord(valid, seenKey("n2", "carol@contoso.com"), seenVal{at: at.UnixNano(), id: 2})
	valid = deleteRecord(valid, []int64{1, 7})
	valid = seqRecord(valid, 40)
	valid = brokenRecord(valid, 3, []byte("{"))
	fuzzseed.Add(f, valid)
	fuzzseed.Add(f, valid[:len(valid)-3])
	fuzzseed.Add(f, append([]byte{0, 0, 0, 1, 0, 0, 0, 0}, valid...))
	fuzzseed.Add(f, []byte{0, 0, 0, 0, 0, 0, 0, 0, recPut})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "mail.que")
		if err := os.WriteFile(path, append([]byte(spoolMagic), data...), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSpool(path)
		if err != nil {
			t.Fatalf("a log with a valid magic was refused: %v", err)
		}
		msgs, _ := s.Load()
		for _, m := range msgs {
			if _, err := s.Body(m.ID); err != nil {
				t.Errorf("Load returned message %d without a body: %v", m.ID, err)
			}
		}
		m := spoolMsg("fuzz-new", "x@contoso.com")
		if _, err := s.Put(m, []byte("after")); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = OpenSpool(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if b, err := s.Body(m.ID); err != nil || string(b) != "after" {
			t.Errorf("message stored after opening: %q, %v", b, err)
		}
	})
}

// Compaction runs while sessions store, read and remove messages: no body
// is lost or mixed up, and what is left survives a restart.
func TestSpoolCompactsUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.que")
	s := openSpool(t, path)
	var wg sync.WaitGroup
	var mu sync.Mutex
	kept := map[int64]string{}
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				body := fmt.Sprintf("%d/%d ", g, i) + strings.Repeat("x", 32<<10)
				m := spoolMsg(fmt.Sprintf("n%d-%d", g, i), "bob@contoso.com")
				if _, err := s.Put(m, []byte(body)); err != nil {
					t.Error(err)
					return
				}
				if b, err := s.Body(m.ID); err != nil || string(b) != body {
					t.Errorf("Body(%d) = %.10q..., %v", m.ID, b, err)
					return
				}
				if i%10 == 0 {
					mu.Lock()
					kept[m.ID] = body
					mu.Unlock()
					continue
				}
				if err := s.Delete(m.ID); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 8<<20 {
		t.Errorf("log not compacted under load: %d bytes after about 10 MB written and 1 MB kept", fi.Size())
	}
	s.Close()
	s = openSpool(t, path)
	_, bodies := loadAll(t, s)
	if len(bodies) != len(kept) {
		t.Errorf("%d messages after restart, want %d", len(bodies), len(kept))
	}
	for id, want := range kept {
		if bodies[id] != want {
			t.Errorf("message %d after restart: %.10q...", id, bodies[id])
		}
	}
}

// A compaction that cannot write its new file leaves the log as it is,
// and the server hears of it; storing goes on.
func TestSpoolReportsFailedCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.que")
	s := openSpool(t, path)
	var mu sync.Mutex
	var reported []error
	s.OnProblem(func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	})
	// Where the compacted log would go, a directory that is not empty.
	if err := os.MkdirAll(filepath.Join(path+".compact", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range 80 {
		ids = append(ids, put(t, s, spoolMsg("", "bob@contoso.com"), strings.Repeat("x", 64<<10)))
	}
	if err := s.Delete(ids...); err != nil {
		t.Fatal(err)
	}
	kept := put(t, s, spoolMsg("", "bob@contoso.com"), "kept") // the commit that tries
	mu.Lock()
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "compact "+path) {
		t.Errorf("reported %v; want the failed compaction once", reported)
	}
	mu.Unlock()
	s.Close()
	os.RemoveAll(path + ".compact")
	s = openSpool(t, path)
	if _, bodies := loadAll(t, s); len(bodies) != 1 || bodies[kept] != "kept" {
		t.Errorf("after restart: %v", bodies)
	}
}
