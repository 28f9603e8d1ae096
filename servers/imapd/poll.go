package imapd

import (
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
		gone := sortedUIDs(v.expunged)
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
	// infos are in UID order, so FETCH FLAGS go out in sequence order.
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
		return int(int64(m.uid) - int64(uid))
	})
}

// sortedUIDs is uids sorted without duplicates.
func sortedUIDs(uids []uint32) []uint32 {
	slices.Sort(uids)
	return slices.Compact(uids)
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
	cur := make(map[imap.UID][]string, len(list))
	for _, m := range list {
		cur[imap.UID(m.UID)] = m.Flags
	}
	synced := true
	for i := len(v.msgs) - 1; i >= 0; i-- {
		if _, ok := cur[v.msgs[i].uid]; ok {
			continue
		}
		if !allowExpunge {
			synced = false
			continue
		}
		if err := w.WriteExpunge(uint32(i) + 1); err != nil {
			return err
		}
		v.msgs = slices.Delete(v.msgs, i, i+1)
	}
	for i := range v.msgs {
		m := &v.msgs[i]
		if fl, ok := cur[m.uid]; ok && !slices.Equal(fl, m.flags) {
			m.flags = fl
			if err := w.WriteMessageFlags(uint32(i)+1, m.uid, imapFlags(fl)); err != nil {
				return err
			}
		}
	}
	var last imap.UID
	if n := len(v.msgs); n > 0 {
		last = v.msgs[n-1].uid
	}
	added := false
	for _, m := range list {
		if imap.UID(m.UID) > last {
			v.msgs = append(v.msgs, viewMsg{uid: imap.UID(m.UID), flags: m.Flags})
			added = true
		}
	}
	if added {
		if err := w.WriteNumMessages(uint32(len(v.msgs))); err != nil {
			return err
		}
	}
	v.stale = !synced
	return nil
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
