package httpd

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strconv"
)

// SyncFolderItems and SyncFolderHierarchy. A sync state is what the
// client has seen: for items, each item's id and read/flag state; for
// folders, each folder's key and change key. It travels in the opaque
// SyncState string (deflated, base64), so a client can resume on any
// connection and any front end, and the server keeps nothing per client.

var ewsInvalidSyncState = errMessage("ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid.")

// maxSyncChanges is EWS's MaxChangesReturned upper bound.
const maxSyncChanges = 512

type syncEntry struct{ key, stamp string }

func encodeSyncState(kind byte, scope string, entries []syncEntry) string {
	var raw []byte
	raw = append(raw, kind)
	raw = binary.AppendUvarint(raw, uint64(len(scope)))
	raw = append(raw, scope...)
	for _, e := range entries {
		for _, s := range []string{e.key, e.stamp} {
			raw = binary.AppendUvarint(raw, uint64(len(s)))
			raw = append(raw, s...)
		}
	}
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(raw)
	w.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// maxSyncState bounds a decoded state (a 100,000-item folder fits).
const maxSyncState = 8 << 20

func decodeSyncState(s string, kind byte, scope string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	z, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), maxSyncState))
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(raw)
	if k, err := r.ReadByte(); err != nil || k != kind {
		return nil, errors.New("sync state of another kind")
	}
	str := func() (string, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return "", errors.New("truncated sync state")
		}
		b := make([]byte, n)
		r.Read(b)
		return string(b), nil
	}
	if got, err := str(); err != nil || got != scope {
		return nil, errors.New("sync state of another folder")
	}
	for r.Len() > 0 {
		k, err := str()
		if err != nil {
			return nil, err
		}
		v, err := str()
		if err != nil {
			return nil, err
		}
		if kind == 'I' && len(v) < 2 {
			return nil, errors.New("bad item stamp")
		}
		out[k] = v
	}
	return out, nil
}

func syncMax(op *xnode) int {
	n, err := strconv.Atoi(op.text("MaxChangesReturned"))
	if err != nil || n < 1 || n > maxSyncChanges {
		return maxSyncChanges
	}
	return n
}

// itemStamp is what a sync state remembers of an item: read and flag
// state, then the backend's id, which changes when EWS rewrites it.
func itemStamp(mi MessageInfo) string {
	b := []byte("00")
	if mi.Read {
		b[0] = '1'
	}
	if mi.Flagged {
		b[1] = '1'
	}
	return string(b) + mi.ID
}

