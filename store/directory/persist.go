package directory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// On disk a Tree is two JSON files: the snapshot at path (every entry, in
// pre-order, written atomically: temporary file, fsync, rename) and a
// journal at path+".journal" with one JSON line per Apply batch (the
// entries it left and the DNs it deleted), appended and fsynced before
// Apply returns. A batch is on disk once its line is; a torn last line
// (a crash while writing it) is a batch that was never acknowledged and is
// dropped at load. When the journal has grown to half the tree (at least
// compactAfter lines) it is folded into a new snapshot, so a write costs one
// appended line and one fsync rather than a rewrite of the whole tree.

const (
	fileFormat   = "exsim-ldapd/1" // the name of the files' first writer, kept so that existing files load
	compactAfter = 1024
)

// fileImage is the snapshot document.
type fileImage struct {
	Format  string      `json:"format"`
	USN     int64       `json:"usn"`
	Entries []fileEntry `json:"entries"`
}

type fileEntry struct {
	Entry
	NamingContext bool `json:"naming_context,omitempty"`
}

// journalRecord is one Apply batch: its last update sequence number and its
// operations in order.
type journalRecord struct {
	USN int64       `json:"usn"`
	Ops []journalOp `json:"ops"`

	ops []journalOp // filled under the tree lock; Ops is set when encoding
}

// journalOp puts an entry (added or modified: its state after the batch) or
// deletes a DN.
type journalOp struct {
	Put *fileEntry `json:"put,omitempty"`
	Del string     `json:"del,omitempty"`
}

// diskState is the persistence side of a Tree.
type diskState struct {
	mu           sync.Mutex
	written      int64    // usn of the last batch on disk
	journal      *os.File // open for append
	records      int      // lines in the journal
	needSnapshot bool     // a journal write failed: the next persist rewrites all
}

// journalOps returns the operations of an applied batch: each added or
// modified entry as it is after the batch (if it still exists), each
// deleted DN.
func journalOps(changes []Change, nodes map[string]*node) []journalOp {
	ops := make([]journalOp, 0, len(changes))
	for _, c := range changes {
		dn := c.DN
		if c.Kind == ChangeAdd {
			dn = c.Entry.DN
		}
		n, err := parseName(dn)
		if err != nil {
			continue
		}
		if c.Kind == ChangeDelete {
			ops = append(ops, journalOp{Del: dn})
			continue
		}
		if nd, ok := nodes[n.key()]; ok {
			ops = append(ops, journalOp{Put: &fileEntry{Entry: *nd.entry, NamingContext: nd.nc}})
		}
	}
	return ops
}

// DamagedFileError reports a directory file that could not be loaded. The
// snapshot and the journal were moved aside (MovedTo names the snapshot's
// new path) and the directory started empty.
type DamagedFileError struct {
	Path    string
	MovedTo string
	Err     error
}

func (e *DamagedFileError) Error() string {
	return fmt.Sprintf("directory: directory file %s is damaged (moved to %s, starting empty): %v", e.Path, e.MovedTo, e.Err)
}

func (e *DamagedFileError) Unwrap() error { return e.Err }

// OpenTree loads the directory saved at path (a missing file is an empty
// directory) and saves every later change batch there. A damaged file does
// not stop the server: OpenTree moves it aside, returns an empty, usable
// Tree together with a *DamagedFileError naming both paths, and the caller
// logs it. Other errors (an unwritable directory) return a nil Tree.
func OpenTree(path string) (*Tree, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	t := NewTree()
	t.path = path
	journalUsed, lerr := t.loadFiles()
	var damaged *DamagedFileError
	if lerr != nil {
		if !errors.As(lerr, &damaged) {
			return nil, lerr
		}
		t = NewTree()
		t.path = path
	}
	j, err := os.OpenFile(t.journalPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("directory: open %s: %w", t.journalPath(), err)
	}
	t.disk.journal = j
	t.disk.written = t.usn
	// Start from a fresh snapshot and an empty journal whenever the journal
	// held anything (a torn last line must not be appended to).
	if journalUsed || damaged != nil {
		if err := t.snapshot(); err != nil {
			j.Close()
			return nil, err
		}
	}
	if damaged != nil {
		return t, damaged
	}
	return t, nil
}

