package httpd

import (
	"bytes"
	"errors"
	"mime"
	"strings"
)

// updateItem applies SetItemField/DeleteItemField changes. Read and
// follow-up flags are IMAP flags; Subject and Categories live in the
// message (Subject and Keywords headers), so changing them stores a new
// copy of the message and the item gets a new ItemId, which the response
// carries as Exchange's does.
func (c *ewsCall) updateItem() *el {
	var msgs []*el
	for _, ch := range c.op.child("ItemChanges").all("ItemChange") {
		it, fail := c.findMessage(ch.child("ItemId").attr("Id"))
		if fail != nil {
			msgs = append(msgs, respMsg("UpdateItem", *fail))
			continue
		}
		var add, remove []string
		headers := map[string]*string{}
		var body *xnode // a new Body
		bad := false
		for _, u := range ch.child("Updates").Kids {
			uri := u.child("FieldURI").attr("FieldURI")
			set := u.Name.Local != "DeleteItemField"
			val := u.child("Message")
			switch strings.ToLower(uri) {
			case "message:isread":
				if set && xsBool(val.text("IsRead")) {
					add = append(add, FlagSeen)
				} else {
					remove = append(remove, FlagSeen)
				}
			case "item:flag":
				if set && val.path("Flag").text("FlagStatus") == "Flagged" {
					add = append(add, FlagFlagged)
				} else {
					remove = append(remove, FlagFlagged)
				}
			case "item:subject":
				s := val.text("Subject")
				headers["Subject"] = &s
			case "item:importance", "item:sensitivity":
				// Exchange carries both in MIME as headers of these
				// names (Importance: high; Sensitivity: Private).
				key := "Importance"
				if strings.EqualFold(uri, "item:sensitivity") {
					key = "Sensitivity"
				}
				v, ok := mimeLevel[key][val.text(key)]
				if set && !ok {
					bad = true
				}
				headers[key] = &v // "" (also DeleteItemField) removes it
			case "item:body":
				if body = val.child("Body"); body == nil || !set {
					bad = true
				}
			case "item:categories":
				var cats []string
				for _, s := range val.child("Categories").all("String") {
					cats = append(cats, strings.TrimSpace(s.Text))
				}
				s := strings.Join(cats, ", ")
				headers["Keywords"] = &s
			default:
				bad = true
			}
		}
		if bad {
			msgs = append(msgs, respMsg("UpdateItem", ewsInvalidPropertySet))
			continue
		}
		folder, id := it.folder, it.mi.ID
		if len(headers) > 0 || body != nil {
			if err := c.loadRaw(it); err != nil {
				msgs = append(msgs, respMsg("UpdateItem", ewsItemNotFound))
				continue
			}
			raw := setHeaders(it.raw, headers)
			if body != nil {
				var err error
				if raw, err = replaceBody(raw, body.Text, strings.EqualFold(body.attr("BodyType"), "HTML")); err != nil {
					msgs = append(msgs, respMsg("UpdateItem", ewsInvalidPropertySet))
					continue
				}
			}
			newID, fail := c.rewrite(it, raw)
			if fail != nil {
				msgs = append(msgs, respMsg("UpdateItem", *fail))
				continue
			}
			id = newID
		}
		if len(add)+len(remove) > 0 {
			if err := c.ms.SetFlags(c.r.Context(), c.u.Address, folder, id, add, remove); err != nil {
				c.log.Error("ews: set flags", "err", err)
				msgs = append(msgs, respMsg("UpdateItem", ewsInternal))
				continue
			}
		}
		after, fail := c.findMessage(encodeItemID(folder, itemNum(it.mi))) // the rewritten copy carries the alias
		if fail != nil {
			msgs = append(msgs, respMsg("UpdateItem", *fail))
			continue
		}
		item := E("t:Message", T("t:ItemId", "").A("Id", encodeItemID(folder, itemNum(after.mi))).A("ChangeKey", itemChangeKey(after.mi)))
		msgs = append(msgs, respMsg("UpdateItem", okMessage(), E("m:Items", item), E("m:ConflictResults", T("t:Count", "0"))))
	}
	return opResponse("UpdateItem", msgs)
}

// mimeLevel maps EWS Importance and Sensitivity values to the MIME
// header values Exchange writes ("" removes the header: the default).
var mimeLevel = map[string]map[string]string{
	"Importance":  {"Low": "Low", "Normal": "", "High": "High"},
	"Sensitivity": {"Normal": "", "Personal": "Personal", "Private": "Private", "Confidential": "Company-Confidential"},
}

// rewrite stores raw as the new content of it, keeping its ItemId (the
// copy carries ItemAliasKeyword and the id) and flags, and removes the
// old copy; it returns the copy's backend id.
func (c *ewsCall) rewrite(it *ewsItem, raw []byte) (string, *responseMessage) {
	flags := []string{ItemAliasKeyword + itemNum(it.mi)}
	if it.mi.Read {
		flags = append(flags, FlagSeen)
	}
	if it.mi.Flagged {
		flags = append(flags, FlagFlagged)
	}
	newID, err := c.ms.Append(c.r.Context(), c.u.Address, it.folder, raw, flags)
	if err == nil {
		err = c.ms.Remove(c.r.Context(), c.u.Address, it.folder, []string{it.mi.ID})
	}
	if err != nil {
		c.log.Error("ews: rewrite item", "err", err)
		return "", &ewsInternal
	}
	return newID, nil
}

