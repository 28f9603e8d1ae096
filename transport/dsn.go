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
	report, subject := t.buildDSN(m, rcpts, body, kind, now)
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

func (t *Transport) buildDSN(m *Message, rcpts []Recipient, body []byte, kind dsnKind, now time.Time) ([]byte, string) {
	boundary := uuid.NewString()
	var subject, intro, action, status string
	switch kind {
	case dsnFailed:
		subject, intro, action = "Undeliverable: "+m.Subject, "Delivery has failed to these recipients or groups:", "failed"
	case dsnDelayed:
		subject, intro, action = "Delivery delayed:"+m.Subject, "Delivery is delayed to these recipients or groups:", "delayed"
	case dsnDelivered:
		subject, intro, action = "Delivered: "+m.Subject, "Your message has been delivered to the following recipients:", "delivered"
	}
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: Microsoft Outlook <%s>", t.o.Postmaster)
	w("To: <%s>", m.From)
	w("Date: %s", now.Format(time.RFC1123Z))
	w("Subject: %s", headerSafe(subject))
	w("Message-ID: <%s@%s>", uuid.NewString(), t.o.FQDN)
	w("MIME-Version: 1.0")
	w(`Content-Type: multipart/report; report-type=delivery-status; boundary="%s"`, boundary)
	w("Auto-Submitted: auto-replied")
	if kind == dsnFailed {
		w("X-MS-Exchange-Message-Is-Ndr: ")
	}
	w("")
	w("--%s", boundary)
	w(`Content-Type: text/plain; charset="us-ascii"`)
	w("")
	w("%s", intro)
	w("")
	for _, r := range rcpts {
		w("%s", r.Address)
	}
	w("")
	w("Diagnostic information for administrators:")
	w("")
	w("Generating server: %s", t.o.FQDN)
	w("")
	for _, r := range rcpts {
		w("%s", r.Address)
		if r.LastError != "" {
			w("Remote Server returned '%s'", headerSafe(r.LastError))
		}
		w("")
	}
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns;%s", t.o.FQDN)
	if m.DSN.EnvID != "" {
		w("Original-Envelope-Id: %s", m.DSN.EnvID)
	}
	w("Arrival-Date: %s", m.Arrived.Format(time.RFC1123Z))
	for _, r := range rcpts {
		w("")
		if r.ORCPT != "" {
			w("Original-Recipient: %s", r.ORCPT)
		}
		w("Final-Recipient: rfc822;%s", r.Address)
		w("Action: %s", action)
		status = statusOf(r.LastError, kind)
		w("Status: %s", status)
		if r.LastError != "" && kind != dsnDelivered {
			w("Diagnostic-Code: smtp;%s", headerSafe(r.LastError))
		}
		if kind == dsnDelayed {
			w("Will-Retry-Until: %s", m.Arrived.Add(t.o.Timers.MessageExpirationTimeout).Format(time.RFC1123Z))
		}
	}
	w("")
	w("--%s", boundary)
	if m.DSN.Ret == "FULL" && kind == dsnFailed && len(body) > 0 {
		w("Content-Type: message/rfc822")
		w("")
		b.Write(body)
		if !bytes.HasSuffix(body, []byte("\r\n")) {
			w("")
		}
	} else {
		w("Content-Type: text/rfc822-headers")
		w("")
		b.Write(headerSection(body))
	}
	w("--%s--", boundary)
	return b.Bytes(), subject
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