func (t *Tree) journalPath() string { return t.path + ".journal" }

// loadFiles reads the snapshot and replays the journal; it reports whether
// the journal held anything.
func (t *Tree) loadFiles() (bool, error) {
	data, err := os.ReadFile(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("directory: read %s: %w", t.path, err)
	default:
		if err := t.loadSnapshot(data); err != nil {
			return false, t.moveAside(t.path, err)
		}
	}
	j, err := os.ReadFile(t.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("directory: read %s: %w", t.journalPath(), err)
	}
	if err := t.replay(bytes.NewReader(j)); err != nil {
		return false, t.moveAside(t.journalPath(), err)
	}
	return len(j) > 0, nil
}

// moveAside moves the snapshot and the journal out of the way.
func (t *Tree) moveAside(bad string, cause error) error {
	suffix := ".damaged-" + time.Now().UTC().Format("20060102T150405.000Z")
	moved := ""
	for _, p := range []string{t.path, t.journalPath()} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := os.Rename(p, p+suffix); err != nil {
			return fmt.Errorf("directory: directory file %s is damaged (%v) and cannot be moved aside: %w", bad, cause, err)
		}
		if p == bad {
			moved = p + suffix
		}
	}
	return &DamagedFileError{Path: bad, MovedTo: moved, Err: cause}
}

// loadSnapshot fills an empty tree from a snapshot.
func (t *Tree) loadSnapshot(data []byte) error {
	var img fileImage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&img); err != nil {
		return err
	}
	if img.Format != fileFormat {
		return fmt.Errorf("unknown format %q", img.Format)
	}
	for i, fe := range img.Entries {
		n, err := parseName(fe.DN)
		if err != nil || n.isRoot() {
			return fmt.Errorf("entry %d: bad DN %q", i, fe.DN)
		}
		if _, dup := t.nodes[n.key()]; dup {
			return fmt.Errorf("entry %d: duplicate DN %q", i, fe.DN)
		}
		if err := t.putLocked(n, fe); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	t.usn = img.USN
	return nil
}

// replay applies the journal records newer than the snapshot. A last line
// without its newline is a batch that never reached the disk whole.
func (t *Tree) replay(r io.Reader) error {
	br := bufio.NewReader(r)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // the end, or a torn last line
		}
		if err != nil {
			return err
		}
		var rec journalRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("journal line %d: %w", line, err)
		}
		if rec.USN <= t.usn {
			continue // already in the snapshot
		}
		for _, op := range rec.Ops {
			if err := t.replayOp(op); err != nil {
				return fmt.Errorf("journal line %d: %w", line, err)
			}
		}
		t.usn = rec.USN
	}
}

func (t *Tree) replayOp(op journalOp) error {
	switch {
	case op.Put != nil:
		n, err := parseName(op.Put.DN)
		if err != nil || n.isRoot() {
			return fmt.Errorf("bad DN %q", op.Put.DN)
		}
		if nd, ok := t.nodes[n.key()]; ok {
			nd.entry = op.Put.Entry.Clone()
			return nil
		}
		return t.putLocked(n, *op.Put)
	case op.Del != "":
		n, err := parseName(op.Del)
		if err != nil {
			return fmt.Errorf("bad DN %q", op.Del)
		}
		nd, ok := t.nodes[n.key()]
		if !ok {
			return nil
		}
		if len(nd.children) > 0 {
			return fmt.Errorf("delete of non-leaf %q", op.Del)
		}
		t.unlinkLocked(nd)
		return nil
	}
	return errors.New("empty operation")
}

