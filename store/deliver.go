package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Delivered is the outcome of Deliver for one recipient mailbox.
type Delivered struct {
	Mailbox     string // lower-cased address
	UIDValidity uint32 // of the INBOX
	UID         uint32
	Err         error // ErrNoMailbox (wrapped) when this recipient has no mailbox
	// Duplicate says the mailbox already held this message (DeliverOnce's
	// id): nothing was stored; UID is the copy stored first.
	Duplicate bool
}

// Deliver stores msg in the INBOX of every listed mailbox in one durable
// transaction: it returns after the fsync that made the message safe, and
// concurrent calls share fsyncs. The body is stored once for all
// recipients. A non-nil error means nothing was stored; per-recipient
// failures (an unknown mailbox) are reported in Delivered.Err. msg must not
// be modified until Deliver returns.
func (s *Store) Deliver(ctx context.Context, msg []byte, mailboxes ...string) ([]Delivered, error) {
	return s.DeliverOnce(ctx, "", msg, mailboxes...)
}

// DeliverOnce is Deliver that recognises a message it already holds: id
// names the message across the organization (its Network-Message-Id), and
// a mailbox that already received id is reported as Duplicate instead of
// getting a second copy. The record of id is written in the same
// transaction as the message, so a sender that retries after a crash (the
// store's fsync happened, the sender's bookkeeping did not) delivers
// exactly once. Exchange's store does the same and logs it as the
// DUPLICATEDELIVER tracking event. An empty id turns the check off.
func (s *Store) DeliverOnce(ctx context.Context, id string, msg []byte, mailboxes ...string) ([]Delivered, error) {
	if len(msg) > s.opts.MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(msg))
	}
	if len(mailboxes) == 0 {
		return nil, nil
	}
	out := make([]Delivered, len(mailboxes))
	for i, a := range mailboxes {
		out[i].Mailbox, out[i].Err = normAddress(a)
	}
	sum := summarize(msg)
	now := time.Now()
	err := s.submitOp(ctx, &op{gather: true, apply: func(w *wtx) error {
		var bodyID uint64
		stored := 0
		for i := range out {
			d := &out[i]
			if d.Err != nil && !errors.Is(d.Err, ErrNoMailbox) {
				continue
			}
			if d.Mailbox == "" {
				continue
			}
			d.Err, d.UID, d.UIDValidity, d.Duplicate = nil, 0, 0, false
			if seen, ok := lookupDelivered(w.Tx, id, d.Mailbox); ok {
				d.Duplicate, d.UIDValidity, d.UID = true, seen.uidValidity, seen.uid
				continue
			}
			mb, err := s.openMbx(w.Tx, d.Mailbox)
			if errors.Is(err, ErrNoMailbox) && s.opts.AutoCreate {
				mb, err = s.createMbx(w, d.Mailbox)
			}
			if errors.Is(err, ErrNoMailbox) {
				d.Err = err
				continue
			}
			if err != nil {
				return err
			}
			if bodyID == 0 {
				if bodyID, err = putBody(w.Tx, msg, 0); err != nil {
					return err
				}
			}
			a, err := mb.appendMsg(w, Inbox, bodyID, &msgRec{Internal: unixNano(now), Size: uint64(len(msg))}, sum, CauseDelivered)
			if err != nil {
				return err
			}
			d.UID, d.UIDValidity = a.UID, a.UIDValidity
			if err := putDelivered(w.Tx, id, d.Mailbox, now, a); err != nil {
				return err
			}
			stored++
		}
		if bodyID != 0 {
			return addRef(w.Tx, bodyID, stored)
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendMsg adds a message record (whose body is already stored, one
// reference added here) to the named folder.
func (mb *mbx) appendMsg(w *wtx, folder string, bodyID uint64, rec *msgRec, sum summary, cause ChangeCause) (Appended, error) {
	id, r, err := mb.folderByName(folder)
	if err != nil {
		return Appended{}, err
	}
	return mb.appendTo(w, id, &r, bodyID, rec, sum, cause)
}

func (mb *mbx) appendTo(w *wtx, id uint64, r *folderRec, bodyID uint64, rec *msgRec, sum summary, cause ChangeCause) (Appended, error) {
	b, err := mb.msgBucket(id)
	if err != nil {
		return Appended{}, err
	}
	if r.UIDNext == 0 || r.UIDNext == 1<<32-1 {
		return Appended{}, mb.s.corrupt(mb.recName(id), errors.New("UID space exhausted"))
	}
	uid := r.UIDNext
	r.UIDNext++
	rec.Body = bodyID
	rec.From, rec.To, rec.Cc, rec.Subject, rec.MsgID, rec.Sent = sum.From, sum.To, sum.Cc, sum.Subject, sum.MsgID, sum.Sent
	if err := b.Put(u32key(uid), rec.encode()); err != nil {
		return Appended{}, err
	}
	r.addMsg(rec)
	r.ModSeq++
	if err := mb.putFolder(id, r); err != nil {
		return Appended{}, err
	}
	w.changed(Change{Kind: MessagesAdded, Mailbox: mb.addr, FolderID: id, Folder: r.Name, UIDs: []uint32{uid}, Cause: cause})
	return Appended{UIDValidity: r.UIDValidity, UID: uid}, nil
}
