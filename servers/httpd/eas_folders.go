package httpd

import (
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/exsim/exsim/internal/wbxml"
)

// easFolderEntry is one folder as FolderSync shows it.
type easFolderEntry struct {
	ID, Parent, Name string
	Type             int
	Path             string // the backend's folder name
}

// Folder types of MS-ASCMD 2.2.3.186.3 (FolderSync Type).
const (
	easTypeUserMail = iota + 1
	easTypeInbox
	easTypeDrafts
	easTypeDeleted
	easTypeSent
	easTypeOutbox
	easTypeTasks
	easTypeCalendar
	easTypeContacts
	easTypeNotes
	easTypeJournal
	easTypeUserGeneric
	easTypeUserCalendar
	easTypeUserContacts
	easTypeUserTasks
)

// easDefaultTypes are the default folders' types, by backend name.
var easDefaultTypes = map[string]int{
	"inbox": easTypeInbox, "drafts": easTypeDrafts, "deleted items": easTypeDeleted, "sent items": easTypeSent,
	"outbox": easTypeOutbox, "tasks": easTypeTasks, "calendar": easTypeCalendar, "contacts": easTypeContacts,
	"notes": easTypeNotes, "journal": easTypeJournal,
	// Default folders without a type of their own: shown as 12, never
	// deleted or renamed by a device.
	"junk email": easTypeUserGeneric, "archive": easTypeUserGeneric,
}

// easClass is the item class a folder type syncs (MS-ASCMD 2.2.3.27.5).
func easClass(typ int) string {
	switch typ {
	case easTypeCalendar, easTypeUserCalendar:
		return "Calendar"
	case easTypeContacts, easTypeUserContacts:
		return "Contacts"
	case easTypeTasks, easTypeUserTasks:
		return "Tasks"
	case easTypeNotes:
		return "Notes"
	}
	return "Email"
}

// easFolders lists the mailbox's folders as FolderSync shows them,
// parents before children.
func (c *easCall) easFolders() ([]easFolderEntry, error) {
	infos, err := c.store.Folders(c.r.Context(), c.u.Address)
	if err != nil {
		return nil, err
	}
	byPath := map[string]*easFolderEntry{}
	out := make([]easFolderEntry, 0, len(infos))
	for _, fi := range infos {
		e := easFolderEntry{ID: fi.ID, Path: fi.Name, Name: fi.Name, Parent: "0"}
		if e.ID == "" {
			e.ID = "f" + nameFolderID(fi.Name)
		}
		parentPath := ""
		if i := strings.LastIndex(fi.Name, "/"); i >= 0 {
			parentPath, e.Name = fi.Name[:i], fi.Name[i+1:]
		}
		if strings.EqualFold(fi.Name, FolderInbox) {
			e.Name = "Inbox"
		}
		e.Type = easTypeUserGeneric
		if t, ok := easDefaultTypes[strings.ToLower(fi.Name)]; ok {
			e.Type = t
		}
		if p := byPath[strings.ToLower(parentPath)]; p != nil {
			e.Parent = p.ID
			if e.Type == easTypeUserGeneric {
				switch p.Type {
				case easTypeCalendar, easTypeUserCalendar:
					e.Type = easTypeUserCalendar
				case easTypeContacts, easTypeUserContacts:
					e.Type = easTypeUserContacts
				case easTypeTasks, easTypeUserTasks:
					e.Type = easTypeUserTasks
				}
			}
		}
		out = append(out, e)
		byPath[strings.ToLower(fi.Name)] = &out[len(out)-1]
	}
	return out, nil
}

// nameFolderID is a folder id made from its name, for a backend that
// has no folder ids.
func nameFolderID(name string) string {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// folder finds a collection by its ServerId.
func (c *easCall) folder(id string) (easFolderEntry, bool, error) {
	fs, err := c.easFolders()
	if err != nil {
		return easFolderEntry{}, false, err
	}
	for _, f := range fs {
		if f.ID == id {
			return f, true, nil
		}
	}
	return easFolderEntry{}, false, nil
}

// folderSync sends the hierarchy changes since the device's SyncKey
// (MS-ASCMD 2.2.2.4). SyncKey 0 starts over: every folder is an Add and
// every collection's sync state is dropped.
func (c *easCall) folderSync() *wbxml.Node {
	resp := wbxml.E("FolderHierarchy:FolderSync")
	fail := func(st int) *wbxml.Node { return resp.Add(wbxml.T("FolderHierarchy:Status", strconv.Itoa(st))) }
	if !c.asks("FolderSync") || !c.body.Has("SyncKey") {
		return fail(folderSyncBadRequest)
	}
	dev := c.dev
	key := c.body.Value("SyncKey")
	var have map[string]easFolderEntry
	switch key {
	case "0":
		have = map[string]easFolderEntry{}
		dev.collections = map[string]*easCollection{}
		dev.folderKey, dev.prevFolderKey, dev.prevFolders = 0, 0, nil
	case strconv.Itoa(dev.folderKey):
		have = dev.folders
	case strconv.Itoa(dev.prevFolderKey):
		have = dev.prevFolders
	}
	if have == nil || key != "0" && dev.folderKey == 0 {
		c.log.Info("activesync: FolderSync with an unknown key", "sync_key", key)
		return fail(folderSyncInvalidKey)
	}
	fs, err := c.easFolders()
	if err != nil {
		c.log.Error("activesync: list folders", "err", err)
		return fail(folderSyncServerError)
	}
	changes := wbxml.E("FolderHierarchy:Changes")
	now := map[string]easFolderEntry{}
	n := 0
	for _, f := range fs {
		now[f.ID] = f
		old, ok := have[f.ID]
		if ok && old == f {
			continue
		}
		op := "FolderHierarchy:Add"
		if ok {
			op = "FolderHierarchy:Update"
		}
		changes.Add(wbxml.E(op, wbxml.T("FolderHierarchy:ServerId", f.ID), wbxml.T("FolderHierarchy:ParentId", f.Parent),
			wbxml.T("FolderHierarchy:DisplayName", f.Name), wbxml.T("FolderHierarchy:Type", strconv.Itoa(f.Type))))
		n++
	}
	for id := range have {
		if _, ok := now[id]; !ok {
			changes.Add(wbxml.E("FolderHierarchy:Delete", wbxml.T("FolderHierarchy:ServerId", id)))
			delete(dev.collections, id)
			n++
		}
	}
	newKey := key
	if n > 0 || key == "0" {
		dev.prevFolderKey, dev.prevFolders = dev.folderKey, dev.folders
		dev.folderKey++
		dev.folders = now
		newKey = strconv.Itoa(dev.folderKey)
	}
	changes.Children = append([]*wbxml.Node{wbxml.T("FolderHierarchy:Count", strconv.Itoa(n))}, changes.Children...)
	return resp.Add(wbxml.T("FolderHierarchy:Status", "1"), wbxml.T("FolderHierarchy:SyncKey", newKey), changes)
}
