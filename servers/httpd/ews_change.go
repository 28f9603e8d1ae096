package httpd

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/mail"
)

// CreateItem, SendItem, UpdateItem, DeleteItem, MoveItem and CopyItem:
// the changes a client makes to messages. Sending goes through
// MailStore.Send, the path Outlook on the web submits through.

var (
	ewsInvalidRecipients  = errMessage("ErrorInvalidRecipients", "At least one recipient isn't valid.")
	ewsInvalidPropertySet = errMessage("ErrorInvalidPropertySet", "The property can't be set.")
	ewsMoveCopyFailed     = errMessage("ErrorMoveCopyFailed", "An error occurred during move or copy.")
)

// ewsDraft is a message item of a CreateItem request.
type ewsDraft struct {
	subject, body, bodyType, importance string
	to, cc, bcc                         []*mail.Address
	categories                          []string
	attachments                         []shownAttachment
	mimeContent                         []byte
}

func readDraft(n *xnode) (*ewsDraft, error) {
	d := &ewsDraft{subject: n.text("Subject"), importance: n.text("Importance")}
	if b := n.child("Body"); b != nil {
		d.body, d.bodyType = b.Text, b.attr("BodyType")
	}
	for _, l := range []struct {
		elem string
		dst  *[]*mail.Address
	}{{"ToRecipients", &d.to}, {"CcRecipients", &d.cc}, {"BccRecipients", &d.bcc}} {
		for _, mb := range n.child(l.elem).all("Mailbox") {
			addr := mb.text("EmailAddress")
			if _, err := mail.ParseAddress(addr); err != nil {
				return nil, fmt.Errorf("recipient %q: %w", addr, err)
			}
			*l.dst = append(*l.dst, &mail.Address{Name: mb.text("Name"), Address: addr})
		}
	}
	for _, s := range n.child("Categories").all("String") {
		d.categories = append(d.categories, strings.TrimSpace(s.Text))
	}
	for _, a := range n.child("Attachments").all("FileAttachment") {
		att, err := fileAttachment(a)
		if err != nil {
			return nil, err
		}
		d.attachments = append(d.attachments, att)
	}
	if mc := n.text("MimeContent"); mc != "" {
		b, err := base64.StdEncoding.DecodeString(mc)
		if err != nil {
			return nil, fmt.Errorf("MimeContent: %w", err)
		}
		d.mimeContent = b
		if len(d.to)+len(d.cc)+len(d.bcc) == 0 {
			// Exchange sends a MIME item to the recipients its
			// headers name (DavMail's SMTP submission relies on it).
			if r, err := mail.CreateReader(bytes.NewReader(b)); err == nil {
				d.to, _ = r.Header.AddressList("To")
				d.cc, _ = r.Header.AddressList("Cc")
				d.bcc, _ = r.Header.AddressList("Bcc")
				r.Close()
			}
		}
	}
	return d, nil
}

func (d *ewsDraft) rcpts() []string {
	var out []string
	for _, l := range [][]*mail.Address{d.to, d.cc, d.bcc} {
		for _, a := range l {
			out = append(out, a.Address)
		}
	}
	return out
}

// build is the RFC 5322 message of d, as Exchange converts an item to
// MIME: categories become the Keywords header. Bcc is kept only in a
// saved draft (SendItem reads it back and strips it before sending).
func (c *ewsCall) build(d *ewsDraft, keepBcc bool) ([]byte, error) {
	if d.mimeContent != nil {
		if !keepBcc {
			empty := ""
			return setHeaders(d.mimeContent, map[string]*string{"Bcc": &empty}), nil
		}
		return d.mimeContent, nil
	}
	cfg := c.h.cfg
	var h mail.Header
	h.SetDate(cfg.Now())
	h.SetAddressList("From", []*mail.Address{{Name: c.u.DisplayName, Address: c.u.Address}})
	if len(d.to) > 0 {
		h.SetAddressList("To", d.to)
	}
	if len(d.cc) > 0 {
		h.SetAddressList("Cc", d.cc)
	}
	if keepBcc && len(d.bcc) > 0 {
		h.SetAddressList("Bcc", d.bcc)
	}
	h.SetSubject(d.subject)
	var id [16]byte
	rand.Read(id[:])
	h.AddRaw([]byte("Message-ID: <" + hex.EncodeToString(id[:]) + "@" + cfg.FQDN + ">\r\n"))
	if len(d.categories) > 0 {
		h.Set("Keywords", strings.Join(d.categories, ", "))
	}
	if d.importance == "High" || d.importance == "Low" {
		h.Set("Importance", d.importance)
	}
	h.Set("Content-Language", "en-US")
	ctype := "text/plain"
	if strings.EqualFold(d.bodyType, "HTML") {
		ctype = "text/html"
	}
	var buf bytes.Buffer
	text := strings.ReplaceAll(strings.ReplaceAll(d.body, "\r\n", "\n"), "\n", "\r\n")
	if len(d.attachments) == 0 {
		h.SetContentType(ctype, map[string]string{"charset": "utf-8"})
		w, err := mail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, err
		}
		io.WriteString(w, text)
		// Close writes the closing boundary: the bytes are read after it.
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	mw, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	var ih mail.InlineHeader
	ih.SetContentType(ctype, map[string]string{"charset": "utf-8"})
	w, err := mw.CreateSingleInline(ih)
	if err != nil {
		return nil, err
	}
	io.WriteString(w, text)
	w.Close()
	for _, a := range d.attachments {
		var ah mail.AttachmentHeader
		ah.SetContentType(a.ContentType, nil)
		ah.SetFilename(a.Name)
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, err
		}
		aw.Write(a.Data)
		aw.Close()
	}
	// Close writes the closing boundary: the bytes are read after it.
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// targetFolder resolves SavedItemFolderId / ToFolderId to a backend
// folder; fallback is used when the element is absent.
func (c *ewsCall) targetFolder(n *xnode, fallback string) (string, *responseMessage) {
	refs := folderRefs(n)
	if len(refs) == 0 {
		return fallback, nil
	}
	t := c.h.treeOrFail(c.r, c.u, c.log)
	if t == nil {
		return "", &ewsInternal
	}
	f, fail := t.resolve(c.u, refs[0])
	if fail != nil {
		return "", fail
	}
	if f.virtual() {
		return "", &ewsFolderSaveNotAllowed
	}
	return f.Key, nil
}

