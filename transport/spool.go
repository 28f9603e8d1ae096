package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The queue database, like Exchange's mail.que, is one file: an
// append-only log (spoolfile.go) with group commit, so concurrent receive
// sessions share one write and one fdatasync (MEASUREMENTS.md: a spool
// that creates and deletes a file per message collapses on this file
// system; one file that grows does not).

// groupWindow is how long a write waits for others to share its commit.
// With smtp-source's 20 sessions on the 2-vCPU machine of
// docs/PERFORMANCE.md a short wait gathers most of the sessions that
// are between two commands, and costs less than the fsyncs it saves.
const groupWindow = 2 * time.Millisecond

// compactMin is the log size below which it is never rewritten; above it
// the log is compacted when the live records are under a quarter of it.
const compactMin = 4 << 20

// spoolLockWait is how long opening waits for another process to let go
// of the database (one that is still shutting down).
var spoolLockWait = 5 * time.Second

// maxSpare bounds the batch buffer kept for reuse.
const maxSpare = 4 << 20

var errSpoolClosed = errors.New("queue: the queue database is closed")

// Spool is the durable queue database of one server.
type Spool struct {
	path string

	// fmu is held for reading while a body is read from f, and for
	// writing while compaction replaces f.
	fmu sync.RWMutex
	f   *os.File

	mu       sync.Mutex
	st       *spoolState
	cur      *spoolBatch // the batch being gathered
	spare    []byte      // the last batch's buffer, for the next one
	err      error       // a failed write: every later call fails with it
	closed   bool
	problems []error // found while opening, reported by the first Load
	// onProblem hears of what goes wrong later (a compaction that failed).
	onProblem func(error)

	// Owned by the committer goroutine.
	end           int64 // where the next batch is written
	compactAfter  int64
	wake          chan struct{}
	committerDone chan struct{}
}

// spoolBatch is the records of one commit and the callers waiting for it.
type spoolBatch struct {
	buf    []byte
	bodies []bodyAt // bodies whose offset is known once written
	seen   []string // seen pairs that become durable with it
	done   chan struct{}
	err    error
}

type bodyAt struct {
	e   *spoolEntry
	rel int
}

func (b *spoolBatch) wait() error {
	<-b.done
	return b.err
}

// OpenSpool opens (creating) the queue database at path. A database that
// an earlier exsim wrote with bbolt is converted first (spoolmigrate.go).
func OpenSpool(path string) (*Spool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := migrateBolt(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	s := &Spool{path: path, f: f, compactAfter: compactMin, wake: make(chan struct{}, 1), committerDone: make(chan struct{})}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	go s.committer()
	return s, nil
}

// load locks the file and replays it.
func (s *Spool) load() error {
	if err := lockFile(s.f, spoolLockWait); err != nil {
		return fmt.Errorf("queue: %s is in use by another exsim process", s.path)
	}
	os.Remove(s.path + ".compact") // a compaction cut short: the log is whole
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if fi.Size() == 0 {
		if _, err := s.f.Write([]byte(spoolMagic)); err != nil {
			return fmt.Errorf("queue: create %s: %w", s.path, err)
		}
		if err := datasync(s.f); err != nil {
			return fmt.Errorf("queue: create %s: %w", s.path, err)
		}
		syncDir(filepath.Dir(s.path))
		s.st, s.end = newSpoolState(), int64(len(spoolMagic))
		return nil
	}
	st, end, err := replay(s.f, fi.Size())
	if err != nil {
		return fmt.Errorf("queue: %s: %w (exsim keeps its queue in this file; move it away to start with an empty queue)", s.path, err)
	}
	s.st, s.end = st, end
	if end < fi.Size() {
		if p := s.setTailAside(end, fi.Size()); p != nil {
			s.problems = append(s.problems, p)
		}
	}
	s.st.pruneSeen(time.Now().Add(-SeenWindow).UnixNano())
	if s.shouldCompact() {
		if err := s.compact(); err != nil {
			s.problems = append(s.problems, err)
		}
	}
	return nil
}

// shouldCompact: the log has grown past compactAfter and its live records
// are under a quarter of it. The caller holds mu or owns the committer.
func (s *Spool) shouldCompact() bool {
	return s.end > s.compactAfter && s.end > 4*s.st.live
}

// OnProblem sets who hears of problems after opening (Load reports those
// of opening): a compaction that failed and left the old log in place.
func (s *Spool) OnProblem(f func(error)) {
	s.mu.Lock()
	s.onProblem = f
	s.mu.Unlock()
}

// setTailAside copies what follows the last whole record into a file of
// its own (kept for inspection) and cuts it from the log. Only a crash in
// the middle of a commit leaves such a tail, and no one was told that
// commit succeeded.
func (s *Spool) setTailAside(end, size int64) error {
	aside := fmt.Sprintf("%s.tail-%d", s.path, time.Now().UnixNano())
	tail := make([]byte, size-end)
	_, err := s.f.ReadAt(tail, end)
	if err == nil && len(bytes.Trim(tail, "\x00")) > 0 {
		err = os.WriteFile(aside, tail, 0o600)
	} else if err == nil {
		aside = ""
	}
	if err == nil {
		err = s.f.Truncate(end)
	}
	if err == nil {
		err = datasync(s.f)
	}
	if err != nil {
		return fmt.Errorf("queue: %s: cannot set aside the %d bytes after the last whole record: %w", s.path, size-end, err)
	}
	if aside == "" {
		return nil
	}
	return fmt.Errorf("queue: %s: %d bytes after the last whole record (a commit cut short by a crash, or damage) were set aside in %s", s.path, size-end, aside)
}

// Path is the database file.
func (s *Spool) Path() string { return s.path }

// Close writes what is pending and closes the database.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.signal()
	<-s.committerDone
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.f.Close()
}

