package transport

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/google/uuid"
)

type dsnKind int

const (
	dsnFailed dsnKind = iota
	dsnDelayed
	dsnDelivered
)

// notifyLocked sends a DSN (RFC 3464) about recipients idx of m to its
// sender: an NDR for failures, a delay notification, or a delivery report.
// Nothing is sent for the null sender or for recipients that asked not to
// be notified (NOTIFY).
func (t *Transport) notifyLocked(m *Message, idx []int, kind dsnKind) {
	if m.From == "" || t.o.Postmaster == "" || len(idx) == 0 {
		return
	}
	want := map[dsnKind]string{dsnFailed: "FAILURE", dsnDelayed: "DELAY", dsnDelivered: "SUCCESS"}[kind]
	var rcpts []Recipient
	for _, i := range idx {
		if r := m.Recipients[i]; r.Notifies(want) {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return
	}
	body, err := t.spool.Body(m.ID)
	if err != nil {
		body = nil // the report goes out without the original headers
	}
	orig := *m
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.sendDSN(&orig, rcpts, body, kind)
	}()
}

// NotifyDelivered sends a delivery report (NOTIFY=SUCCESS) for rcpts of m;
// the Mailbox Transport Delivery calls it after final delivery.
func (t *Transport) NotifyDelivered(m *Message, rcpts []Recipient, body []byte) {
	var want []Recipient
	for _, r := range rcpts {
		if r.Notifies("SUCCESS") && len(r.Notify) > 0 {
			want = append(want, r)
		}
	}
	if len(want) == 0 || m.From == "" || t.o.Postmaster == "" {
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.sendDSN(m, want, body, dsnDelivered)
	}()
}

func (t *Transport) sendDSN(m *Message, rcpts []Recipient, body []byte, kind dsnKind) {
	now := t.now()
	report, subject, err := t.buildDSN(m, rcpts, body, kind, now)
	if err != nil {
		t.log.Error("cannot write a DSN", "msg_id", m.MessageID, "err", err)
		return
	}
	dsn := &Message{
		MessageID: fmt.Sprintf("<%s@%s>", uuid.NewString(), t.o.FQDN),
		NetworkID: uuid.NewString(),
		From:      "",
		Subject:   subject,
		Source:    Source{AuthAs: "Internal", Connector: "DSN"},
		IsDSN:     true,
		Recipients: []Recipient{{
			Address: m.From, Notify: []string{"NEVER"},
		}},
	}
	if err := t.Submit(context.Background(), dsn, report); err != nil {
		t.log.Error("cannot queue a DSN", "msg_id", m.MessageID, "err", err)
		return
	}
	t.log.Info("DSN queued", "msg_id", m.MessageID, "rcpt", m.From, "code", subject)
}

