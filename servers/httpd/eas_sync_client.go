package httpd

import (
	"strconv"

	"github.com/exsim/exsim/internal/wbxml"
)

// applyClientCommands applies a Sync collection's Commands from the
// device (MS-ASCMD 2.2.3.32.2): Add (calendar items and contacts),
// Change, Delete and Fetch. It returns the keys the device changed and
// the Responses element: Add and Fetch always answer, Change and Delete
// only when they fail.
func (c *easCall) applyClientCommands(f easFolderEntry, col, opts *wbxml.Node) (touched []string, responses *wbxml.Node) {
	responses = wbxml.E("AirSync:Responses")
	cmds := col.Child("Commands")
	if cmds == nil {
		return nil, responses
	}
	class := easClass(f.Type)
	deletesAsMoves := true // MS-ASCMD 2.2.3.43: the default
	if d := col.Child("DeletesAsMoves"); d != nil && d.Text == "0" {
		deletesAsMoves = false
	}
	var l *easListing
	lookup := func(serverID string) (string, MessageInfo, bool) {
		if l == nil {
			var err error
			if l, err = c.listing(f, ""); err != nil {
				c.log.Error("activesync: list folder", "folder", f.Path, "err", err)
				l = &easListing{}
			}
		}
		k, ok := itemKey(f, serverID)
		mi, found := l.infos[k]
		return k, mi, ok && found
	}
	for _, cmd := range cmds.Children {
		sid := cmd.Value("ServerId")
		switch cmd.Tag {
		case "Add":
			clientID := cmd.Value("ClientId")
			status, key := c.syncAdd(f, class, cmd.Child("ApplicationData"))
			r := wbxml.E("AirSync:Add", wbxml.T("AirSync:ClientId", clientID))
			if status == syncSuccess {
				r.Add(wbxml.T("AirSync:ServerId", f.ID+":"+key))
				touched = append(touched, key)
				l = nil
			}
			responses.Add(r.Add(wbxml.T("AirSync:Status", strconv.Itoa(status))))
		case "Change", "Delete":
			k, mi, ok := lookup(sid)
			status := syncNotFound
			if ok && cmd.Tag == "Change" {
				status = c.syncChange(f, class, k, mi, cmd.Child("ApplicationData"))
			} else if ok {
				status = c.syncDelete(f, mi, deletesAsMoves)
			}
			if status != syncSuccess {
				responses.Add(wbxml.E("AirSync:"+cmd.Tag, wbxml.T("AirSync:ServerId", sid), wbxml.T("AirSync:Status", strconv.Itoa(status))))
				continue
			}
			touched = append(touched, k)
			l = nil
		case "Fetch":
			k, mi, ok := lookup(sid)
			r := wbxml.E("AirSync:Fetch", wbxml.T("AirSync:ServerId", sid))
			if !ok {
				responses.Add(r.Add(wbxml.T("AirSync:Status", strconv.Itoa(syncNotFound))))
				continue
			}
			ad, err := c.easItemData(f, k, mi, bodyPref(opts))
			if err != nil {
				responses.Add(r.Add(wbxml.T("AirSync:Status", strconv.Itoa(c.storeStatus(err, syncNotFound, syncServerError)))))
				continue
			}
			responses.Add(r.Add(wbxml.T("AirSync:Status", "1"), ad))
		}
	}
	return touched, responses
}

// syncDelete moves a deleted item to Deleted Items, or removes it for
// good from Deleted Items or when the device says DeletesAsMoves 0.
func (c *easCall) syncDelete(f easFolderEntry, mi MessageInfo, asMove bool) int {
	var err error
	if asMove && f.Type != easTypeDeleted {
		_, err = c.store.Transfer(c.r.Context(), c.u.Address, f.Path, mi.ID, FolderDeletedItems, true)
	} else {
		err = c.store.Remove(c.r.Context(), c.u.Address, f.Path, []string{mi.ID})
	}
	if err != nil {
		return c.storeStatus(err, syncNotFound, syncServerError)
	}
	return syncSuccess
}

// pimMessageOf turns a device's ApplicationData into the message that
// stores it; email cannot be added by a 14.1 device (16.x drafts are not
// simulated).
func (c *easCall) pimMessageOf(class string, ad *wbxml.Node) ([]byte, int) {
	if ad == nil {
		return nil, syncProtocolError
	}
	var msg []byte
	var err error
	switch class {
	case "Calendar":
		msg, err = c.calendarMessage(ad)
	case "Contacts":
		msg, err = c.contactMessage(ad)
	default:
		return nil, syncConversionError
	}
	if err != nil {
		c.log.Info("activesync: item the device sent does not convert", "class", class, "err", err)
		return nil, syncConversionError
	}
	return msg, syncSuccess
}

func (c *easCall) syncAdd(f easFolderEntry, class string, ad *wbxml.Node) (int, string) {
	msg, st := c.pimMessageOf(class, ad)
	if st != syncSuccess {
		return st, ""
	}
	id, err := c.store.Append(c.r.Context(), c.u.Address, f.Path, msg, []string{FlagSeen})
	if err != nil {
		return c.storeStatus(err, syncNotFound, syncServerError), ""
	}
	return syncSuccess, id
}

// syncChange applies a device's change: read and flag state for email;
// a calendar item or contact is rewritten, keeping its key as an alias
// (ItemAliasKeyword), so its ServerId stays what it was.
func (c *easCall) syncChange(f easFolderEntry, class, key string, mi MessageInfo, ad *wbxml.Node) int {
	ctx := c.r.Context()
	if class == "Email" {
		var add, remove []string
		switch ad.Value("Email:Read") {
		case "1":
			add = append(add, FlagSeen)
		case "0":
			remove = append(remove, FlagSeen)
		}
		if flag := ad.Child("Email:Flag"); flag != nil {
			if flag.Value("Email:Status") == "2" {
				add = append(add, FlagFlagged)
			} else {
				remove = append(remove, FlagFlagged)
			}
		}
		if err := c.store.SetFlags(ctx, c.u.Address, f.Path, mi.ID, add, remove); err != nil {
			return c.storeStatus(err, syncNotFound, syncServerError)
		}
		return syncSuccess
	}
	msg, st := c.pimMessageOf(class, ad)
	if st != syncSuccess {
		return st
	}
	if _, err := c.store.Append(ctx, c.u.Address, f.Path, msg, []string{FlagSeen, ItemAliasKeyword + key}); err != nil {
		return c.storeStatus(err, syncNotFound, syncServerError)
	}
	if err := c.store.Remove(ctx, c.u.Address, f.Path, []string{mi.ID}); err != nil {
		return c.storeStatus(err, syncNotFound, syncServerError)
	}
	return syncSuccess
}
