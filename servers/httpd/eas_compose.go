package httpd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/exsim/exsim/internal/wbxml"
)

// easComposed is what SendMail, SmartReply and SmartForward carry: the
// MIME message and where to save it, in the WBXML form of 14.0 and
// later or the message/rfc822 body and query parameters of 12.1.
type easComposed struct {
	mime              []byte
	saveInSent        bool
	replaceMime       bool
	folderID, itemKey string
}

func (c *easCall) composed() (*easComposed, int) {
	if strings.HasPrefix(strings.ToLower(c.r.Header.Get("Content-Type")), "message/rfc822") {
		return &easComposed{mime: c.raw, saveInSent: c.q.SaveInSent, folderID: c.q.CollectionID, itemKey: c.q.ItemID}, 0
	}
	if c.body == nil || c.body.Page != "ComposeMail" || !c.body.Has("Mime") {
		return nil, easInvalidContent
	}
	src := c.body.Child("Source")
	comp := &easComposed{
		mime:        []byte(c.body.Value("Mime")),
		saveInSent:  c.body.Has("SaveInSentItems"),
		replaceMime: c.body.Has("ReplaceMime"),
		folderID:    src.Value("FolderId"),
		itemKey:     src.Value("ItemId"),
	}
	return comp, 0
}

// sendMail submits a message the device composed (MS-ASCMD 2.2.2.17)
// through the Mailbox server's transport; success is an empty answer.
func (c *easCall) sendMail() *wbxml.Node {
	comp, st := c.composed()
	if st != 0 {
		return c.status(st)
	}
	return c.submit(comp.mime, comp.saveInSent)
}

func (c *easCall) smartReply() *wbxml.Node   { return c.smart(false) }
func (c *easCall) smartForward() *wbxml.Node { return c.smart(true) }

// smart is SmartReply and SmartForward (MS-ASCMD 2.2.2.18, 2.2.2.19): the
// server adds the original message the device did not download, quoted
// below a reply, attached to a forward, unless ReplaceMime says the
// device sent everything.
func (c *easCall) smart(forward bool) *wbxml.Node {
	comp, st := c.composed()
	if st != 0 {
		return c.status(st)
	}
	if comp.replaceMime {
		return c.submit(comp.mime, comp.saveInSent)
	}
	f, ok, err := c.folder(comp.folderID)
	if err != nil || !ok {
		return c.status(easItemNotFound)
	}
	l, err := c.listing(f, "")
	if err != nil {
		return c.status(c.storeStatus(err, easItemNotFound, easServerError))
	}
	key := comp.itemKey
	if k, ok := itemKey(f, key); ok {
		key = k
	}
	mi, ok := l.infos[key]
	if !ok {
		return c.status(easItemNotFound)
	}
	orig, err := c.store.GetMessage(c.r.Context(), c.u.Address, f.Path, mi.ID)
	if err != nil {
		return c.status(c.storeStatus(err, easItemNotFound, easServerError))
	}
	msg, err := combine(comp.mime, orig, forward)
	if err != nil {
		c.log.Info("activesync: message does not parse", "err", err)
		return c.status(easInvalidMIME)
	}
	return c.submit(msg, comp.saveInSent)
}

// submit sends msg to its To, Cc and Bcc recipients, as the user; Bcc
// is taken out of the header first.
func (c *easCall) submit(msg []byte, saveInSent bool) *wbxml.Node {
	br := bufio.NewReader(bytes.NewReader(msg))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		c.log.Info("activesync: message header does not parse", "err", err)
		return c.status(easInvalidMIME)
	}
	mh := mail.Header{Header: message.Header{Header: h}}
	var rcpts []string
	for _, k := range []string{"To", "Cc", "Bcc"} {
		list, err := mh.AddressList(k)
		if err != nil {
			c.log.Info("activesync: bad address header", "header", k, "err", err)
			return c.status(easInvalidMIME)
		}
		for _, a := range list {
			rcpts = append(rcpts, a.Address)
		}
	}
	if len(rcpts) == 0 {
		return c.status(easNoRecipients)
	}
	if len(rcpts) > maxRecipients {
		return c.status(easMailSubmissionFailed)
	}
	mh.Del("Bcc")
	// The message is sent as the mailbox owner, whatever From says.
	mh.SetAddressList("From", []*mail.Address{{Name: c.u.DisplayName, Address: c.u.Address}})
	if !mh.Has("Date") {
		mh.SetDate(c.h.cfg.Now())
	}
	var out bytes.Buffer
	if err := textproto.WriteHeader(&out, mh.Header.Header); err != nil {
		return c.status(easInvalidMIME)
	}
	io.Copy(&out, br)
	saveIn := ""
	if saveInSent {
		saveIn = FolderSentItems
	}
	if err := c.store.Send(c.r.Context(), c.u, rcpts, out.Bytes(), saveIn); err != nil {
		c.log.Warn("activesync: submission failed", "rcpt", strings.Join(rcpts, ";"), "err", err)
		return c.status(easMailSubmissionFailed)
	}
	c.log.Info("activesync: message submitted", "rcpt", strings.Join(rcpts, ";"), "msg_id", mh.Get("Message-Id"))
	return nil
}

// combine builds the message a SmartReply or SmartForward sends: the
// device's message as the first part of a multipart/mixed, then the
// original quoted as text (a reply) or attached as message/rfc822 (a
// forward).
func combine(mine, orig []byte, forward bool) ([]byte, error) {
	e, err := message.Read(bytes.NewReader(mine))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, err
	}
	o, err := parseMessage(orig)
	if err != nil {
		return nil, err
	}
	var outer message.Header
	var first message.Header
	fields := e.Header.Fields()
	for fields.Next() {
		k := fields.Key()
		if strings.HasPrefix(strings.ToLower(k), "content-") || strings.EqualFold(k, "MIME-Version") {
			first.Add(k, fields.Value())
			continue
		}
		outer.Add(k, fields.Value())
	}
	if !forward {
		if id := headerOf(orig, "Message-Id"); id != "" && !outer.Has("In-Reply-To") {
			outer.Set("In-Reply-To", id)
			outer.Set("References", id)
		}
	}
	if !first.Has("Content-Type") {
		first.Set("Content-Type", "text/plain; charset=us-ascii")
	}
	outer.Set("MIME-Version", "1.0")
	outer.SetContentType("multipart/mixed", nil)
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, outer)
	if err != nil {
		return nil, err
	}
	p, err := w.CreatePart(first)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(p, e.Body); err != nil {
		return nil, err
	}
	p.Close()
	var second message.Header
	var body []byte
	if forward {
		second.SetContentType("message/rfc822", nil)
		second.SetContentDisposition("attachment", map[string]string{"filename": o.Subject + ".eml"})
		body = orig
	} else {
		second.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		second.Set("Content-Transfer-Encoding", "quoted-printable")
		text := o.Text
		if text == "" {
			text = htmlToText(o.HTML)
		}
		body = fmt.Appendf(nil, "\r\n-----Original Message-----\r\nFrom: %s\r\nSent: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s",
			o.From, o.Date.Format("Monday, January 2, 2006 3:04 PM"), o.To, o.Subject, text)
	}
	p, err = w.CreatePart(second)
	if err != nil {
		return nil, err
	}
	if _, err := p.Write(body); err != nil {
		return nil, err
	}
	p.Close()
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// headerOf is one header of a raw message, "" when absent or unreadable.
func headerOf(raw []byte, key string) string {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return ""
	}
	return h.Get(key)
}
