package httpd

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"strings"

	"github.com/exsim/exsim/internal/mapi"
)

// The mailbox as ROPs see it: folders with Folder IDs and messages with
// Message IDs (MS-OXCDATA 2.2.1.1, 2.2.1.2), laid over the Backend and
// MailStore that EWS reads. Ids are ReplicaId 1 and a global counter:
// the RopLogon special folders have the counters 1 to 13 in their
// FolderIds order, other folders and messages a hash of their name (and
// message id), stable across sessions.

// mapiID is a FID or MID: ReplicaId 1 then a 6-byte big-endian counter.
func mapiID(counter uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint16(b[:2], 1)
	for i := range 6 {
		b[2+i] = byte(counter >> (8 * (5 - i)))
	}
	return binary.LittleEndian.Uint64(b[:])
}

func hashCounter(base uint64, parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(strings.ToLower(p)))
		h.Write([]byte{0})
	}
	return base | h.Sum64()&(1<<40-1)
}

// specialFolders are the RopLogon folders: display name, the backend
// folder behind it ("" for none) and the parent (a FolderIds index, -1
// for the root).
var specialFolders = [mapi.NumSpecialFolders]struct {
	name, backend string
	parent        int
}{
	mapi.FolderRoot:           {"", "", -1},
	mapi.FolderDeferredAction: {"Deferred Action", "", mapi.FolderRoot},
	mapi.FolderSpoolerQueue:   {"Spooler Queue", "", mapi.FolderRoot},
	mapi.FolderIPMSubtree:     {"Top of Information Store", "", mapi.FolderRoot},
	mapi.FolderInbox:          {"Inbox", FolderInbox, mapi.FolderIPMSubtree},
	mapi.FolderOutbox:         {"Outbox", "Outbox", mapi.FolderIPMSubtree},
	mapi.FolderSentItems:      {"Sent Items", FolderSentItems, mapi.FolderIPMSubtree},
	mapi.FolderDeletedItems:   {"Deleted Items", FolderDeletedItems, mapi.FolderIPMSubtree},
	mapi.FolderCommonViews:    {"Common Views", "", mapi.FolderRoot},
	mapi.FolderSchedule:       {"Schedule", "", mapi.FolderRoot},
	mapi.FolderSearch:         {"Finder", "", mapi.FolderRoot},
	mapi.FolderViews:          {"Views", "", mapi.FolderRoot},
	mapi.FolderShortcuts:      {"Shortcuts", "", mapi.FolderRoot},
}

// specialFIDs are the FolderIds of RopLogon.
func specialFIDs() (ids [mapi.NumSpecialFolders]uint64) {
	for i := range ids {
		ids[i] = mapiID(uint64(i + 1))
	}
	return ids
}

// folderFID is the FID of the backend folder name: a special folder's
// (INBOX/Sub's parent is the Inbox), else the hash of the name.
func folderFID(name string) uint64 {
	for i, s := range specialFolders {
		if s.backend != "" && strings.EqualFold(s.backend, name) {
			return mapiID(uint64(i + 1))
		}
	}
	return mapiID(hashCounter(1<<40, name))
}

// mapiFolder is one folder of the tree.
type mapiFolder struct {
	fid, parent   uint64
	name          string // display name
	backend       string // the backend's folder name, "" when it has none
	total, unread int
	children      int
}

// mapiFolders builds the folder tree of u's mailbox.
func (h *Handler) mapiFolders(ctx context.Context, u *User) ([]*mapiFolder, error) {
	fids := specialFIDs()
	var out []*mapiFolder
	byBackend := map[string]*mapiFolder{}
	for i, s := range specialFolders {
		f := &mapiFolder{fid: fids[i], name: s.name} // backend set when the store has it
		if s.parent >= 0 {
			f.parent = fids[s.parent]
		}
		out = append(out, f)
		if s.backend != "" {
			byBackend[strings.ToLower(s.backend)] = f
		}
	}
	infos, err := h.folderInfos(ctx, u)
	if err != nil {
		return nil, err
	}
	for _, fi := range infos {
		if strings.HasPrefix(strings.ToLower(fi.Name), strings.ToLower(recoverableItems)) {
			continue // outside the IPM subtree, as in Exchange
		}
		key := strings.ToLower(fi.Name)
		if f := byBackend[key]; f != nil {
			f.backend, f.total, f.unread = fi.Name, fi.Total, fi.Unread
			continue
		}
		parent, name := fids[mapi.FolderIPMSubtree], fi.Name
		if i := strings.LastIndexByte(fi.Name, '/'); i >= 0 {
			parent, name = folderFID(fi.Name[:i]), fi.Name[i+1:]
		}
		f := &mapiFolder{fid: folderFID(fi.Name), parent: parent, name: name,
			backend: fi.Name, total: fi.Total, unread: fi.Unread}
		byBackend[key] = f
		out = append(out, f)
	}
	for _, f := range out {
		for _, p := range out {
			if p.fid == f.parent {
				p.children++
			}
		}
	}
	return out, nil
}

