package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Mailbox is a handle on one mailbox. It holds no state besides the address
// and is cheap to obtain; every method reads or writes the store.
type Mailbox struct {
	s    *Store
	addr string
}

// MailboxInfo summarizes a mailbox for the admin API.
type MailboxInfo struct {
	Address  string
	Created  time.Time
	Folders  int
	Messages uint32
	Unseen   uint32
	Size     uint64
}

// FolderInfo is the status of a folder (IMAP STATUS / SELECT data).
type FolderInfo struct {
	ID          uint64 // stable while the folder exists; never reused in a mailbox
	Name        string
	UIDValidity uint32
	UIDNext     uint32
	Messages    uint32
	Unseen      uint32
	Deleted     uint32 // messages flagged \Deleted
	Size        uint64 // bytes of all messages
	ModSeq      uint64 // grows with every change to the folder's messages
	Subscribed  bool
	SpecialUse  string // \Sent, \Drafts, \Trash, \Junk, \Archive or ""
	Default     bool   // created with the mailbox; cannot be deleted or renamed
}

func (r *folderRec) info(id uint64) FolderInfo {
	return FolderInfo{
		ID: id, Name: r.Name, UIDValidity: r.UIDValidity, UIDNext: r.UIDNext,
		Messages: r.Messages, Unseen: r.Unseen, Deleted: r.Deleted, Size: r.Size,
		ModSeq: r.ModSeq, Subscribed: r.Subscribed, SpecialUse: r.SpecialUse, Default: r.Default,
	}
}

