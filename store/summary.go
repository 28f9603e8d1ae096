package store

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// summary is what the store keeps of a message's header so that list views
// (OWA's inbox, the admin API) need not parse every body.
type summary struct {
	From, To, Cc, Subject, MsgID string
	Sent                         int64
}

var wordDecoder = mime.WordDecoder{}

// summarize reads the header of msg. A message without a parsable header is
// stored anyway, with an empty summary: mail is never refused for its looks.
func summarize(msg []byte) summary {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		return summary{}
	}
	s := summary{
		From:    headerText(h.Get("From")),
		To:      headerText(h.Get("To")),
		Cc:      headerText(h.Get("Cc")),
		Subject: headerText(h.Get("Subject")),
		MsgID:   clip(strings.TrimSpace(h.Get("Message-Id"))),
	}
	if d := h.Get("Date"); d != "" {
		if t, err := parseDate(d); err == nil {
			s.Sent = t.Unix()
		}
	}
	return s
}

// dateLayout is the Date form nearly every message carries (RFC 5322
// section 3.3 without the optional parts; exsim's Front End writes it).
const dateLayout = "Mon, 2 Jan 2006 15:04:05 -0700"

// parseDate is mail.ParseDate with dateLayout tried first: mail.ParseDate
// tries its layouts in turn and builds an error for each that does not
// match, some seventy allocations for this common form.
func parseDate(d string) (time.Time, error) {
	if t, err := time.Parse(dateLayout, d); err == nil {
		return t, nil
	}
	return mail.ParseDate(d)
}

// headerText decodes RFC 2047 encoded words; undecodable charsets keep the
// raw text.
func headerText(v string) string {
	v = strings.TrimSpace(v)
	if dec, err := wordDecoder.DecodeHeader(v); err == nil {
		v = dec
	}
	return clip(v)
}

// clip bounds a header value to maxRecString bytes of valid UTF-8.
func clip(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if len(v) <= maxRecString {
		return v
	}
	v = v[:maxRecString]
	for len(v) > 0 && !utf8.ValidString(v) {
		v = v[:len(v)-1]
	}
	return v
}