// putLocked links a loaded entry under its parent.
func (t *Tree) putLocked(n name, fe fileEntry) error {
	parent, ok := t.nodes[n.parent().key()]
	if !ok && !fe.NamingContext {
		return fmt.Errorf("%q has no parent", fe.DN)
	}
	t.linkLocked(&node{name: n, entry: fe.Entry.Clone(), nc: fe.NamingContext}, parent)
	return nil
}

// persist makes every batch up to usn durable. Batches that arrive together
// share one write and one fsync (group commit).
func (t *Tree) persist(usn int64) error {
	d := &t.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.journal == nil || d.written >= usn { // in memory only, closed, or done
		return nil
	}
	t.mu.Lock()
	recs := t.pending
	t.pending = nil
	t.mu.Unlock()
	if d.needSnapshot {
		return t.snapshotLocked()
	}
	if len(recs) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for i := range recs {
		recs[i].Ops = recs[i].ops
		b, err := json.Marshal(&recs[i])
		if err != nil {
			d.needSnapshot = true
			return fmt.Errorf("directory: save %s: %w", t.journalPath(), err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := d.journal.Write(buf.Bytes()); err != nil {
		d.needSnapshot = true
		return fmt.Errorf("directory: save %s: %w", t.journalPath(), err)
	}
	if err := d.journal.Sync(); err != nil {
		d.needSnapshot = true
		return fmt.Errorf("directory: save %s: %w", t.journalPath(), err)
	}
	d.written = recs[len(recs)-1].USN
	d.records += len(recs)
	if d.records >= compactAfter && d.records >= t.Len()/2 {
		return t.snapshotLocked()
	}
	return nil
}

// snapshot writes a snapshot and empties the journal.
func (t *Tree) snapshot() error {
	t.disk.mu.Lock()
	defer t.disk.mu.Unlock()
	return t.snapshotLocked()
}

func (t *Tree) snapshotLocked() error {
	d := &t.disk
	t.mu.RLock()
	img := fileImage{Format: fileFormat, USN: t.usn, Entries: make([]fileEntry, 0, len(t.nodes))}
	var add func(nd *node)
	add = func(nd *node) {
		img.Entries = append(img.Entries, fileEntry{Entry: *nd.entry, NamingContext: nd.nc})
		for _, c := range nd.children {
			add(c)
		}
	}
	for _, r := range t.roots {
		add(r)
	}
	// Batches applied before this snapshot are in it; later ones stay
	// pending for the journal, which load skips by usn if they are older.
	t.mu.RUnlock()
	data, err := json.Marshal(img)
	if err != nil {
		d.needSnapshot = true
		return fmt.Errorf("directory: save %s: %w", t.path, err)
	}
	if err := writeFileAtomic(t.path, append(data, '\n'), 0o600); err != nil {
		d.needSnapshot = true
		return fmt.Errorf("directory: save %s: %w", t.path, err)
	}
	if d.journal != nil {
		if err := d.journal.Truncate(0); err != nil {
			d.needSnapshot = true
			return fmt.Errorf("directory: save %s: %w", t.journalPath(), err)
		}
		d.journal.Sync()
	}
	d.records = 0
	d.needSnapshot = false
	if img.USN > d.written {
		d.written = img.USN
	}
	return nil
}

// Close writes a final snapshot and closes the journal. The Tree stays
// usable in memory; later changes are not saved.
func (t *Tree) Close() error {
	if t.path == "" {
		return nil
	}
	t.disk.mu.Lock()
	defer t.disk.mu.Unlock()
	if t.disk.journal == nil {
		return nil
	}
	err := t.snapshotLocked()
	if cerr := t.disk.journal.Close(); err == nil {
		err = cerr
	}
	t.disk.journal = nil
	t.mu.Lock()
	t.path = ""
	t.pending = nil
	t.mu.Unlock()
	return err
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