// setHeaders replaces (or adds, or with an empty value removes) header
// fields of a raw message; values are RFC 2047 encoded when needed.
func setHeaders(raw []byte, set map[string]*string) []byte {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	sep := "\r\n"
	if end < 0 {
		end, sep = bytes.Index(raw, []byte("\n\n")), "\n"
	}
	if end < 0 {
		end = len(raw)
	}
	head, body := string(raw[:end]), raw[end:]
	var out []string
	skip := false
	for _, line := range strings.Split(head, sep) {
		if skip && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			continue
		}
		skip = false
		name, _, _ := strings.Cut(line, ":")
		for k := range set {
			if strings.EqualFold(strings.TrimSpace(name), k) {
				skip = true
			}
		}
		if !skip {
			out = append(out, line)
		}
	}
	for _, k := range []string{"Subject", "Keywords", "Importance", "Sensitivity"} {
		if v, ok := set[k]; ok && *v != "" {
			out = append(out, k+": "+mime.QEncoding.Encode("utf-8", *v))
		}
	}
	return append([]byte(strings.Join(out, sep)), body...)
}

// FolderRecoverableDeletions is the backend folder of Recoverable
// Items\Deletions, where SoftDelete puts items (and MoveToDeletedItems
// those already in Deleted Items), as Exchange does; EWS shows it as the
// recoverableitemsdeletions distinguished folder, outside the message
// folder tree. The backend keeps it as an ordinary folder: IMAP lists it.
const FolderRecoverableDeletions = recoverableItems + "/Deletions"

const recoverableItems = "Recoverable Items"

// deleteItem: HardDelete removes for good; SoftDelete moves to
// Recoverable Items\Deletions; MoveToDeletedItems moves to Deleted Items,
// or from there to Recoverable Items\Deletions. Deleting from Deletions
// itself purges.
func (c *ewsCall) deleteItem() *el {
	mode := c.op.attr("DeleteType")
	var msgs []*el
	for _, id := range itemRefs(c.op.child("ItemIds")) {
		it, fail := c.findMessage(id)
		if fail != nil {
			msgs = append(msgs, respMsg("DeleteItem", *fail))
			continue
		}
		dest := ""
		switch {
		case mode == "HardDelete" || strings.EqualFold(it.folder, FolderRecoverableDeletions):
		case mode == "MoveToDeletedItems" && !strings.EqualFold(it.folder, FolderDeletedItems):
			dest = FolderDeletedItems
		default: // SoftDelete, or MoveToDeletedItems from Deleted Items
			dest = FolderRecoverableDeletions
		}
		var err error
		if dest == "" {
			err = c.ms.Remove(c.r.Context(), c.u.Address, it.folder, []string{it.mi.ID})
		} else {
			if dest == FolderRecoverableDeletions {
				if err = c.ms.CreateFolder(c.r.Context(), c.u.Address, dest); errors.Is(err, ErrFolderExists) {
					err = nil
				}
			}
			if err == nil {
				_, err = c.ms.Transfer(c.r.Context(), c.u.Address, it.folder, it.mi.ID, dest, true)
			}
		}
		if err != nil {
			c.log.Error("ews: delete item", "err", err)
			msgs = append(msgs, respMsg("DeleteItem", ewsInternal))
			continue
		}
		msgs = append(msgs, respMsg("DeleteItem", okMessage()))
	}
	return opResponse("DeleteItem", msgs)
}

// transferItems is MoveItem (move) and CopyItem.
func (c *ewsCall) transferItems(move bool) *el {
	op := "CopyItem"
	if move {
		op = "MoveItem"
	}
	dest, fail := c.targetFolder(c.op.child("ToFolderId"), "")
	var msgs []*el
	for _, id := range itemRefs(c.op.child("ItemIds")) {
		if fail != nil || dest == "" {
			if fail == nil {
				fail = &ewsFolderNotFound
			}
			msgs = append(msgs, respMsg(op, *fail))
			continue
		}
		it, f := c.findMessage(id)
		if f != nil {
			msgs = append(msgs, respMsg(op, *f))
			continue
		}
		newID, err := c.ms.Transfer(c.r.Context(), c.u.Address, it.folder, it.mi.ID, dest, move)
		if err == nil && it.mi.Alias != "" {
			// The alias was an id of the source folder: in dest it could
			// name another message.
			err = c.ms.SetFlags(c.r.Context(), c.u.Address, dest, newID, nil, []string{ItemAliasKeyword + it.mi.Alias})
		}
		if err != nil {
			c.log.Error("ews: transfer item", "err", err)
			msgs = append(msgs, respMsg(op, ewsMoveCopyFailed))
			continue
		}
		msgs = append(msgs, respMsg(op, okMessage(), c.newItemID(dest, newID)))
	}
	return opResponse(op, msgs)
}