// CreateMailbox creates the mailbox for address with the default folders,
// or returns the existing one.
func (s *Store) CreateMailbox(ctx context.Context, address string) (*Mailbox, error) {
	addr, err := normAddress(address)
	if err != nil {
		return nil, err
	}
	err = s.submit(ctx, func(w *wtx) error {
		if w.Bucket(bucketMailboxes).Bucket([]byte(addr)) != nil {
			return nil
		}
		_, err := s.createMbx(w, addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Mailbox{s: s, addr: addr}, nil
}

// Mailbox returns a handle on an existing mailbox, or ErrNoMailbox.
func (s *Store) Mailbox(address string) (*Mailbox, error) {
	addr, err := normAddress(address)
	if err != nil {
		return nil, err
	}
	err = s.view(func(tx *bbolt.Tx) error {
		_, err := s.openMbx(tx, addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Mailbox{s: s, addr: addr}, nil
}

// DeleteMailbox removes a mailbox and all its messages.
func (s *Store) DeleteMailbox(ctx context.Context, address string) error {
	addr, err := normAddress(address)
	if err != nil {
		return err
	}
	return s.submit(ctx, func(w *wtx) error {
		m, err := s.openMbx(w.Tx, addr)
		if err != nil {
			return err
		}
		var ids []uint64
		err = m.folders.ForEach(func(k, _ []byte) error {
			if id, ok := keyU64(k); ok {
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := m.dropMessages(w, id); err != nil {
				return err
			}
		}
		return w.Bucket(bucketMailboxes).DeleteBucket([]byte(addr))
	})
}

// Mailboxes lists every mailbox with its totals, sorted by address. Damaged
// records are logged and skipped.
func (s *Store) Mailboxes() ([]MailboxInfo, error) {
	var out []MailboxInfo
	err := s.view(func(tx *bbolt.Tx) error {
		out = out[:0]
		return tx.Bucket(bucketMailboxes).ForEachBucket(func(k []byte) error {
			m, err := s.openMbx(tx, string(k))
			if err != nil {
				s.logCorrupt(err)
				return nil
			}
			info := MailboxInfo{Address: string(k)}
			if rec, err := decodeMailboxRec(m.b.Get(keyInfo)); err == nil {
				info.Created = time.Unix(rec.Created, 0)
			} else {
				s.logCorrupt(s.corrupt(string(k), err))
			}
			_ = m.folders.ForEach(func(fk, fv []byte) error {
				r, err := decodeFolderRec(fv)
				if err != nil {
					id, _ := keyU64(fk)
					s.logCorrupt(s.corrupt(m.recName(id), err))
					return nil
				}
				info.Folders++
				info.Messages += r.Messages
				info.Unseen += r.Unseen
				info.Size += r.Size
				return nil
			})
			out = append(out, info)
			return nil
		})
	})
	return out, err
}

// Address returns the mailbox key (the lower-cased SMTP address).
func (m *Mailbox) Address() string { return m.addr }

// Watch subscribes to the mailbox's changes. The caller must Close it.
func (m *Mailbox) Watch() *Watch { return m.s.hub.add(m.addr) }

// Folders lists the folders sorted by name, INBOX first. Damaged folder
// records are logged and skipped.
func (m *Mailbox) Folders() ([]FolderInfo, error) {
	var out []FolderInfo
	err := m.s.view(func(tx *bbolt.Tx) error {
		out = out[:0]
		mb, err := m.s.openMbx(tx, m.addr)
		if err != nil {
			return err
		}
		return mb.folders.ForEach(func(k, v []byte) error {
			id, _ := keyU64(k)
			r, err := decodeFolderRec(v)
			if err != nil {
				m.s.logCorrupt(m.s.corrupt(mb.recName(id), err))
				return nil
			}
			out = append(out, r.info(id))
			return nil
		})
	})
	slices.SortFunc(out, func(a, b FolderInfo) int {
		if a.Name == Inbox {
			return -1
		}
		if b.Name == Inbox {
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, err
}

// Folder returns a handle on the named folder (case-insensitive).
func (m *Mailbox) Folder(name string) (*Folder, error) {
	var f *Folder
	err := m.s.view(func(tx *bbolt.Tx) error {
		mb, err := m.s.openMbx(tx, m.addr)
		if err != nil {
			return err
		}
		id, r, err := mb.folderByName(name)
		if err != nil {
			return err
		}
		f = &Folder{m: m, id: id, name: r.Name}
		return nil
	})
	return f, err
}

// SpecialFolder returns the folder with a special-use attribute
// (SpecialSent, SpecialDrafts, ...): "Sent Items" in an Exchange mailbox,
// "Sent" with BasicFolders.
func (m *Mailbox) SpecialFolder(use string) (*Folder, error) {
	folders, err := m.Folders()
	if err != nil {
		return nil, err
	}
	for _, f := range folders {
		if f.SpecialUse == use {
			return &Folder{m: m, id: f.ID, name: f.Name}, nil
		}
	}
	return nil, fmt.Errorf("%w: no %s folder", ErrNoFolder, use)
}

// CreateFolder creates a folder and any missing parents (RFC 9051 section
// 6.3.4). The new folder gets a fresh UIDVALIDITY and is not subscribed.
func (m *Mailbox) CreateFolder(ctx context.Context, name string) (FolderInfo, error) {
	display, key, err := normName(name)
	if err != nil {
		return FolderInfo{}, err
	}
	var info FolderInfo
	err = m.s.submit(ctx, func(w *wtx) error {
		mb, err := m.s.openMbx(w.Tx, m.addr)
		if err != nil {
			return err
		}
		if err := mb.absent(key, display); err != nil {
			return err
		}
		if err := mb.createParents(w, display); err != nil {
			return err
		}
		id, r, err := mb.createFolder(w, display, key, "", false)
		info = r.info(id)
		return err
	})
	return info, err
}

func (mb *mbx) createParents(w *wtx, display string) error {
	for _, p := range parentNames(display) {
		pd, pk, err := normName(p)
		if err != nil {
			return err
		}
		if _, ok, err := mb.lookup(pk); err != nil {
			return err
		} else if !ok {
			if _, _, err := mb.createFolder(w, pd, pk, "", false); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteFolder deletes a folder and its messages. Default folders cannot be
// deleted (ErrDefaultFolder), nor folders with subfolders (ErrHasChildren).
// A folder re-created under the same name gets a new UIDVALIDITY.
func (m *Mailbox) DeleteFolder(ctx context.Context, name string) error {
	return m.writeFolder(ctx, name, func(w *wtx, mb *mbx, id uint64, r folderRec) error {
		if r.Default {
			return fmt.Errorf("%w: %s", ErrDefaultFolder, r.Name)
		}
		prefix := []byte(strings.ToLower(r.Name) + Delimiter)
		if k, _ := mb.names.Cursor().Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)) {
			return fmt.Errorf("%w: %s", ErrHasChildren, r.Name)
		}
		if err := mb.dropMessages(w, id); err != nil {
			return err
		}
		if err := mb.msgs.DeleteBucket(u64key(id)); err != nil {
			return err
		}
		if err := mb.folders.Delete(u64key(id)); err != nil {
			return err
		}
		if err := mb.names.Delete([]byte(strings.ToLower(r.Name))); err != nil {
			return err
		}
		w.changed(Change{Kind: FolderDeleted, Mailbox: m.addr, FolderID: id, Folder: r.Name})
		return nil
	})
}

// dropMessages releases the bodies of every message in a folder.
func (mb *mbx) dropMessages(w *wtx, id uint64) error {
	b := mb.msgs.Bucket(u64key(id))
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		r, err := decodeMsgRec(v)
		if err != nil {
			return nil // nothing to release for a damaged record
		}
		return addRef(w.Tx, r.Body, -1)
	})
}

// RenameFolder renames a folder and its subfolders, creating missing parents
// of the new name (RFC 9051 section 6.3.6). Folders keep their UIDVALIDITY
// and messages. Default folders cannot be renamed.
func (m *Mailbox) RenameFolder(ctx context.Context, oldName, newName string) error {
	newDisplay, newKey, err := normName(newName)
	if err != nil {
		return err
	}
	return m.writeFolder(ctx, oldName, func(w *wtx, mb *mbx, id uint64, r folderRec) error {
		if r.Default {
			return fmt.Errorf("%w: %s", ErrDefaultFolder, r.Name)
		}
		oldKey := strings.ToLower(r.Name)
		if newKey == oldKey {
			if newDisplay == r.Name {
				return nil
			}
		} else if err := mb.absent(newKey, newDisplay); err != nil {
			return err
		}
		if strings.HasPrefix(newKey, oldKey+Delimiter) {
			return fmt.Errorf("%w: cannot move %s into itself", ErrBadName, r.Name)
		}

		// The folder itself and every folder below it.
		type move struct {
			id      uint64
			oldKey  string
			newName string
		}
		moves := []move{{id, oldKey, newDisplay}}
		prefix := oldKey + Delimiter
		c := mb.names.Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			cid, ok := keyU64(v)
			if !ok {
				return m.s.corrupt(m.addr+" folder name "+string(k), errors.New("bad folder id"))
			}
			cr, err := mb.folder(cid)
			if err != nil {
				return err
			}
			moves = append(moves, move{cid, string(k), newDisplay + cr.Name[len(r.Name):]})
		}
		for _, mv := range moves {
			if err := mb.names.Delete([]byte(mv.oldKey)); err != nil {
				return err
			}
		}
		for _, mv := range moves {
			nd, nk, err := normName(mv.newName)
			if err != nil {
				return err
			}
			if err := mb.absent(nk, nd); err != nil {
				return err
			}
			fr, err := mb.folder(mv.id)
			if err != nil {
				return err
			}
			fr.Name = nd
			if err := mb.putFolder(mv.id, &fr); err != nil {
				return err
			}
			if err := mb.names.Put([]byte(nk), u64key(mv.id)); err != nil {
				return err
			}
			w.changed(Change{Kind: FolderRenamed, Mailbox: m.addr, FolderID: mv.id, Folder: nd})
		}
		return mb.createParents(w, newDisplay)
	})
}

// SetSubscribed subscribes or unsubscribes a folder (IMAP SUBSCRIBE).
func (m *Mailbox) SetSubscribed(ctx context.Context, name string, subscribed bool) error {
	return m.writeFolder(ctx, name, func(w *wtx, mb *mbx, id uint64, r folderRec) error {
		if r.Subscribed == subscribed {
			return nil
		}
		r.Subscribed = subscribed
		return mb.putFolder(id, &r)
	})
}

// writeFolder runs fn in a write transaction on the named folder
// (case-insensitive) of this mailbox.
func (m *Mailbox) writeFolder(ctx context.Context, name string, fn func(w *wtx, mb *mbx, id uint64, r folderRec) error) error {
	return m.s.submit(ctx, func(w *wtx) error {
		mb, err := m.s.openMbx(w.Tx, m.addr)
		if err != nil {
			return err
		}
		id, r, err := mb.folderByName(name)
		if err != nil {
			return err
		}
		return fn(w, mb, id, r)
	})
}

// absent fails with ErrFolderExists when the mailbox has a folder whose
// key (lower-case name) is key; display names it in the error.
func (mb *mbx) absent(key, display string) error {
	if _, ok, err := mb.lookup(key); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: %s", ErrFolderExists, display)
	}
	return nil
}
