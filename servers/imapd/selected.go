package imapd

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/exsim/exsim/store"
)

// view is a session's picture of the selected folder: message sequence
// numbers are positions in msgs (RFC 9051 section 2.3.1.2). The store knows
// nothing about sequence numbers; the view is brought up to date from the
// mailbox's change feed (Poll).
type view struct {
	folder      *store.Folder
	readOnly    bool
	uidValidity uint32
	msgs        []viewMsg // in UID order
	gone        bool      // the folder was deleted
	// expunged are UIDs removed by other sessions and not yet announced
	// (EXPUNGE is not allowed during every command).
	expunged []uint32
	// stale: the change feed lost changes, or expunges are still to be
	// announced after a resync; the next Poll compares the whole folder.
	stale bool
}

type viewMsg struct {
	uid   imap.UID
	flags []string
}

var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// exchangeFlags are the flags of every Exchange folder, FLAGS and
// PERMANENTFLAGS alike: the system flags and $MDNSent, no "\*" (offlineimap
// issue 62, rainloop issue 686). Exchange keeps no other keywords.
var exchangeFlags = append(slices.Clone(systemFlags), imap.FlagMDNSent)

// keepFlags drops the keywords that Exchange does not keep from flags a
// client stores or appends; they are not in PERMANENTFLAGS, so the client
// knows (RFC 9051 section 7.1).
func (s *session) keepFlags(flags []imap.Flag) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if s.b.opts.Flavor == FlavorExchange && !slices.ContainsFunc(exchangeFlags, func(e imap.Flag) bool { return strings.EqualFold(string(e), string(f)) }) {
			continue
		}
		out = append(out, string(f))
	}
	return out
}

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	// The changes so far are in what is read below; Poll follows the rest.
	s.watch.Changes()
	f, st, err := s.folderStatus(name)
	if err != nil {
		return nil, err
	}
	list, err := f.List()
	if err != nil {
		return nil, storeError(err)
	}
	v := &view{folder: f, readOnly: options.ReadOnly, uidValidity: st.UIDValidity}
	v.msgs = make([]viewMsg, len(list))
	flags := slices.Clone(systemFlags)
	var firstUnseen uint32
	for i, m := range list {
		v.msgs[i] = viewMsg{uid: imap.UID(m.UID), flags: m.Flags}
		if firstUnseen == 0 && !m.Seen() {
			firstUnseen = uint32(i) + 1
		}
		for _, fl := range m.Flags {
			if !slices.Contains(flags, imap.Flag(fl)) {
				flags = append(flags, imap.Flag(fl))
			}
		}
	}
	s.sel = v
	permanent := append(slices.Clone(flags), imap.FlagWildcard)
	if s.b.opts.Flavor == FlavorExchange {
		flags, permanent = exchangeFlags, exchangeFlags
	}
	return &imap.SelectData{
		Flags:             flags,
		PermanentFlags:    permanent,
		NumMessages:       uint32(len(v.msgs)),
		FirstUnseenSeqNum: firstUnseen,
		UIDNext:           imap.UID(st.UIDNext),
		UIDValidity:       st.UIDValidity,
	}, nil
}

func (s *session) Unselect() error {
	s.sel = nil
	return nil
}

func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	v, err := s.selected(true)
	if err != nil {
		return err
	}
	// Only messages this session knows about; newer ones are not its business.
	var targets []uint32
	for _, m := range v.msgs {
		if uids == nil || v.uidSetContains(*uids, m.uid) {
			targets = append(targets, uint32(m.uid))
		}
	}
	if len(targets) == 0 {
		return nil
	}
	removed, err := v.folder.Expunge(s.ctx(), targets)
	if err != nil {
		return storeError(err)
	}
	return v.dropUIDs(removed, w.WriteExpunge)
}

// dropUIDs removes messages from the view, announcing each sequence number
// from the highest down.
func (v *view) dropUIDs(uids []uint32, write func(seq uint32) error) error {
	for i := len(v.msgs) - 1; i >= 0; i-- {
		if _, found := slices.BinarySearch(uids, uint32(v.msgs[i].uid)); !found {
			continue
		}
		if err := write(uint32(i) + 1); err != nil {
			return err
		}
		v.msgs = slices.Delete(v.msgs, i, i+1)
	}
	return nil
}

// target is a message addressed by a sequence set or UID set.
type target struct {
	seq uint32
	uid imap.UID
}

// resolve turns a sequence or UID set into the view's messages, in sequence
// order. "*" is the last message (RFC 9051 section 9, seq-number).
func (v *view) resolve(numSet imap.NumSet) []target {
	var out []target
	switch set := numSet.(type) {
	case imap.SeqSet:
		max := uint32(len(v.msgs))
		for i, m := range v.msgs {
			seq := uint32(i) + 1
			if seqSetContains(set, seq, max) {
				out = append(out, target{seq, m.uid})
			}
		}
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			return nil // SEARCHRES is not announced
		}
		for i, m := range v.msgs {
			if v.uidSetContains(set, m.uid) {
				out = append(out, target{uint32(i) + 1, m.uid})
			}
		}
	}
	return out
}

// selected is the selected folder for a command on it: errFolderGone once
// another session has deleted it and, for a command that changes it
// (write), errReadOnly when it was opened with EXAMINE.
func (s *session) selected(write bool) (*view, error) {
	v := s.sel
	if write && v.readOnly {
		return nil, errReadOnly
	}
	if v.gone {
		return nil, errFolderGone
	}
	return v, nil
}

// targets is the selected folder and the messages of numSet in it, for a
// command on them (see selected).
func (s *session) targets(numSet imap.NumSet, write bool) (*view, []target, error) {
	v, err := s.selected(write)
	if err != nil {
		return nil, nil, err
	}
	return v, v.resolve(numSet), nil
}

func seqSetContains(set imap.SeqSet, seq, max uint32) bool {
	for _, r := range set {
		if inRange(r.Start, r.Stop, max, seq) {
			return true
		}
	}
	return false
}

func (v *view) uidSetContains(set imap.UIDSet, uid imap.UID) bool {
	var max imap.UID
	if n := len(v.msgs); n > 0 {
		max = v.msgs[n-1].uid
	}
	for _, r := range set {
		if inRange(r.Start, r.Stop, max, uid) {
			return true
		}
	}
	return false
}

// inRange reports whether n is in the range start:stop of a sequence set,
// where 0 stands for "*", the largest number in use (max), and the ends
// may come in either order (RFC 9051 section 9, seq-range).
func inRange[N ~uint32](start, stop, max, n N) bool {
	if start == 0 {
		start = max
	}
	if stop == 0 {
		stop = max
	}
	if start > stop {
		start, stop = stop, start
	}
	return n >= start && n <= stop
}

func uidList(ts []target) []uint32 {
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = uint32(t.uid)
	}
	return out
}

func imapFlags(fl []string) []imap.Flag {
	out := make([]imap.Flag, len(fl))
	for i, f := range fl {
		out[i] = imap.Flag(f)
	}
	return out
}

// setFlags records flags this session itself changed, so Poll does not
// announce them back.
func (v *view) setFlags(updates []store.FlagUpdate) map[imap.UID][]string {
	byUID := make(map[imap.UID][]string, len(updates))
	for _, u := range updates {
		byUID[imap.UID(u.UID)] = u.Flags
	}
	for i := range v.msgs {
		if fl, ok := byUID[v.msgs[i].uid]; ok {
			v.msgs[i].flags = fl
		}
	}
	return byUID
}
