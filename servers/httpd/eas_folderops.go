package httpd

import (
	"errors"
	"strconv"
	"strings"

	"github.com/exsim/exsim/internal/wbxml"
)

// FolderCreate, FolderDelete and FolderUpdate (MS-ASCMD 2.2.2.2, 2.2.2.3,
// 2.2.2.5): folder changes from the device. Each carries the device's
// FolderSync key and answers a new one that includes the change, so the
// device's next FolderSync does not bring it back.

// folderOp checks the request and the device's hierarchy key, runs op
// and answers its status and, on success, the new key.
func (c *easCall) folderOp(cmd string, op func(fs []easFolderEntry) (int, *easFolderEntry, string)) *wbxml.Node {
	resp := wbxml.E("FolderHierarchy:" + cmd)
	fail := func(st int) *wbxml.Node { return resp.Add(wbxml.T("FolderHierarchy:Status", strconv.Itoa(st))) }
	if !c.asks(cmd) {
		return fail(folderSyncBadRequest)
	}
	dev := c.dev
	if dev.folderKey == 0 || c.body.Value("SyncKey") != strconv.Itoa(dev.folderKey) {
		return fail(folderSyncInvalidKey)
	}
	fs, err := c.easFolders()
	if err != nil {
		c.log.Error("activesync: list folders", "err", err)
		return fail(folderSyncServerError)
	}
	st, changed, gone := op(fs)
	if st != folderSyncSuccess {
		return fail(st)
	}
	// The device now has the hierarchy with this change and nothing else.
	have := make(map[string]easFolderEntry, len(dev.folders)+1)
	for id, f := range dev.folders {
		have[id] = f
	}
	if gone != "" {
		for id, f := range have {
			if strings.EqualFold(f.Path, gone) || strings.HasPrefix(strings.ToLower(f.Path), strings.ToLower(gone)+"/") {
				delete(have, id)
			}
		}
	}
	if changed != nil {
		now, _ := c.easFolders()
		for _, f := range now {
			if f.ID == changed.ID || strings.EqualFold(f.Path, changed.Path) || strings.HasPrefix(strings.ToLower(f.Path), strings.ToLower(changed.Path)+"/") {
				have[f.ID] = f
			}
		}
	}
	dev.prevFolderKey, dev.prevFolders = dev.folderKey, dev.folders
	dev.folderKey++
	dev.folders = have
	resp.Add(wbxml.T("FolderHierarchy:Status", "1"), wbxml.T("FolderHierarchy:SyncKey", strconv.Itoa(dev.folderKey)))
	if cmd == "FolderCreate" && changed != nil {
		resp.Add(wbxml.T("FolderHierarchy:ServerId", changed.ID))
	}
	return resp
}

// folderPath is the backend name of a folder named name under parent
// ("0": the top of the mailbox).
func folderPath(fs []easFolderEntry, parent, name string) (string, int) {
	if name == "" || strings.Contains(name, "/") {
		return "", folderSyncBadRequest
	}
	if parent == "0" || parent == "" {
		return name, 0
	}
	for _, f := range fs {
		if f.ID == parent {
			return f.Path + "/" + name, 0
		}
	}
	return "", folderParentMissing
}

// userFolder finds a folder the device may delete or rename: one the
// user made, not a default folder.
func userFolder(fs []easFolderEntry, id string) (*easFolderEntry, int) {
	for i := range fs {
		if fs[i].ID != id {
			continue
		}
		if _, dflt := easDefaultTypes[strings.ToLower(fs[i].Path)]; dflt {
			return nil, folderSpecial
		}
		return &fs[i], 0
	}
	return nil, folderNotFound
}

func (c *easCall) folderStoreStatus(err error) int {
	switch {
	case errors.Is(err, ErrFolderExists):
		return folderExists
	case errors.Is(err, ErrNotFound):
		return folderNotFound
	}
	c.log.Error("activesync: folder change", "err", err)
	return folderSyncServerError
}

func (c *easCall) folderCreate() *wbxml.Node {
	return c.folderOp("FolderCreate", func(fs []easFolderEntry) (int, *easFolderEntry, string) {
		path, st := folderPath(fs, c.body.Value("ParentId"), c.body.Value("DisplayName"))
		if st != 0 {
			return st, nil, ""
		}
		if err := c.store.CreateFolder(c.r.Context(), c.u.Address, path); err != nil {
			return c.folderStoreStatus(err), nil, ""
		}
		now, err := c.easFolders()
		if err != nil {
			return folderSyncServerError, nil, ""
		}
		for _, f := range now {
			if strings.EqualFold(f.Path, path) {
				return folderSyncSuccess, &f, ""
			}
		}
		return folderSyncServerError, nil, ""
	})
}

func (c *easCall) folderDelete() *wbxml.Node {
	return c.folderOp("FolderDelete", func(fs []easFolderEntry) (int, *easFolderEntry, string) {
		f, st := userFolder(fs, c.body.Value("ServerId"))
		if st != 0 {
			return st, nil, ""
		}
		if err := c.store.DeleteFolder(c.r.Context(), c.u.Address, f.Path); err != nil {
			return c.folderStoreStatus(err), nil, ""
		}
		delete(c.dev.collections, f.ID)
		return folderSyncSuccess, nil, f.Path
	})
}

func (c *easCall) folderUpdate() *wbxml.Node {
	return c.folderOp("FolderUpdate", func(fs []easFolderEntry) (int, *easFolderEntry, string) {
		f, st := userFolder(fs, c.body.Value("ServerId"))
		if st != 0 {
			return st, nil, ""
		}
		path, st := folderPath(fs, c.body.Value("ParentId"), c.body.Value("DisplayName"))
		if st != 0 {
			return st, nil, ""
		}
		if err := c.store.RenameFolder(c.r.Context(), c.u.Address, f.Path, path); err != nil {
			return c.folderStoreStatus(err), nil, ""
		}
		moved := *f
		moved.Path = path
		return folderSyncSuccess, &moved, f.Path
	})
}
