package store

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// mbx is one mailbox's buckets inside a transaction.
type mbx struct {
	s       *Store
	addr    string
	b       *bbolt.Bucket
	names   *bbolt.Bucket
	folders *bbolt.Bucket
	msgs    *bbolt.Bucket
}

func (s *Store) openMbx(tx *bbolt.Tx, addr string) (*mbx, error) {
	mbs := tx.Bucket(bucketMailboxes)
	if mbs == nil {
		return nil, s.corrupt("", errors.New("missing mailboxes bucket"))
	}
	b := mbs.Bucket([]byte(addr))
	if b == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoMailbox, addr)
	}
	m := &mbx{s: s, addr: addr, b: b, names: b.Bucket(bucketNames), folders: b.Bucket(bucketFolders), msgs: b.Bucket(bucketMsgs)}
	if m.names == nil || m.folders == nil || m.msgs == nil {
		return nil, s.corrupt(addr, errors.New("missing folder buckets"))
	}
	return m, nil
}

// createMbx makes a new mailbox with the default folders.
func (s *Store) createMbx(w *wtx, addr string) (*mbx, error) {
	mbs := w.Bucket(bucketMailboxes)
	if mbs == nil {
		return nil, s.corrupt("", errors.New("missing mailboxes bucket"))
	}
	b, err := mbs.CreateBucket([]byte(addr))
	if err != nil {
		return nil, fmt.Errorf("store: create mailbox %s: %w", addr, err)
	}
	rec := mailboxRec{Address: addr, Created: time.Now().Unix()}
	if err := b.Put(keyInfo, rec.encode()); err != nil {
		return nil, err
	}
	m := &mbx{s: s, addr: addr, b: b}
	if m.names, err = b.CreateBucket(bucketNames); err != nil {
		return nil, err
	}
	if m.folders, err = b.CreateBucket(bucketFolders); err != nil {
		return nil, err
	}
	if m.msgs, err = b.CreateBucket(bucketMsgs); err != nil {
		return nil, err
	}
	for _, f := range s.folders {
		display, key, _ := normName(f.Name) // validated in Open
		if _, _, err := m.createFolder(w, display, key, f.SpecialUse, true); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *mbx) recName(id uint64) string { return fmt.Sprintf("%s folder %d", m.addr, id) }

// lookup returns the folder id for a lower-cased name key.
func (m *mbx) lookup(key string) (uint64, bool, error) {
	v := m.names.Get([]byte(key))
	if v == nil {
		return 0, false, nil
	}
	id, ok := keyU64(v)
	if !ok || id == 0 {
		return 0, false, m.s.corrupt(m.addr+" folder name "+key, errors.New("bad folder id"))
	}
	return id, true, nil
}

func (m *mbx) folder(id uint64) (folderRec, error) {
	v := m.folders.Get(u64key(id))
	if v == nil {
		return folderRec{}, ErrNoFolder
	}
	r, err := decodeFolderRec(v)
	if err != nil {
		return folderRec{}, m.s.corrupt(m.recName(id), err)
	}
	return r, nil
}

// folderByName resolves a (not yet normalized) folder name.
func (m *mbx) folderByName(name string) (uint64, folderRec, error) {
	display, key, err := normName(name)
	if err != nil {
		return 0, folderRec{}, err
	}
	id, ok, err := m.lookup(key)
	if err != nil {
		return 0, folderRec{}, err
	}
	if !ok {
		return 0, folderRec{}, fmt.Errorf("%w: %s", ErrNoFolder, display)
	}
	r, err := m.folder(id)
	if errors.Is(err, ErrNoFolder) {
		return 0, folderRec{}, m.s.corrupt(m.addr+" folder name "+key, errors.New("name points to a missing folder"))
	}
	return id, r, err
}

func (m *mbx) putFolder(id uint64, r *folderRec) error {
	return m.folders.Put(u64key(id), r.encode())
}

func (m *mbx) msgBucket(id uint64) (*bbolt.Bucket, error) {
	b := m.msgs.Bucket(u64key(id))
	if b == nil {
		return nil, m.s.corrupt(m.recName(id), errors.New("missing message bucket"))
	}
	// UIDs only grow, so pages can be filled completely.
	b.FillPercent = 0.95
	return b, nil
}

func (m *mbx) msg(id uint64, b *bbolt.Bucket, uid uint32) (msgRec, error) {
	v := b.Get(u32key(uid))
	if v == nil {
		return msgRec{}, ErrNoMessage
	}
	r, err := decodeMsgRec(v)
	if err != nil {
		return msgRec{}, m.s.corrupt(fmt.Sprintf("%s folder %d uid %d", m.addr, id, uid), err)
	}
	return r, nil
}

// createFolder adds a folder with a fresh UIDVALIDITY.
func (m *mbx) createFolder(w *wtx, display, key, special string, dflt bool) (uint64, folderRec, error) {
	seq, err := m.folders.NextSequence()
	if err != nil {
		return 0, folderRec{}, err
	}
	uv, err := nextUIDValidity(w.Tx)
	if err != nil {
		return 0, folderRec{}, err
	}
	r := folderRec{
		Name:        display,
		UIDValidity: uv,
		UIDNext:     1,
		Subscribed:  dflt,
		SpecialUse:  special,
		Default:     dflt,
		Created:     time.Now().Unix(),
	}
	if err := m.putFolder(seq, &r); err != nil {
		return 0, folderRec{}, err
	}
	if err := m.names.Put([]byte(key), u64key(seq)); err != nil {
		return 0, folderRec{}, err
	}
	if _, err := m.msgs.CreateBucket(u64key(seq)); err != nil {
		return 0, folderRec{}, err
	}
	w.changed(Change{Kind: FolderCreated, Mailbox: m.addr, FolderID: seq, Folder: display})
	return seq, r, nil
}

// nextUIDValidity hands out UIDVALIDITY values that are unique in this file
// and, being seeded from the clock, do not repeat when the data directory is
// wiped and re-created (clients cache them; RFC 9051 section 2.3.1.1).
func nextUIDValidity(tx *bbolt.Tx) (uint32, error) {
	meta := tx.Bucket(bucketMeta)
	last, _ := keyU32(meta.Get(keyUIDValidity))
	next := last + 1
	if now := uint32(time.Now().Unix()); now > next {
		next = now
	}
	if next == 0 {
		next = 1
	}
	return next, meta.Put(keyUIDValidity, u32key(next))
}

// putBody stores a message body with an initial reference count.
func putBody(tx *bbolt.Tx, body []byte, refs uint32) (uint64, error) {
	bodies := tx.Bucket(bucketBodies)
	bodies.FillPercent = 0.95
	id, err := bodies.NextSequence()
	if err != nil {
		return 0, err
	}
	if err := bodies.Put(u64key(id), body); err != nil {
		return 0, err
	}
	return id, tx.Bucket(bucketRefs).Put(u64key(id), u32key(refs))
}

func addRef(tx *bbolt.Tx, id uint64, n int) error {
	refs := tx.Bucket(bucketRefs)
	k := u64key(id)
	cur, ok := keyU32(refs.Get(k))
	if !ok {
		// A missing count means the body is gone or the count is damaged;
		// the message record stays readable as far as the body allows.
		return nil
	}
	next := int64(cur) + int64(n)
	if next <= 0 {
		if err := refs.Delete(k); err != nil {
			return err
		}
		return tx.Bucket(bucketBodies).Delete(k)
	}
	return refs.Put(k, u32key(uint32(next)))
}

// addMsg updates the folder counters for a message entering it.
func (r *folderRec) addMsg(m *msgRec) {
	r.Messages++
	r.Size += m.Size
	if m.Flags&bitSeen == 0 {
		r.Unseen++
	}
	if m.Flags&bitDeleted != 0 {
		r.Deleted++
	}
}

// removeMsg updates the folder counters for a message leaving it.
func (r *folderRec) removeMsg(m *msgRec) {
	r.Messages = sub32(r.Messages, 1)
	if r.Size >= m.Size {
		r.Size -= m.Size
	} else {
		r.Size = 0
	}
	if m.Flags&bitSeen == 0 {
		r.Unseen = sub32(r.Unseen, 1)
	}
	if m.Flags&bitDeleted != 0 {
		r.Deleted = sub32(r.Deleted, 1)
	}
}

func sub32(a, b uint32) uint32 {
	if a < b {
		return 0
	}
	return a - b
}