// folderProp is one property of a folder (MS-OXCFOLD 2.2.2).
func (f *mapiFolder) prop(t mapi.PropTag) (any, bool) {
	switch t.ID() {
	case mapi.PidTagDisplayName.ID():
		return f.name, true
	case mapi.PidTagContentCount.ID():
		return int32(f.total), true
	case mapi.PidTagContentUnreadCount.ID():
		return int32(f.unread), true
	case mapi.PidTagSubfolders.ID():
		return f.children > 0, true
	case mapi.PidTagFolderID.ID():
		return int64(f.fid), true
	case mapi.PidTagParentFolderID.ID():
		return int64(f.parent), true
	case mapi.PidTagContainerClass.ID():
		if strings.EqualFold(f.backend, FolderCalendar) {
			return "IPF.Appointment", true
		}
		if f.backend != "" {
			return "IPF.Note", true
		}
	}
	return nil, false
}

// mapiMessage is one row of a contents table.
type mapiMessage struct {
	MessageInfo
	fid uint64
	mid uint64
}

func newMAPIMessage(folder string, fid uint64, m MessageInfo) *mapiMessage {
	id := m.ID
	if m.Alias != "" {
		id = m.Alias
	}
	return &mapiMessage{MessageInfo: m, fid: fid, mid: mapiID(hashCounter(1<<41, folder, id))}
}

// prop is one property of a message (MS-OXCMSG 2.2.1, MS-OXOMSG 2.2.1).
func (m *mapiMessage) prop(t mapi.PropTag) (any, bool) {
	switch t.ID() {
	case mapi.PidTagSubject.ID():
		return m.Subject, true
	case mapi.PidTagMessageDeliveryTime.ID():
		return m.Date, !m.Date.IsZero()
	case mapi.PidTagMid.ID():
		return int64(m.mid), true
	case mapi.PidTagFolderID.ID(), mapi.PidTagParentFolderID.ID():
		return int64(m.fid), true
	case mapi.PidTagMessageSize.ID():
		return int32(min(m.Size, 1<<31-1)), true
	case mapi.PidTagMessageFlags.ID():
		var fl int32
		if m.Read {
			fl |= 0x1 // mfRead
		}
		return fl, true
	case mapi.PidTagMessageClass.ID():
		return "IPM.Note", true
	case mapi.PidTagSenderName.ID(), mapi.PidTagSentRepresentingName.ID():
		return displayName(m.From), m.From != ""
	case mapi.PidTagDisplayTo.ID():
		return m.To, true
	}
	return nil, false
}

// propSource is a row's object: a folder or a message.
type propSource interface {
	prop(t mapi.PropTag) (any, bool)
}

// propValue is src's value of t, of the type t asks where the value has
// it (strings in either width): otherwise PtypErrorCode
// MAPI_E_NOT_FOUND, as Exchange answers a property an object lacks.
func propValue(src propSource, t mapi.PropTag) mapi.PropValue {
	v, ok := src.prop(t)
	if !ok {
		return mapi.NotFound(t)
	}
	match := false
	switch v.(type) {
	case string:
		match = t.Type() == mapi.PtypString || t.Type() == mapi.PtypString8
	case int32:
		match = t.Type() == mapi.PtypInteger32
	case int64:
		match = t.Type() == mapi.PtypInteger64
	case bool:
		match = t.Type() == mapi.PtypBoolean
	default:
		match = t.Type() == mapi.PtypTime
	}
	if !match {
		return mapi.NotFound(t)
	}
	return mapi.PropValue{Tag: t, Value: v}
}
