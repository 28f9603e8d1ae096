package imapd

import (
	"cmp"
	"errors"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/exsim/exsim/store"
)

// Poll reports what changed in the selected folder since the session last
// looked: EXPUNGE (only where allowed: not during FETCH, STORE, SEARCH;
// RFC 9051 section 7.5.1), FETCH FLAGS and EXISTS.
//
// go-imap polls after every command, so Poll follows the mailbox's change
// feed (the session's store.Watch) and looks up only the messages the
// changes name: a command on a 10,000-message folder that other sessions
// keep changing then costs what the changes cost, not a read of the whole
// folder. When the feed lost changes (a session that did not poll for 1,024
// of them) the view is compared with the whole folder instead (resync).
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.watch == nil {
		return nil
	}
	changes := s.watch.Changes()
	v := s.sel
	if v == nil || v.gone {
		return nil
	}
	var flagged, added []uint32
	for _, c := range changes {
		switch {
		case c.Kind == store.ChangesLost:
			v.stale = true
		case c.FolderID != v.folder.ID():
		case c.Kind == store.FlagsChanged:
			flagged = append(flagged, c.UIDs...)
		case c.Kind == store.MessagesAdded:
			added = append(added, c.UIDs...)
		case c.Kind == store.MessagesExpunged:
			v.expunged = append(v.expunged, c.UIDs...)
		case c.Kind == store.FolderDeleted:
			v.gone = true
			return nil
		}
	}
	if v.stale {
		return s.resync(w, allowExpunge)
	}
	// Expunges first, highest sequence number first so that each number is
	// still valid when the client applies it.
	if allowExpunge && len(v.expunged) > 0 {
		slices.Sort(v.expunged) // dropUIDs searches it; duplicates do no harm
		gone := v.expunged
		v.expunged = nil
		if err := v.dropUIDs(gone, w.WriteExpunge); err != nil {
			return err
		}
	}
	if len(flagged) == 0 && len(added) == 0 {
		return nil
	}
	infos, err := v.folder.Lookup(append(flagged, added...))
	if errors.Is(err, store.ErrNoFolder) {
		v.gone = true
		return nil
	}
	if err != nil {
		return storeError(err)
	}
	return v.apply(w, infos)
}

// apply brings the view up to date with infos (in UID order): FETCH FLAGS
// for its messages whose flags changed, in sequence order, and EXISTS for
// the messages newer than its last.
func (v *view) apply(w *imapserver.UpdateWriter, infos []store.MessageInfo) error {
	var last imap.UID
	if n := len(v.msgs); n > 0 {
		last = v.msgs[n-1].uid
	}
	var news []viewMsg
	for _, info := range infos {
		uid := imap.UID(info.UID)
		if uid > last {
			news = append(news, viewMsg{uid: uid, flags: info.Flags})
			continue
		}
		i, ok := v.index(uid)
		if !ok || slices.Equal(info.Flags, v.msgs[i].flags) {
			continue
		}
		v.msgs[i].flags = info.Flags
		if err := w.WriteMessageFlags(uint32(i)+1, uid, imapFlags(info.Flags)); err != nil {
			return err
		}
	}
	if len(news) > 0 {
		v.msgs = append(v.msgs, news...)
		if err := w.WriteNumMessages(uint32(len(v.msgs))); err != nil {
			return err
		}
	}
	return nil
}

// index is the position of uid in the view (its sequence number - 1).
func (v *view) index(uid imap.UID) (int, bool) {
	return slices.BinarySearchFunc(v.msgs, uid, func(m viewMsg, uid imap.UID) int {
		return cmp.Compare(m.uid, uid)
	})
}

// resync compares the view with the whole folder, for when the change feed
// cannot be trusted. Expunges that are not allowed yet leave the view stale,
// so that the next Poll compares again.
func (s *session) resync(w *imapserver.UpdateWriter, allowExpunge bool) error {
	v := s.sel
	list, err := v.folder.List()
	if errors.Is(err, store.ErrNoFolder) {
		v.gone = true
		return nil
	}
	if err != nil {
		return storeError(err)
	}
	v.expunged = nil
	var gone []uint32 // in the view, no longer in the folder (UID order)
	for _, m := range v.msgs {
		if _, ok := slices.BinarySearchFunc(list, uint32(m.uid), func(info store.MessageInfo, uid uint32) int {
			return cmp.Compare(info.UID, uid)
		}); !ok {
			gone = append(gone, uint32(m.uid))
		}
	}
	v.stale = len(gone) > 0 && !allowExpunge
	if len(gone) > 0 && allowExpunge {
		if err := v.dropUIDs(gone, w.WriteExpunge); err != nil {
			return err
		}
	}
	return v.apply(w, list)
}

// Idle reports changes as they are committed until stop is closed.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	wake := s.watch.C()
	for {
		if err := s.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case _, ok := <-wake:
			if !ok {
				wake = nil // store closed: nothing more will come
			}
		}
	}
}