// buildDSN writes the report (RFC 3464, RFC 6522) with go-message: a
// multipart/report of the human-readable text in Exchange's words, the
// message/delivery-status fields and the original message or its header
// (RFC 3461 section 4.3, RET). It returns the report and its subject.
func (t *Transport) buildDSN(m *Message, rcpts []Recipient, body []byte, kind dsnKind, now time.Time) ([]byte, string, error) {
	var prefix, intro, action string
	switch kind {
	case dsnFailed:
		prefix, intro, action = "Undeliverable: ", "Delivery has failed to these recipients or groups:", "failed"
	case dsnDelayed:
		prefix, intro, action = "Delivery delayed:", "Delivery is delayed to these recipients or groups:", "delayed"
	case dsnDelivered:
		prefix, intro, action = "Delivered: ", "Your message has been delivered to the following recipients:", "delivered"
	}
	subject := prefix + decodeHeader(m.Subject)

	// go-message writes header fields last added first, so they are added
	// bottom up.
	var h mail.Header
	if kind == dsnFailed {
		h.AddRaw([]byte("X-MS-Exchange-Message-Is-Ndr: \r\n"))
	}
	h.Add("Auto-Submitted", "auto-replied")
	h.SetContentType("multipart/report", map[string]string{"report-type": "delivery-status", "boundary": uuid.NewString()})
	h.AddRaw([]byte("MIME-Version: 1.0\r\n"))
	h.AddRaw([]byte("Message-ID: <" + uuid.NewString() + "@" + t.o.FQDN + ">\r\n"))
	h.SetSubject(headerSafe(subject))
	h.SetDate(now)
	h.SetAddressList("To", []*mail.Address{{Address: m.From}})
	h.SetAddressList("From", []*mail.Address{{Name: "Microsoft Outlook", Address: t.o.Postmaster}})

	var b bytes.Buffer
	w, err := message.CreateWriter(&b, h.Header)
	if err != nil {
		return nil, "", err
	}

	var text bytes.Buffer
	line := func(format string, args ...any) { fmt.Fprintf(&text, format+"\r\n", args...) }
	line("%s", intro)
	line("")
	for _, r := range rcpts {
		line("%s", r.Address)
	}
	line("")
	line("Diagnostic information for administrators:")
	line("")
	line("Generating server: %s", t.o.FQDN)
	line("")
	for _, r := range rcpts {
		line("%s", r.Address)
		if r.LastError != "" {
			line("Remote Server returned '%s'", headerSafe(r.LastError))
		}
		line("")
	}
	charset := "us-ascii"
	if !isASCII(text.String()) {
		charset = "utf-8"
	}
	if err := writePart(w, "text/plain", map[string]string{"charset": charset}, text.Bytes()); err != nil {
		return nil, "", err
	}

	text.Reset()
	line("Reporting-MTA: dns;%s", t.o.FQDN)
	if m.DSN.EnvID != "" {
		line("Original-Envelope-Id: %s", m.DSN.EnvID)
	}
	line("Arrival-Date: %s", m.Arrived.Format(time.RFC1123Z))
	for _, r := range rcpts {
		line("")
		if r.ORCPT != "" {
			line("Original-Recipient: %s", r.ORCPT)
		}
		line("Final-Recipient: rfc822;%s", r.Address)
		line("Action: %s", action)
		line("Status: %s", statusOf(r.LastError, kind))
		if r.LastError != "" && kind != dsnDelivered {
			line("Diagnostic-Code: smtp;%s", headerSafe(r.LastError))
		}
		if kind == dsnDelayed {
			line("Will-Retry-Until: %s", m.Arrived.Add(t.o.Timers.MessageExpirationTimeout).Format(time.RFC1123Z))
		}
	}
	line("")
	if err := writePart(w, "message/delivery-status", nil, text.Bytes()); err != nil {
		return nil, "", err
	}

	// The header firewall: organization, forest and routing headers are
	// removed from the original message or header the DSN carries.
	if len(body) > 0 {
		body = bytes.Join(FirewallMessage(body, 0), nil)
	}
	if m.DSN.Ret == "FULL" && kind == dsnFailed && len(body) > 0 {
		if !bytes.HasSuffix(body, []byte("\r\n")) {
			body = append(body[:len(body):len(body)], '\r', '\n')
		}
		err = writePart(w, "message/rfc822", nil, body)
	} else {
		err = writePart(w, "text/rfc822-headers", nil, headerSection(body))
	}
	if err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), subject, nil
}

// writePart writes one part of the report.
func writePart(w *message.Writer, mediaType string, params map[string]string, content []byte) error {
	var ph message.Header
	ph.SetContentType(mediaType, params)
	pw, err := w.CreatePart(ph)
	if err != nil {
		return err
	}
	if _, err := pw.Write(content); err != nil {
		return err
	}
	return pw.Close()
}

// decodeHeader decodes RFC 2047 encoded words, so that a subject is
// encoded once when the report's Subject is written.
func decodeHeader(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var h mail.Header
	h.Set("Subject", s)
	d, err := h.Subject()
	if err != nil {
		return s
	}
	return d
}

// statusOf takes the enhanced status code from a reply such as
// "550 5.1.1 User unknown", with a default per DSN kind.
func statusOf(reply string, kind dsnKind) string {
	f := strings.Fields(reply)
	if len(f) >= 2 && len(f[1]) >= 5 && (f[1][0] == '2' || f[1][0] == '4' || f[1][0] == '5') && f[1][1] == '.' {
		if kind == dsnFailed && f[1][0] == '4' {
			return "5" + f[1][1:] // an expired transient failure is final now
		}
		return f[1]
	}
	switch kind {
	case dsnDelayed:
		return "4.4.7"
	case dsnDelivered:
		return "2.0.0"
	}
	return "5.0.0"
}

// headerSection returns the header block of a message, CRLF-terminated.
func headerSection(body []byte) []byte {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(body)))
	var out bytes.Buffer
	for {
		line, err := r.ReadLine()
		if err != nil || line == "" {
			break
		}
		out.WriteString(line)
		out.WriteString("\r\n")
		if err == io.EOF {
			break
		}
	}
	return out.Bytes()
}

func headerSafe(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