// batchLocked is the batch a caller adds its records to.
func (s *Spool) batchLocked() (*spoolBatch, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.closed {
		return nil, errSpoolClosed
	}
	if s.cur == nil {
		s.cur = &spoolBatch{done: make(chan struct{}), buf: s.spare[:0]}
		s.spare = nil
		s.signal()
	}
	return s.cur, nil
}

// signal wakes the committer (a wake already pending is enough).
func (s *Spool) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// committer writes the gathered batches, one write and one fdatasync each.
func (s *Spool) committer() {
	defer close(s.committerDone)
	for range s.wake {
		s.mu.Lock()
		closing := s.closed
		s.mu.Unlock()
		if !closing {
			time.Sleep(groupWindow)
		}
		s.mu.Lock()
		b := s.cur
		s.cur = nil
		closing = s.closed
		s.mu.Unlock()
		if b != nil {
			s.commit(b)
		}
		if closing {
			return
		}
	}
}

func (s *Spool) commit(b *spoolBatch) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil { // gathered while the write before it failed
		b.err = err
		close(b.done)
		return
	}
	if len(b.buf) > 0 { // else callers only wait for the commits before
		_, err = s.f.WriteAt(b.buf, s.end)
		if err == nil {
			err = datasync(s.f)
		}
	}
	s.mu.Lock()
	if err != nil {
		// The file's end is unknown now: every later call fails, and the
		// next start replays the log and sets the torn write aside.
		s.err = fmt.Errorf("queue: write %s: %w", s.path, err)
		b.err = s.err
	} else {
		for _, x := range b.bodies {
			x.e.off = s.end + int64(x.rel)
		}
		for _, k := range b.seen {
			if v, ok := s.st.seen[k]; ok {
				v.pending = false
				s.st.seen[k] = v
			}
		}
		s.end += int64(len(b.buf))
		if cap(b.buf) <= maxSpare {
			s.spare = b.buf
		}
	}
	compact, report := err == nil && s.shouldCompact(), s.onProblem
	s.mu.Unlock()
	close(b.done)
	if compact {
		if err := s.compact(); err != nil && report != nil {
			report(err)
		}
	}
}

// compact rewrites the log with only its live records. A failure leaves
// the old log in place and is tried again when the log has grown further.
func (s *Spool) compact() error {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := time.Now().Add(-SeenWindow).UnixNano()
	s.st.pruneSeen(cut)
	tmp := s.path + ".compact"
	nf, offs, end, err := writeCompact(tmp, s.st, s.f, cut)
	if err == nil {
		if err = lockFile(nf, 0); err == nil {
			err = os.Rename(tmp, s.path)
		}
		if err != nil {
			nf.Close()
			os.Remove(tmp)
		}
	}
	if err != nil {
		s.compactAfter = s.end + compactMin
		return fmt.Errorf("queue: compact %s (the log stays as it is): %w", s.path, err)
	}
	syncDir(filepath.Dir(s.path))
	for id, off := range offs {
		s.st.msgs[id].off = off
	}
	s.f.Close()
	s.f, s.end = nf, end
	s.compactAfter = max(compactMin, 2*end)
	return nil
}