func (c *ewsCall) newItemID(folder, id string) *el {
	return E("m:Items", E("t:Message", T("t:ItemId", "").A("Id", encodeItemID(folder, id)).A("ChangeKey", changeKey(9, id))))
}

func (c *ewsCall) createItem() *el {
	disp := c.op.attr("MessageDisposition")
	if disp == "" {
		disp = "SaveOnly"
	}
	var msgs []*el
	for _, n := range c.op.child("Items").Kids {
		if n.Name.Local == "CalendarItem" {
			msgs = append(msgs, c.createCalendarItem(n))
			continue
		}
		if n.Name.Local != "Message" {
			msgs = append(msgs, respMsg("CreateItem", errMessage("ErrorInvalidOperation", "Only message and calendar items can be created on this server.")))
			continue
		}
		d, err := readDraft(n)
		if err != nil {
			msgs = append(msgs, respMsg("CreateItem", ewsInvalidRecipients))
			continue
		}
		raw, err := c.build(d, disp == "SaveOnly")
		if err != nil {
			c.log.Error("ews: build message", "err", err)
			msgs = append(msgs, respMsg("CreateItem", ewsInternal))
			continue
		}
		save, fail := c.targetFolder(c.op.child("SavedItemFolderId"), FolderSentItems)
		if disp == "SaveOnly" {
			save, fail = c.targetFolder(c.op.child("SavedItemFolderId"), FolderDrafts)
		}
		if fail != nil {
			msgs = append(msgs, respMsg("CreateItem", *fail))
			continue
		}
		switch disp {
		case "SaveOnly":
			flags := []string{FlagSeen}
			if save == FolderDrafts {
				flags = append(flags, FlagDraft)
			}
			if r := n.text("IsRead"); r != "" && !xsBool(r) {
				flags = flags[1:]
			}
			id, err := c.ms.Append(c.r.Context(), c.u.Address, save, raw, flags)
			if err != nil {
				c.log.Error("ews: save item", "err", err)
				msgs = append(msgs, respMsg("CreateItem", ewsInternal))
				continue
			}
			msgs = append(msgs, respMsg("CreateItem", okMessage(), c.newItemID(save, id)))
		case "SendOnly", "SendAndSaveCopy":
			if disp == "SendOnly" {
				save = ""
			}
			msgs = append(msgs, respMsg("CreateItem", c.send(d.rcpts(), raw, save), E("m:Items")))
		default:
			msgs = append(msgs, respMsg("CreateItem", errMessage("ErrorInvalidOperation", "The MessageDisposition is invalid.")))
		}
	}
	return opResponse("CreateItem", msgs)
}

func (c *ewsCall) send(rcpts []string, raw []byte, saveIn string) responseMessage {
	if len(rcpts) == 0 {
		return ewsInvalidRecipients
	}
	if len(rcpts) > maxRecipients {
		return errMessage("ErrorTooManyObjectsOpened", fmt.Sprintf("The message has more than %d recipients.", maxRecipients))
	}
	if err := c.ms.Send(c.r.Context(), c.u, rcpts, raw, saveIn); err != nil {
		c.log.Error("ews: submit", "err", err)
		return errMessage("ErrorMessageSubmissionBlocked", "The message couldn't be submitted.")
	}
	c.log.Info("ews: message submitted", "rcpt", strings.Join(rcpts, ";"))
	return okMessage()
}

// sendItem sends saved drafts: the draft leaves its folder, a copy goes
// to SavedItemFolderId (Sent Items) when SaveItemToFolder is true.
func (c *ewsCall) sendItem() *el {
	var msgs []*el
	saveIn := ""
	if s := c.op.attr("SaveItemToFolder"); s == "" || xsBool(s) {
		var fail *responseMessage
		if saveIn, fail = c.targetFolder(c.op.child("SavedItemFolderId"), FolderSentItems); fail != nil {
			return opResponse("SendItem", []*el{respMsg("SendItem", *fail)})
		}
	}
	for _, id := range itemRefs(c.op.child("ItemIds")) {
		it, fail := c.findMessage(id)
		if fail == nil && c.loadRaw(it) != nil {
			fail = &ewsItemNotFound
		}
		if fail != nil {
			msgs = append(msgs, respMsg("SendItem", *fail))
			continue
		}
		var rcpts []string
		for _, k := range []string{"To", "Cc", "Bcc"} {
			list, _ := it.hdr.AddressList(k)
			for _, a := range list {
				rcpts = append(rcpts, a.Address)
			}
		}
		empty := ""
		rm := c.send(rcpts, setHeaders(it.raw, map[string]*string{"Bcc": &empty}), saveIn)
		if rm.Class == "Success" {
			if err := c.ms.Remove(c.r.Context(), c.u.Address, it.folder, []string{it.mi.ID}); err != nil {
				c.log.Error("ews: remove sent draft", "err", err)
			}
		}
		msgs = append(msgs, respMsg("SendItem", rm))
	}
	return opResponse("SendItem", msgs)
}
