package smtpclient

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/google/uuid"
)

// Message is what to send.
type Message struct {
	// From and To are addresses, also the envelope's.
	From string
	To   []string
	// FromName is the display name of From ("" for none).
	FromName string
	Subject  string
	Body     string
	// Headers are extra "Name: value" fields.
	Headers []string
	// Size pads the body with text lines up to about this many bytes.
	Size int
	// MessageID is set by Build when empty.
	MessageID string
}

// Build renders the message as RFC 5322 with CRLF line ends, with
// go-message: a non-ASCII Subject or display name is an RFC 2047 encoded
// word, the body UTF-8 text as is (8BITMIME). Headers are written as given;
// one without a colon is an error.
func Build(m *Message, now time.Time, host string) ([]byte, error) {
	if m.MessageID == "" {
		m.MessageID = fmt.Sprintf("<%s@%s>", uuid.NewString(), host)
	}
	// go-message writes header fields last added first, so they are added
	// bottom up.
	var h mail.Header
	for i := len(m.Headers) - 1; i >= 0; i-- {
		// Verbatim: the caller's spelling of Exchange's header names.
		f := oneLine(m.Headers[i])
		if !strings.Contains(f, ":") {
			return nil, fmt.Errorf("header %q: no colon", f)
		}
		h.AddRaw([]byte(f + "\r\n"))
	}
	h.Add("X-Mailer", "exsim send")
	h.Add("Content-Type", "text/plain; charset=utf-8")
	h.AddRaw([]byte("MIME-Version: 1.0\r\n"))
	h.AddRaw([]byte("Message-ID: " + oneLine(m.MessageID) + "\r\n"))
	h.Add("Date", now.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	h.SetSubject(oneLine(m.Subject))
	to := make([]*mail.Address, len(m.To))
	for i, a := range m.To {
		to[i] = &mail.Address{Address: a}
	}
	h.SetAddressList("To", to)
	h.SetAddressList("From", []*mail.Address{{Name: m.FromName, Address: m.From}})

	var b bytes.Buffer
	w, err := message.CreateWriter(&b, h.Header)
	if err != nil {
		return nil, fmt.Errorf("build message: %w", err)
	}
	for _, line := range strings.Split(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n") {
		w.Write([]byte(line + "\r\n"))
	}
	const filler = "exsim filler line to reach the requested message size, 0123456789 abcdefghijklmnop"
	for i := 0; b.Len() < m.Size; i++ {
		fmt.Fprintf(w, "%05d %s\r\n", i, filler)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("build message: %w", err)
	}
	return b.Bytes(), nil
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
