package httpd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message"
)

// CreateAttachment, and the MIME rewriting that it and UpdateItem of Body
// need: exsim keeps items as MIME, as Exchange converts them on the way
// in and out.

// sensitivity is an item's EWS Sensitivity from its MIME Sensitivity
// header (RFC 2156 values).
func sensitivity(h mail.Header) string {
	v := strings.ToLower(strings.TrimSpace(h.Get("Sensitivity")))
	for ews, mime := range mimeLevel["Sensitivity"] {
		if mime != "" && strings.ToLower(mime) == v {
			return ews
		}
	}
	return "Normal"
}

// fileAttachment is a FileAttachment of a request.
func fileAttachment(a *xnode) (shownAttachment, error) {
	data, err := base64.StdEncoding.DecodeString(a.text("Content"))
	if err != nil {
		return shownAttachment{}, fmt.Errorf("attachment content: %w", err)
	}
	name := a.text("Name")
	ct := a.text("ContentType")
	if ct == "" {
		if i := strings.LastIndex(name, "."); i >= 0 {
			ct = mime.TypeByExtension(strings.ToLower(name[i:]))
		}
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	return shownAttachment{Name: name, ContentType: ct, Data: data, Inline: xsBool(a.text("IsInline")), ContentID: a.text("ContentId")}, nil
}

// rebuild writes the message raw with its body parts replaced: parts
// gets the original parts (the whole body as one part when it is not
// multipart/mixed) and returns what to write instead.
func rebuild(raw []byte, parts func(in []*message.Entity) ([]*message.Entity, error)) ([]byte, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, err
	}
	top := e.Header.Copy()
	var in []*message.Entity
	if mt, _, _ := e.Header.ContentType(); strings.EqualFold(mt, "multipart/mixed") {
		mr := e.MultipartReader()
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			body, err := io.ReadAll(p.Body)
			if err != nil {
				return nil, err
			}
			in = append(in, mustEntity(p.Header, body))
		}
	} else {
		var h message.Header
		for f := top.Fields(); f.Next(); {
			if strings.HasPrefix(strings.ToLower(f.Key()), "content-") {
				h.Set(f.Key(), f.Value())
				f.Del()
			}
		}
		body, err := io.ReadAll(e.Body)
		if err != nil {
			return nil, err
		}
		in = []*message.Entity{mustEntity(h, body)}
	}
	out, err := parts(in)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if len(out) == 1 {
		// One part: it becomes the whole body again.
		for f := out[0].Header.Fields(); f.Next(); {
			top.Set(f.Key(), f.Value())
		}
		w, err := message.CreateWriter(&buf, top)
		if err != nil {
			return nil, err
		}
		io.Copy(w, out[0].Body)
		err = w.Close() // before buf.Bytes: Close writes the end
		return buf.Bytes(), err
	}
	top.Del("Content-Transfer-Encoding")
	top.SetContentType("multipart/mixed", nil)
	w, err := message.CreateWriter(&buf, top)
	if err != nil {
		return nil, err
	}
	for _, p := range out {
		pw, err := w.CreatePart(p.Header)
		if err != nil {
			return nil, err
		}
		io.Copy(pw, p.Body)
		pw.Close()
	}
	err = w.Close() // the closing boundary
	return buf.Bytes(), err
}

// mustEntity is an entity of decoded body bytes under h (whose
// Content-Transfer-Encoding the writer applies).
func mustEntity(h message.Header, body []byte) *message.Entity {
	return &message.Entity{Header: h, Body: bytes.NewReader(body)}
}

// textPart is a text body part, quoted-printable as Exchange writes them.
func textPart(text string, html bool) *message.Entity {
	var h message.Header
	ct := "text/plain"
	if html {
		ct = "text/html"
	}
	h.SetContentType(ct, map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	return mustEntity(h, []byte(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n")))
}

// replaceBody sets the text of a message: the first part when it is text
// or multipart/alternative (the body), the whole content otherwise.
func replaceBody(raw []byte, text string, html bool) ([]byte, error) {
	return rebuild(raw, func(in []*message.Entity) ([]*message.Entity, error) {
		if mt, _, _ := in[0].Header.ContentType(); strings.HasPrefix(mt, "text/") || mt == "multipart/alternative" || mt == "" {
			in[0] = textPart(text, html)
			return in, nil
		}
		return append([]*message.Entity{textPart(text, html)}, in...), nil
	})
}

// addAttachment appends a file attachment part.
func addAttachment(raw []byte, a shownAttachment) ([]byte, error) {
	return rebuild(raw, func(in []*message.Entity) ([]*message.Entity, error) {
		var h message.Header
		h.SetContentType(a.ContentType, map[string]string{"name": a.Name})
		disp := "attachment"
		if a.Inline {
			disp = "inline"
		}
		h.SetContentDisposition(disp, map[string]string{"filename": a.Name})
		if a.ContentID != "" {
			h.Set("Content-Id", "<"+strings.Trim(a.ContentID, "<>")+">")
		}
		h.Set("Content-Transfer-Encoding", "base64")
		return append(in, mustEntity(h, a.Data)), nil
	})
}

var ewsAttachmentInvalid = errMessage("ErrorInvalidRequest", "The request is invalid.")

// createAttachment adds file attachments to an item (a draft or any
// message of the mailbox): each is a new MIME part; the item keeps its
// ItemId, as in Exchange.
func (c *ewsCall) createAttachment() *el {
	var msgs []*el
	parent := c.op.child("ParentItemId").attr("Id")
	for _, a := range c.op.child("Attachments").Kids {
		msgs = append(msgs, c.attach(parent, a))
	}
	return opResponse("CreateAttachment", msgs)
}

// attach adds one attachment a to the item parent.
func (c *ewsCall) attach(parent string, a *xnode) *el {
	reply := func(rm responseMessage, body ...*el) *el { return respMsg("CreateAttachment", rm, body...) }
	if a.Name.Local != "FileAttachment" {
		// ItemAttachment (an item inside an item) exsim does not keep.
		return reply(errMessage("ErrorInvalidOperation", "Only file attachments can be created on this server."))
	}
	att, err := fileAttachment(a)
	if err != nil {
		return reply(ewsAttachmentInvalid)
	}
	it, fail := c.findMessage(parent)
	if fail == nil && c.loadRaw(it) != nil {
		fail = &ewsItemNotFound
	}
	if fail != nil {
		return reply(*fail)
	}
	raw, err := addAttachment(it.raw, att)
	if err != nil {
		c.log.Error("ews: add attachment", "err", err)
		return reply(ewsInternal)
	}
	if _, fail := c.rewrite(it, raw); fail != nil {
		return reply(*fail)
	}
	after, fail := c.findMessage(parent)
	if fail == nil && c.loadRaw(after) != nil {
		fail = &ewsItemNotFound
	}
	if fail != nil {
		return reply(*fail)
	}
	id := attachmentID(after, len(after.msg.Attachments)-1)
	return reply(okMessage(), E("m:Attachments", E("t:FileAttachment",
		T("t:AttachmentId", "").A("Id", id).A("RootItemId", encodeItemID(after.folder, itemNum(after.mi))).A("RootItemChangeKey", itemChangeKey(after.mi)))))
}
