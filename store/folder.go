package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Folder is a handle on one folder, bound to the folder's identity: after the
// folder is deleted (even if re-created under the same name) every call
// returns ErrNoFolder. A rename keeps the handle valid.
type Folder struct {
	m    *Mailbox
	id   uint64
	name string
}

// MessageInfo is a message's metadata without its body.
type MessageInfo struct {
	UID          uint32
	Flags        []string // system flags first (\Seen, \Answered, \Flagged, \Deleted, \Draft), then keywords
	InternalDate time.Time
	Size         int64
	// From the header, RFC 2047 decoded, for list views.
	From, To, Cc, Subject, MessageID string
	Date                             time.Time // Date header; zero when absent
}

// HasFlag reports whether the message has flag (case-insensitive).
func (mi MessageInfo) HasFlag(flag string) bool {
	for _, f := range mi.Flags {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
}

// Seen reports whether the message is read.
func (mi MessageInfo) Seen() bool { return mi.HasFlag(FlagSeen) }

func (r *msgRec) info(uid uint32) MessageInfo {
	mi := MessageInfo{
		UID: uid, Flags: flagList(r.Flags, r.Keywords), Size: int64(r.Size),
		From: r.From, To: r.To, Cc: r.Cc, Subject: r.Subject, MessageID: r.MsgID,
	}
	if r.Internal != 0 {
		mi.InternalDate = time.Unix(0, r.Internal)
	}
	if r.Sent != 0 {
		mi.Date = time.Unix(r.Sent, 0)
	}
	return mi
}

// Appended is the UIDPLUS result of an append (RFC 4315 APPENDUID).
type Appended struct {
	UIDValidity uint32
	UID         uint32
}

// Copied is the UIDPLUS result of a copy or move (RFC 4315 COPYUID):
// SourceUIDs[i] became DestUIDs[i], in ascending order.
type Copied struct {
	UIDValidity uint32 // of the destination
	SourceUIDs  []uint32
	DestUIDs    []uint32
}

// FlagUpdate is a message's flags after StoreFlags.
type FlagUpdate struct {
	UID   uint32
	Flags []string
}

// Name returns the folder's name when the handle was obtained.
func (f *Folder) Name() string { return f.name }

// ID returns the folder's identity (FolderInfo.ID, Change.FolderID).
func (f *Folder) ID() uint64 { return f.id }

// Mailbox returns the mailbox the folder belongs to.
func (f *Folder) Mailbox() *Mailbox { return f.m }

func (f *Folder) read(fn func(mb *mbx, r *folderRec) error) error {
	s := f.m.s
	return s.view(func(tx *bbolt.Tx) error {
		mb, err := s.openMbx(tx, f.m.addr)
		if err != nil {
			return err
		}
		r, err := mb.folder(f.id)
		if err != nil {
			return f.wrap(err)
		}
		return fn(mb, &r)
	})
}

func (f *Folder) write(ctx context.Context, fn func(w *wtx, mb *mbx, r *folderRec) error) error {
	s := f.m.s
	return s.submit(ctx, func(w *wtx) error {
		mb, err := s.openMbx(w.Tx, f.m.addr)
		if err != nil {
			return err
		}
		r, err := mb.folder(f.id)
		if err != nil {
			return f.wrap(err)
		}
		return fn(w, mb, &r)
	})
}

// readMsgs is read with the folder's message bucket.
func (f *Folder) readMsgs(fn func(mb *mbx, r *folderRec, b *bbolt.Bucket) error) error {
	return f.read(func(mb *mbx, r *folderRec) error {
		b, err := mb.msgBucket(f.id)
		if err != nil {
			return err
		}
		return fn(mb, r, b)
	})
}

// writeMsgs is write with the folder's message bucket.
func (f *Folder) writeMsgs(ctx context.Context, fn func(w *wtx, mb *mbx, r *folderRec, b *bbolt.Bucket) error) error {
	return f.write(ctx, func(w *wtx, mb *mbx, r *folderRec) error {
		b, err := mb.msgBucket(f.id)
		if err != nil {
			return err
		}
		return fn(w, mb, r, b)
	})
}

func (f *Folder) wrap(err error) error {
	if err == ErrNoFolder {
		return fmt.Errorf("%w: %s", ErrNoFolder, f.name)
	}
	return err
}

// Status returns the folder's counters.
func (f *Folder) Status() (FolderInfo, error) {
	var info FolderInfo
	err := f.read(func(_ *mbx, r *folderRec) error {
		info = r.info(f.id)
		return nil
	})
	return info, err
}

// Messages returns the metadata of every message in UID order. Damaged
// records are logged and skipped.
func (f *Folder) Messages() ([]MessageInfo, error) { return f.messages(true) }

// List is Messages without the header fields (From, To, Cc, Subject and
// MessageID are empty), for views that need only UIDs, flags, sizes and
// dates (IMAP SELECT and SEARCH on flags): on a 10,000-message folder it
// spares the 50,000 strings Messages makes.
func (f *Folder) List() ([]MessageInfo, error) { return f.messages(false) }

func (f *Folder) messages(text bool) ([]MessageInfo, error) {
	var out []MessageInfo
	err := f.readMsgs(func(mb *mbx, r *folderRec, b *bbolt.Bucket) error {
		out = make([]MessageInfo, 0, r.Messages)
		return b.ForEach(func(k, v []byte) error {
			uid, ok := keyU32(k)
			rec, err := decodeMsgRecText(v, text)
			if !ok || err != nil {
				f.m.s.logCorrupt(f.m.s.corrupt(fmt.Sprintf("%s folder %d uid %x", mb.addr, f.id, k), err))
				return nil
			}
			out = append(out, rec.info(uid))
			return nil
		})
	})
	return out, err
}

// Lookup returns the metadata of the listed UIDs that exist, in UID order.
func (f *Folder) Lookup(uids []uint32) ([]MessageInfo, error) {
	uids = sortedUIDs(uids)
	var out []MessageInfo
	err := f.readMsgs(func(mb *mbx, _ *folderRec, b *bbolt.Bucket) error {
		out = make([]MessageInfo, 0, len(uids))
		return mb.eachMsg(f.id, b, uids, func(uid uint32, rec msgRec) error {
			out = append(out, rec.info(uid))
			return nil
		})
	})
	return out, err
}

// Body returns a copy of the message's full RFC 5322 text.
func (f *Folder) Body(uid uint32) ([]byte, error) {
	var body []byte
	err := f.readMsgs(func(mb *mbx, _ *folderRec, b *bbolt.Bucket) error {
		rec, err := mb.msg(f.id, b, uid)
		if err != nil {
			if err == ErrNoMessage {
				return fmt.Errorf("%w: %s uid %d", ErrNoMessage, f.name, uid)
			}
			return err
		}
		v, err := mb.body(f.id, uid, rec)
		body = bytes.Clone(v)
		return err
	})
	return body, err
}

// body is the text of message uid of folder id, valid in the transaction.
func (mb *mbx) body(id uint64, uid uint32, rec msgRec) ([]byte, error) {
	v := mb.s.readBody(mb.tx(), rec.Body)
	if v == nil {
		return nil, mb.s.corrupt(fmt.Sprintf("%s folder %d uid %d", mb.addr, id, uid), fmt.Errorf("body %d missing", rec.Body))
	}
	if uint64(len(v)) != rec.Size {
		return nil, mb.s.corrupt(fmt.Sprintf("%s folder %d uid %d", mb.addr, id, uid), fmt.Errorf("body %d has %d bytes, record says %d", rec.Body, len(v), rec.Size))
	}
	return v, nil
}

// Scan calls fn with the metadata of every message of the folder, as List
// has it (no header fields), in UID order, all in one read transaction.
// body returns the message's full text without a copy (nil for a damaged
// body, which is logged); body and its result are valid only until fn
// returns, and the text must not be modified. Scan is for searches of whole
// folders (IMAP SEARCH on headers or text), which Messages and then Body, a
// transaction and a copy per message, make slow. fn must not wait on
// anything, network writes included: the transaction holds off the growth
// of the store's file. Damaged records are logged and skipped.
func (f *Folder) Scan(fn func(info *MessageInfo, body func() []byte) error) error {
	return f.readMsgs(func(mb *mbx, _ *folderRec, b *bbolt.Bucket) error {
		// One body function for the whole scan, reading the current record.
		var cur struct {
			uid uint32
			rec msgRec
		}
		body := func() []byte {
			v, err := mb.body(f.id, cur.uid, cur.rec)
			if err != nil {
				mb.s.logCorrupt(err)
			}
			return v
		}
		return b.ForEach(func(k, v []byte) error {
			uid, ok := keyU32(k)
			rec, err := decodeMsgRecText(v, false)
			if !ok || err != nil {
				mb.s.logCorrupt(mb.s.corrupt(fmt.Sprintf("%s folder %d uid %x", mb.addr, f.id, k), err))
				return nil
			}
			info := rec.info(uid)
			cur.uid, cur.rec = uid, rec
			return fn(&info, body)
		})
	})
}

func (mb *mbx) tx() *bbolt.Tx { return mb.b.Tx() }

func (s *Store) readBody(tx *bbolt.Tx, id uint64) []byte {
	return tx.Bucket(bucketBodies).Get(u64key(id))
}

// Append stores msg in the folder with the given flags and internal date
// (zero: now), durably (IMAP APPEND, OWA "save to Sent Items").
func (f *Folder) Append(ctx context.Context, msg []byte, flags []string, date time.Time) (Appended, error) {
	if len(msg) > f.m.s.opts.MaxMessageSize {
		return Appended{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(msg))
	}
	if date.IsZero() {
		date = time.Now()
	}
	bits, kws := parseFlags(flags)
	sum := summarize(msg)
	var out Appended
	err := f.write(ctx, func(w *wtx, mb *mbx, r *folderRec) error {
		bodyID, err := putBody(w.Tx, msg, 1)
		if err != nil {
			return err
		}
		out, err = mb.appendTo(w, f.id, r, bodyID, &msgRec{Flags: bits, Keywords: kws, Internal: unixNano(date), Size: uint64(len(msg))}, sum, CauseAppended)
		return err
	})
	return out, err
}

// StoreFlags changes the flags of the listed UIDs (IMAP STORE) and returns
// the resulting flags of every listed message that exists, in UID order.
func (f *Folder) StoreFlags(ctx context.Context, uids []uint32, op FlagOp, flags []string) ([]FlagUpdate, error) {
	uids = sortedUIDs(uids)
	bits, kws := parseFlags(flags)
	var out []FlagUpdate
	err := f.writeMsgs(ctx, func(w *wtx, mb *mbx, r *folderRec, b *bbolt.Bucket) error {
		out = out[:0]
		var changed []uint32
		if err := mb.eachMsg(f.id, b, uids, func(uid uint32, rec msgRec) error {
			nb, nk := applyFlags(rec.Flags, rec.Keywords, op, bits, kws)
			if nb != rec.Flags || !sameKeywords(nk, rec.Keywords) {
				r.removeMsg(&rec)
				rec.Flags, rec.Keywords = nb, nk
				r.addMsg(&rec)
				if err := b.Put(u32key(uid), rec.encode()); err != nil {
					return err
				}
				changed = append(changed, uid)
			}
			out = append(out, FlagUpdate{UID: uid, Flags: flagList(rec.Flags, rec.Keywords)})
			return nil
		}); err != nil {
			return err
		}
		if len(changed) == 0 {
			return nil
		}
		r.ModSeq++
		if err := mb.putFolder(f.id, r); err != nil {
			return err
		}
		w.changed(Change{Kind: FlagsChanged, Mailbox: mb.addr, FolderID: f.id, Folder: r.Name, UIDs: changed})
		return nil
	})
	return out, err
}

// Expunge removes the messages flagged \Deleted, limited to uids when uids
// is not nil (IMAP EXPUNGE and UID EXPUNGE), and returns the removed UIDs in
// ascending order.
func (f *Folder) Expunge(ctx context.Context, uids []uint32) ([]uint32, error) {
	return f.remove(ctx, uids, true)
}

// Remove removes the listed messages whatever their flags (POP3 DELE+QUIT,
// OWA delete) and returns the removed UIDs in ascending order.
func (f *Folder) Remove(ctx context.Context, uids []uint32) ([]uint32, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	return f.remove(ctx, uids, false)
}

func (f *Folder) remove(ctx context.Context, uids []uint32, onlyDeleted bool) ([]uint32, error) {
	all := uids == nil
	uids = sortedUIDs(uids)
	var out []uint32
	err := f.writeMsgs(ctx, func(w *wtx, mb *mbx, r *folderRec, b *bbolt.Bucket) error {
		out = out[:0]
		type victim struct {
			uid uint32
			rec msgRec
		}
		var victims []victim
		consider := func(uid uint32, rec msgRec) {
			if !onlyDeleted || rec.Flags&bitDeleted != 0 {
				victims = append(victims, victim{uid, rec})
			}
		}
		if all {
			err := b.ForEach(func(k, v []byte) error {
				uid, ok := keyU32(k)
				rec, err := decodeMsgRec(v)
				if ok && err == nil {
					consider(uid, rec)
				}
				return nil
			})
			if err != nil {
				return err
			}
		} else {
			if err := mb.eachMsg(f.id, b, uids, func(uid uint32, rec msgRec) error {
				consider(uid, rec)
				return nil
			}); err != nil {
				return err
			}
		}
		if len(victims) == 0 {
			return nil
		}
		for _, v := range victims {
			if err := b.Delete(u32key(v.uid)); err != nil {
				return err
			}
			if err := addRef(w.Tx, v.rec.Body, -1); err != nil {
				return err
			}
			r.removeMsg(&v.rec)
			out = append(out, v.uid)
		}
		r.ModSeq++
		if err := mb.putFolder(f.id, r); err != nil {
			return err
		}
		w.changed(Change{Kind: MessagesExpunged, Mailbox: mb.addr, FolderID: f.id, Folder: r.Name, UIDs: slices.Clone(out), Cause: CauseRemoved})
		return nil
	})
	return out, err
}

// Copy copies the listed messages, in ascending UID order, to the folder
// named dest (IMAP COPY with UIDPLUS). Flags and internal dates are kept;
// bodies are shared, not duplicated. UIDs that do not exist are skipped.
func (f *Folder) Copy(ctx context.Context, uids []uint32, dest string) (Copied, error) {
	return f.transfer(ctx, uids, dest, false)
}

// Move moves the listed messages to dest (RFC 6851) in one transaction.
func (f *Folder) Move(ctx context.Context, uids []uint32, dest string) (Copied, error) {
	return f.transfer(ctx, uids, dest, true)
}

func (f *Folder) transfer(ctx context.Context, uids []uint32, dest string, move bool) (Copied, error) {
	uids = sortedUIDs(uids)
	var out Copied
	err := f.write(ctx, func(w *wtx, mb *mbx, src *folderRec) error {
		out = Copied{}
		did, dst, err := mb.folderByName(dest)
		if err != nil {
			return err
		}
		if did == f.id {
			if move {
				return fmt.Errorf("%w: %s", ErrSameFolder, src.Name)
			}
			dst = *src
		}
		out.UIDValidity = dst.UIDValidity
		sb, err := mb.msgBucket(f.id)
		if err != nil {
			return err
		}
		db, err := mb.msgBucket(did)
		if err != nil {
			return err
		}
		if err := mb.eachMsg(f.id, sb, uids, func(uid uint32, rec msgRec) error {
			if dst.UIDNext == 1<<32-1 {
				return mb.s.corrupt(mb.recName(did), fmt.Errorf("UID space exhausted"))
			}
			nuid := dst.UIDNext
			dst.UIDNext++
			if err := db.Put(u32key(nuid), rec.encode()); err != nil {
				return err
			}
			dst.addMsg(&rec)
			if move {
				if err := sb.Delete(u32key(uid)); err != nil {
					return err
				}
				src.removeMsg(&rec)
			} else if err := addRef(w.Tx, rec.Body, 1); err != nil {
				return err
			}
			out.SourceUIDs = append(out.SourceUIDs, uid)
			out.DestUIDs = append(out.DestUIDs, nuid)
			return nil
		}); err != nil {
			return err
		}
		if len(out.SourceUIDs) == 0 {
			return nil
		}
		dst.ModSeq++
		if did == f.id {
			*src = dst
		}
		if err := mb.putFolder(did, &dst); err != nil {
			return err
		}
		if move {
			src.ModSeq++
			if err := mb.putFolder(f.id, src); err != nil {
				return err
			}
			w.changed(Change{Kind: MessagesExpunged, Mailbox: mb.addr, FolderID: f.id, Folder: src.Name, UIDs: slices.Clone(out.SourceUIDs), Cause: CauseMoved})
		}
		cause := CauseCopied
		if move {
			cause = CauseMoved
		}
		w.changed(Change{Kind: MessagesAdded, Mailbox: mb.addr, FolderID: did, Folder: dst.Name, UIDs: slices.Clone(out.DestUIDs),
			Cause: cause, SourceFolder: src.Name, SourceUIDs: slices.Clone(out.SourceUIDs)})
		return nil
	})
	return out, err
}

// eachMsg calls fn with the record of each of uids that exists in
// folder id (whose message bucket is b), in the order of uids.
func (mb *mbx) eachMsg(id uint64, b *bbolt.Bucket, uids []uint32, fn func(uid uint32, rec msgRec) error) error {
	for _, uid := range uids {
		rec, err := mb.msg(id, b, uid)
		if err == ErrNoMessage {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(uid, rec); err != nil {
			return err
		}
	}
	return nil
}

// sortedUIDs returns uids sorted ascending without duplicates or zeros.
func sortedUIDs(uids []uint32) []uint32 {
	out := slices.Clone(uids)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 0 && out[0] == 0 {
		out = out[1:]
	}
	return out
}
