package httpd

import (
	"encoding/base64"
	"errors"
	"html"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An ItemId names a message in a backend folder (encodeItemID); any
// folder of the mailbox, not only those OWA shows.
func decodeEWSItemID(s string) (folder, id string, ok bool) {
	folder, id, ok = splitItemID(s, 2048)
	if !ok || folder == "" || strings.HasPrefix(folder, virtualKey) {
		return "", "", false
	}
	return folder, id, true
}

// ewsItem is one message being rendered: its listing, and its raw bytes
// and parse once a property needs them.
type ewsItem struct {
	folder string
	mi     MessageInfo
	raw    []byte
	msg    *shownMessage
	hdr    mail.Header
	ev     *Event // the event of an item of a calendar folder
	owner  string // the mailbox's address (is its user the organizer?)
}

// itemProp is one property of MessageType in schema order (types.xsd
// ItemType then MessageType); raw marks those read from the message
// itself rather than the listing.
type itemProp struct {
	uri       string
	inDefault bool
	raw       bool
	render    func(it *ewsItem, s ewsShape) *el
}

func ewsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

var itemProps = []itemProp{
	{"item:ParentFolderId", true, false, func(it *ewsItem, s ewsShape) *el {
		return T("t:ParentFolderId", "").A("Id", ewsFolderID(it.folder)).A("ChangeKey", changeKey(1, it.folder))
	}},
	{"item:ItemClass", true, false, func(it *ewsItem, s ewsShape) *el {
		if it.ev != nil {
			return T("t:ItemClass", "IPM.Appointment")
		}
		return T("t:ItemClass", "IPM.Note")
	}},
	{"item:Subject", true, false, func(it *ewsItem, s ewsShape) *el { return T("t:Subject", it.mi.Subject) }},
	// Sensitivity is the MIME header: read when the shape loads the message
	// (GetItem), Normal in a FindItem listing.
	{"item:Sensitivity", true, false, func(it *ewsItem, s ewsShape) *el { return T("t:Sensitivity", sensitivity(it.hdr)) }},
	{"item:Body", true, true, func(it *ewsItem, s ewsShape) *el { return bodyXML("t:Body", it.msg, s.BodyType) }},
	{"item:Attachments", true, true, func(it *ewsItem, s ewsShape) *el {
		if len(it.msg.Attachments) == 0 {
			return nil
		}
		atts := E("t:Attachments")
		for i, a := range it.msg.Attachments {
			atts.add(attachmentXML(it, i, a, false))
		}
		return atts
	}},
	{"item:DateTimeReceived", true, false, func(it *ewsItem, s ewsShape) *el { return T("t:DateTimeReceived", ewsTime(it.mi.Date)) }},
	{"item:Size", true, false, func(it *ewsItem, s ewsShape) *el { return tInt("t:Size", it.mi.Size) }},
	{"item:Categories", false, true, func(it *ewsItem, s ewsShape) *el {
		// Exchange carries categories in MIME as the Keywords header.
		var cats []*el
		for _, c := range strings.Split(decodeHeader(it.hdr.Get("Keywords")), ",") {
			if c = strings.TrimSpace(c); c != "" {
				cats = append(cats, T("t:String", c))
			}
		}
		if len(cats) == 0 {
			return nil
		}
		return E("t:Categories", cats...)
	}},
	{"item:Importance", true, true, func(it *ewsItem, s ewsShape) *el { return T("t:Importance", importance(it.hdr)) }},
	{"item:IsSubmitted", false, false, func(it *ewsItem, s ewsShape) *el { return tBool("t:IsSubmitted", false) }},
	{"item:IsDraft", true, false, func(it *ewsItem, s ewsShape) *el {
		return tBool("t:IsDraft", strings.EqualFold(it.folder, FolderDrafts))
	}},
	{"item:DateTimeSent", true, true, func(it *ewsItem, s ewsShape) *el {
		if d, err := it.hdr.Date(); err == nil {
			return T("t:DateTimeSent", ewsTime(d))
		}
		return T("t:DateTimeSent", ewsTime(it.mi.Date))
	}},
	{"item:DateTimeCreated", true, false, func(it *ewsItem, s ewsShape) *el { return T("t:DateTimeCreated", ewsTime(it.mi.Date)) }},
	{"item:DisplayCc", true, true, func(it *ewsItem, s ewsShape) *el { return T("t:DisplayCc", displayName(it.hdr.Get("Cc"))) }},
	{"item:DisplayTo", true, false, func(it *ewsItem, s ewsShape) *el { return T("t:DisplayTo", displayName(it.mi.To)) }},
	{"item:HasAttachments", true, true, func(it *ewsItem, s ewsShape) *el { return tBool("t:HasAttachments", len(it.msg.Attachments) > 0) }},
	{"item:Culture", true, false, func(it *ewsItem, s ewsShape) *el { return T("t:Culture", "en-US") }},
	{"item:LastModifiedTime", true, false, func(it *ewsItem, s ewsShape) *el { return T("t:LastModifiedTime", ewsTime(it.mi.Date)) }},
	{"item:IsAssociated", false, false, func(it *ewsItem, s ewsShape) *el { return tBool("t:IsAssociated", false) }},
	{"item:Flag", false, false, func(it *ewsItem, s ewsShape) *el {
		status := "NotFlagged"
		if it.mi.Flagged {
			status = "Flagged"
		}
		return E("t:Flag", T("t:FlagStatus", status))
	}},
	{"message:Sender", true, true, func(it *ewsItem, s ewsShape) *el { return mailboxesXML("t:Sender", it.hdr, "Sender", "From") }},
	{"message:ToRecipients", true, true, func(it *ewsItem, s ewsShape) *el { return recipientsXML("t:ToRecipients", it.hdr, "To") }},
	{"message:CcRecipients", true, true, func(it *ewsItem, s ewsShape) *el { return recipientsXML("t:CcRecipients", it.hdr, "Cc") }},
	{"message:BccRecipients", false, true, func(it *ewsItem, s ewsShape) *el { return recipientsXML("t:BccRecipients", it.hdr, "Bcc") }},
	{"message:From", true, false, func(it *ewsItem, s ewsShape) *el {
		if it.mi.From == "" {
			return nil
		}
		return E("t:From", mailboxXML(it.mi.From, "OneOff"))
	}},
	{"message:InternetMessageId", true, true, func(it *ewsItem, s ewsShape) *el {
		if id := it.hdr.Get("Message-Id"); id != "" {
			return T("t:InternetMessageId", id)
		}
		return nil
	}},
	{"message:IsRead", true, false, func(it *ewsItem, s ewsShape) *el { return tBool("t:IsRead", it.mi.Read) }},
}

// needsRaw reports whether rendering the shape reads the message itself.
func needsRaw(s ewsShape, getItem bool) bool {
	if s.IncludeMime || s.only("item:MimeContent") {
		return true
	}
	for _, p := range itemProps {
		if p.raw && (getItem || !noFindProp(p.uri)) && s.wants(p.uri, p.inDefault && getItem) {
			return true
		}
	}
	return false
}

// noFindProp are properties FindItem never returns (EWS answers them
// only through GetItem).
func noFindProp(uri string) bool {
	return slices.Contains([]string{"item:Body", "item:Attachments", "message:ToRecipients", "message:CcRecipients", "message:BccRecipients", "item:MimeContent",
		"calendar:RequiredAttendees", "calendar:OptionalAttendees", "calendar:Resources"}, uri)
}

// itemXML renders a message. getItem is false for FindItem and sync
// changes, which leave out the properties only GetItem returns.
func itemXML(it *ewsItem, s ewsShape, getItem bool) *el {
	m, props := E("t:Message"), itemProps
	if it.ev != nil {
		m, props = E("t:CalendarItem"), calendarItemProps
	}
	if it.raw != nil && getItem && (s.IncludeMime || s.only("item:MimeContent")) {
		m.add(T("t:MimeContent", base64.StdEncoding.EncodeToString(it.raw)).A("CharacterSet", "UTF-8"))
	}
	m.add(T("t:ItemId", "").A("Id", encodeItemID(it.folder, itemNum(it.mi))).A("ChangeKey", itemChangeKey(it.mi)))
	for _, p := range props {
		if p.uri == "item:Culture" {
			m.Kids = append(m.Kids, anys(extPropsXML(it, s))...) // types.xsd: ExtendedProperty comes before Culture
		}
		if !getItem && noFindProp(p.uri) {
			continue
		}
		inDefault := p.inDefault
		if !getItem && p.raw {
			// FindItem's Default shape: HasAttachments, and a calendar
			// item's times, place and status.
			inDefault = p.uri == "item:HasAttachments" || strings.HasPrefix(p.uri, "calendar:") && p.inDefault
		}
		if !s.wants(p.uri, inDefault) || (p.raw && it.msg == nil) {
			continue
		}
		m.add(p.render(it, s))
	}
	return m
}

func itemChangeKey(mi MessageInfo) string {
	return changeKey(9, mi.ID, strconv.FormatBool(mi.Read), strconv.FormatBool(mi.Flagged), mi.Subject)
}

// itemNum is the id an ItemId carries for a message: its alias when EWS
// rewrote it, so the ItemId a client holds keeps working.
func itemNum(mi MessageInfo) string {
	if mi.Alias != "" {
		return mi.Alias
	}
	return mi.ID
}

// loadRaw reads and parses the message behind it.
func (c *ewsCall) loadRaw(it *ewsItem) error {
	raw, err := c.h.b.GetMessage(c.r.Context(), c.u.Address, it.folder, it.mi.ID)
	if err != nil {
		return err
	}
	it.raw = raw
	it.msg, err = parseMessage(raw)
	if err != nil {
		it.msg = &shownMessage{}
	}
	it.ev, it.owner = itemEvent(it.folder, it.msg), c.u.Address
	it.hdr = mail.Header{}
	if m, err := mail.ReadMessage(strings.NewReader(string(raw))); err == nil {
		it.hdr = m.Header
	}
	return nil
}

func decodeHeader(v string) string {
	if d, err := (&mime.WordDecoder{}).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

func importance(h mail.Header) string {
	switch strings.ToLower(strings.TrimSpace(h.Get("Importance"))) {
	case "high":
		return "High"
	case "low":
		return "Low"
	}
	switch strings.TrimSpace(h.Get("X-Priority")) {
	case "1", "2":
		return "High"
	case "4", "5":
		return "Low"
	}
	return "Normal"
}

func mailboxXML(header, kind string) *el {
	name, addr := header, header
	if a, err := mail.ParseAddress(header); err == nil {
		name, addr = a.Name, a.Address
		if name == "" {
			name = a.Address
		}
	}
	return E("t:Mailbox", T("t:Name", name), T("t:EmailAddress", addr), T("t:RoutingType", "SMTP"), T("t:MailboxType", kind))
}

func recipientsXML(elem string, h mail.Header, key string) *el {
	list, err := h.AddressList(key)
	if err != nil || len(list) == 0 {
		return nil
	}
	e := E(elem)
	for _, a := range list {
		e.add(mailboxXML(a.String(), "OneOff"))
	}
	return e
}

func mailboxesXML(elem string, h mail.Header, keys ...string) *el {
	for _, k := range keys {
		if list, err := h.AddressList(k); err == nil && len(list) > 0 {
			return E(elem, mailboxXML(list[0].String(), "OneOff"))
		}
	}
	return nil
}

var tagRE = regexp.MustCompile(`(?s)<[^>]*>`)

// bodyXML is a Body in the BodyType asked for: Best is the HTML part
// when there is one.
func bodyXML(elem string, m *shownMessage, want string) *el {
	kind, text := "Text", m.Text
	switch {
	case want == "Text" && m.Text == "" && m.HTML != "":
		text = html.UnescapeString(tagRE.ReplaceAllString(m.HTML, ""))
	case want == "HTML" && m.HTML == "":
		kind, text = "HTML", "<html><body><pre>"+html.EscapeString(m.Text)+"</pre></body></html>"
	case want != "Text" && m.HTML != "":
		kind, text = "HTML", m.HTML
	}
	return T(elem, text).A("BodyType", kind).A("IsTruncated", strconv.FormatBool(m.Truncated))
}

// attachmentXML is a FileAttachment; content is for GetAttachment.
func attachmentXML(it *ewsItem, i int, a shownAttachment, content bool) *el {
	f := E("t:FileAttachment", T("t:AttachmentId", "").A("Id", attachmentID(it, i)), T("t:Name", a.Name), T("t:ContentType", a.ContentType))
	if a.ContentID != "" {
		f.add(T("t:ContentId", a.ContentID))
	}
	f.add(tInt("t:Size", a.Size))
	f.add(T("t:LastModifiedTime", ewsTime(it.mi.Date)))
	f.add(tBool("t:IsInline", a.Inline))
	f.add(tBool("t:IsContactPhoto", false))
	if content {
		f.add(T("t:Content", base64.StdEncoding.EncodeToString(a.Data)))
	}
	return f
}

// attachmentID is the AttachmentId of it's i-th attachment.
func attachmentID(it *ewsItem, i int) string {
	return base64.StdEncoding.EncodeToString([]byte(it.folder + "\x00" + itemNum(it.mi) + "\x00" + strconv.Itoa(i)))
}

// itemRefs reads ItemIds.
func itemRefs(n *xnode) []string {
	var out []string
	for _, k := range n.all("ItemId") {
		out = append(out, k.attr("Id"))
	}
	return out
}

// findMessage looks an item up by its ItemId.
func (c *ewsCall) findMessage(id string) (*ewsItem, *responseMessage) {
	folder, mid, ok := decodeEWSItemID(id)
	if !ok {
		return nil, &ewsIDMalformed
	}
	msgs, err := c.h.b.ListFolder(c.r.Context(), c.u.Address, folder)
	if errors.Is(err, ErrNotFound) {
		return nil, &ewsItemNotFound
	}
	if err != nil {
		c.log.Error("ews: list folder", "err", err)
		return nil, &ewsInternal
	}
	for _, mi := range msgs {
		if mi.ID == mid && mi.Alias == "" || mi.Alias == mid {
			return &ewsItem{folder: folder, mi: mi}, nil
		}
	}
	return nil, &ewsItemNotFound
}

func (c *ewsCall) getItem() *el {
	shape := shapeOf(c.op.child("ItemShape"))
	var msgs []*el
	for _, id := range itemRefs(c.op.child("ItemIds")) {
		it, fail := c.findMessage(id)
		if fail == nil {
			if err := c.loadRaw(it); err != nil {
				c.log.Error("ews: get message", "err", err)
				fail = &ewsItemNotFound
			}
		}
		if fail != nil {
			msgs = append(msgs, respMsg("GetItem", *fail))
			continue
		}
		msgs = append(msgs, respMsg("GetItem", okMessage(), E("m:Items", itemXML(it, shape, true))))
	}
	return opResponse("GetItem", msgs)
}

var ewsAttachmentNotFound = errMessage("ErrorInvalidAttachmentId", "The attachment id is invalid.")

func (c *ewsCall) getAttachment() *el {
	var msgs []*el
	for _, a := range c.op.child("AttachmentIds").all("AttachmentId") {
		b, err := base64.StdEncoding.DecodeString(a.attr("Id"))
		parts := strings.Split(string(b), "\x00")
		if err != nil || len(parts) != 3 {
			msgs = append(msgs, respMsg("GetAttachment", ewsIDMalformed))
			continue
		}
		n, err := strconv.Atoi(parts[2])
		it, fail := c.findMessage(encodeItemID(parts[0], parts[1]))
		if fail == nil && c.loadRaw(it) != nil {
			fail = &ewsItemNotFound
		}
		if fail == nil && (err != nil || n < 0 || n >= len(it.msg.Attachments)) {
			fail = &ewsAttachmentNotFound
		}
		if fail != nil {
			msgs = append(msgs, respMsg("GetAttachment", *fail))
			continue
		}
		msgs = append(msgs, respMsg("GetAttachment", okMessage(), E("m:Attachments", attachmentXML(it, n, it.msg.Attachments[n], true))))
	}
	return opResponse("GetAttachment", msgs)
}