// Put stores a new message and its body and assigns m.ID. It returns once
// the message is on disk (fsync), so the caller may answer 250.
//
// Recipients that this server already accepted the message for (same
// Network-Message-Id, see seen.go) are taken out of m first; dup says how
// many. When none is left nothing is stored and m.ID is the InternalId the
// first copy got.
func (s *Spool) Put(m *Message, body []byte) (dup int, err error) {
	now := time.Now()
	all := m.Recipients
	s.mu.Lock()
	b, err := s.batchLocked()
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	fresh, prevID := s.st.splitSeen(m)
	if len(fresh) == 0 && len(all) > 0 {
		s.mu.Unlock()
		// The first copy may still be on its way to the disk.
		if err := b.wait(); err != nil {
			return 0, err
		}
		m.ID, m.Recipients = prevID, fresh
		return len(all), nil
	}
	m.Recipients = fresh
	m.ID = s.st.last + 1
	meta, err := json.Marshal(m)
	if err != nil {
		s.mu.Unlock()
		m.Recipients = all
		return 0, fmt.Errorf("queue: store message: %w", err)
	}
	var flags byte
	if m.NetworkID != "" {
		flags = putMarksSeen
	}
	e := &spoolEntry{meta: meta, off: -1, n: len(body)}
	var rel int
	b.buf, rel = putRecord(b.buf, m.ID, now, flags, meta, body)
	b.bodies = append(b.bodies, bodyAt{e, rel})
	s.st.add(m.ID, e)
	if flags != 0 {
		for _, r := range fresh {
			k := seenKey(m.NetworkID, r.Address)
			s.st.markSeen(k, seenVal{at: now.UnixNano(), id: m.ID, pending: true})
			b.seen = append(b.seen, k)
		}
	}
	s.mu.Unlock()
	if err := b.wait(); err != nil {
		m.Recipients = all
		return 0, fmt.Errorf("queue: store message: %w", err)
	}
	return len(all) - len(fresh), nil
}

// Update rewrites a message's state (recipients, flags).
func (s *Spool) Update(m *Message) error {
	meta, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	s.mu.Lock()
	if _, ok := s.st.msgs[m.ID]; !ok {
		s.mu.Unlock()
		return nil // already removed
	}
	b, err := s.batchLocked()
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("queue: update message %d: %w", m.ID, err)
	}
	s.st.update(m.ID, meta)
	b.buf = updateRecord(b.buf, m.ID, meta)
	s.mu.Unlock()
	if err := b.wait(); err != nil {
		return fmt.Errorf("queue: update message %d: %w", m.ID, err)
	}
	return nil
}

// Delete removes messages that are done, in one commit (the caller
// gathers them: deletes.go).
func (s *Spool) Delete(ids ...int64) error {
	s.mu.Lock()
	b, err := s.batchLocked()
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("queue: delete %d messages: %w", len(ids), err)
	}
	known := ids[:0:0]
	for _, id := range ids {
		if _, ok := s.st.msgs[id]; ok {
			known = append(known, id)
			s.st.remove(id)
		}
	}
	if len(known) > 0 {
		b.buf = deleteRecord(b.buf, known)
	}
	s.mu.Unlock()
	if err := b.wait(); err != nil {
		return fmt.Errorf("queue: delete %d messages: %w", len(ids), err)
	}
	return nil
}

// Body returns a copy of a message's body.
func (s *Spool) Body(id int64) ([]byte, error) { return s.AppendBody(nil, id) }

// AppendBody appends a copy of a message's body to buf.
func (s *Spool) AppendBody(buf []byte, id int64) ([]byte, error) {
	s.fmu.RLock()
	defer s.fmu.RUnlock()
	s.mu.Lock()
	e, ok := s.st.msgs[id]
	var off int64 = -1
	var n int
	if ok {
		off, n = e.off, e.n
	}
	s.mu.Unlock()
	if off < 0 {
		return nil, fmt.Errorf("queue: no body for message %d", id)
	}
	start := len(buf)
	buf = slices.Grow(buf, n)[:start+n]
	if _, err := s.f.ReadAt(buf[start:], off); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, fmt.Errorf("queue: read message %d: %w", id, err)
	}
	return buf, nil
}

// Load returns every message in the database, oldest first. A record that
// cannot be decoded is moved aside (kept for inspection, never delivered)
// and reported, instead of stopping the server; so is what opening the
// database found.
func (s *Spool) Load() ([]*Message, []error) {
	s.mu.Lock()
	problems := s.problems
	s.problems = nil
	var msgs []*Message
	var broken []int64
	for _, id := range sortedIDs(s.st.msgs) {
		var m Message
		if err := json.Unmarshal(s.st.msgs[id].meta, &m); err != nil || m.ID != id {
			if err == nil {
				err = fmt.Errorf("it says it is message %d", m.ID)
			}
			problems = append(problems, fmt.Errorf("queue: %s: message %d unreadable (moved aside): %v", s.path, id, err))
			broken = append(broken, id)
			continue
		}
		msgs = append(msgs, &m)
	}
	var b *spoolBatch
	if len(broken) > 0 {
		var err error
		if b, err = s.batchLocked(); err != nil {
			problems = append(problems, err)
		} else {
			for _, id := range broken {
				s.st.broken[id] = s.st.msgs[id].meta
				b.buf = brokenRecord(b.buf, id, s.st.msgs[id].meta)
				s.st.remove(id)
			}
		}
	}
	s.mu.Unlock()
	if b != nil {
		if err := b.wait(); err != nil {
			problems = append(problems, err)
		}
	}
	return msgs, problems
}

func sortedIDs[V any](m map[int64]V) []int64 { return slices.Sorted(maps.Keys(m)) }

// syncDir makes a file created or renamed in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