func (c *ewsCall) syncFolderItems() *el {
	const op = "SyncFolderItems"
	t := c.h.treeOrFail(c.r, c.u, c.log)
	refs := folderRefs(c.op.child("SyncFolderId"))
	if t == nil || len(refs) != 1 {
		return opResponse(op, []*el{respMsg(op, ewsInternal)})
	}
	n, fail := t.resolve(c.u, refs[0])
	if fail != nil {
		return opResponse(op, []*el{respMsg(op, *fail)})
	}
	prev, err := decodeSyncState(c.op.text("SyncState"), 'I', n.Key)
	if err != nil {
		return opResponse(op, []*el{respMsg(op, ewsInvalidSyncState)})
	}
	var list []MessageInfo
	if !n.virtual() {
		list, err = c.h.b.ListFolder(c.r.Context(), c.u.Address, n.Key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			c.log.Error("ews: list folder", "err", err)
			return opResponse(op, []*el{respMsg(op, ewsInternal)})
		}
	}
	slices.SortStableFunc(list, func(a, b MessageInfo) int { return a.Date.Compare(b.Date) })
	shape := shapeOf(c.op.child("ItemShape"))
	// The pending changes, deletions first, each with how it moves the
	// state; at most MaxChangesReturned of them are sent.
	type change struct {
		xml   func() *el
		id    string
		stamp string // "" for a deletion
	}
	var pending []change
	seen := map[string]bool{}
	for _, mi := range list {
		seen[itemNum(mi)] = true
	}
	var gone []string
	for id := range prev {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	slices.SortFunc(gone, cmpID)
	for _, id := range gone {
		pending = append(pending, change{id: id, xml: func() *el {
			return E("t:Delete", T("t:ItemId", "").A("Id", encodeItemID(n.Key, id)).A("ChangeKey", changeKey(9, id)))
		}})
	}
	for _, mi := range list {
		num := itemNum(mi)
		was, known := prev[num]
		now := itemStamp(mi)
		switch {
		case !known:
			pending = append(pending, change{id: num, stamp: now, xml: func() *el {
				return E("t:Create", c.changedItemXML(n, mi, shape))
			}})
		case was != now && was[1:] == now[1:]: // only the read state changed
			pending = append(pending, change{id: num, stamp: now, xml: func() *el {
				return E("t:ReadFlagChange", T("t:ItemId", "").A("Id", encodeItemID(n.Key, num)).A("ChangeKey", itemChangeKey(mi)), tBool("t:IsRead", mi.Read))
			}})
		case was != now:
			pending = append(pending, change{id: num, stamp: now, xml: func() *el {
				return E("t:Update", c.changedItemXML(n, mi, shape))
			}})
		}
	}
	max := syncMax(c.op)
	changes := E("m:Changes")
	state := prev
	for i, ch := range pending {
		if i == max {
			break
		}
		changes.add(ch.xml())
		if ch.stamp == "" {
			delete(state, ch.id)
		} else {
			state[ch.id] = ch.stamp
		}
	}
	entries := make([]syncEntry, 0, len(state))
	for k, v := range state {
		entries = append(entries, syncEntry{k, v})
	}
	slices.SortFunc(entries, func(a, b syncEntry) int { return cmpID(a.key, b.key) })
	return opResponse(op, []*el{respMsg(op, okMessage(),
		T("m:SyncState", encodeSyncState('I', n.Key, entries)),
		tBool("m:IncludesLastItemInRange", len(pending) <= max), changes)})
}

// cmpID orders numeric ids numerically.
func cmpID(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *ewsCall) syncFolderHierarchy() *el {
	const op = "SyncFolderHierarchy"
	t := c.h.treeOrFail(c.r, c.u, c.log)
	if t == nil {
		return opResponse(op, []*el{respMsg(op, ewsInternal)})
	}
	top := t.get(virtualKey + "root")
	if refs := folderRefs(c.op.child("SyncFolderId")); len(refs) == 1 {
		var fail *responseMessage
		if top, fail = t.resolve(c.u, refs[0]); fail != nil {
			return opResponse(op, []*el{respMsg(op, *fail)})
		}
	}
	prev, err := decodeSyncState(c.op.text("SyncState"), 'F', top.Key)
	if err != nil {
		return opResponse(op, []*el{respMsg(op, ewsInvalidSyncState)})
	}
	shape := shapeOf(c.op.child("FolderShape"))
	changes := E("m:Changes")
	var entries []syncEntry
	seen := map[string]bool{}
	for _, f := range t.descendants(top.Key) {
		seen[f.Key] = true
		stamp := changeKey(1, f.Key, strconv.Itoa(f.Total), strconv.Itoa(f.Unread), strconv.Itoa(f.Children))
		entries = append(entries, syncEntry{f.Key, stamp})
		was, known := prev[f.Key]
		switch {
		case !known:
			changes.add(E("t:Create", folderXML(f, shape)))
		case was != stamp:
			changes.add(E("t:Update", folderXML(f, shape)))
		}
	}
	var gone []string
	for k := range prev {
		if !seen[k] {
			gone = append(gone, k)
		}
	}
	slices.Sort(gone)
	for _, k := range gone {
		changes.add(E("t:Delete", T("t:FolderId", "").A("Id", ewsFolderID(k)).A("ChangeKey", changeKey(1, k))))
	}
	return opResponse(op, []*el{respMsg(op, okMessage(),
		T("m:SyncState", encodeSyncState('F', top.Key, entries)), tBool("m:IncludesLastFolderInRange", true), changes)})
}

// changedItemXML is a created or updated item of a sync: a calendar
// folder's items are read for their event (they are CalendarItems).
func (c *ewsCall) changedItemXML(n *ewsFolderNode, mi MessageInfo, shape ewsShape) *el {
	it := &ewsItem{folder: n.Key, mi: mi}
	if needsRaw(shape, false) || n.calendar() {
		if err := c.loadRaw(it); err != nil {
			c.log.Warn("ews: read message", "err", err)
		}
	}
	return itemXML(it, shape, false)
}
