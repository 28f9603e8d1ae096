package httpd

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Limits of the message renderer: a message is shown, never trusted.
const (
	maxShownBody   = 1 << 20 // bytes of one text part kept for display
	maxMIMEDepth   = 16      // nesting of multiparts followed
	maxMIMEParts   = 256     // parts looked at
	maxHeaderBytes = 256 << 10
)

// shownMessage is a message prepared for the reading pane. Every string is
// raw text: html/template escapes it where it is shown.
type shownMessage struct {
	Subject     string
	From        string
	To          string
	Cc          string
	Date        time.Time
	Text        string // the text/plain body
	HTML        string // the text/html body, shown only in a sandboxed iframe
	Attachments []shownAttachment
	// Calendar is the iCalendar of a text/calendar body part (a meeting
	// request's or a calendar item's); Exchange shows it as the item's
	// calendar properties, not as an attachment.
	Calendar  string
	Truncated bool
}

type shownAttachment struct {
	Name        string
	Size        int64
	ContentType string // media type, e.g. application/pdf
	ContentID   string // without angle brackets
	Inline      bool   // Content-Disposition inline
	Data        []byte // the decoded content (EWS GetAttachment)
}

// parseMessage reads raw RFC 5322 bytes for display. It never fails on a
// malformed body: what can be shown is shown.
func parseMessage(raw []byte) (*shownMessage, error) {
	e, err := message.ReadWithOptions(bytes.NewReader(raw), &message.ReadOptions{MaxHeaderBytes: maxHeaderBytes})
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("httpd: parse message: %w", err)
	}
	h := mail.Header{Header: e.Header}
	m := &shownMessage{}
	m.Subject, _ = h.Subject()
	m.From = addressHeader(h, "From")
	m.To = addressHeader(h, "To")
	m.Cc = addressHeader(h, "Cc")
	m.Date, _ = h.Date()
	parts := 0
	m.walk(e, message.IsUnknownCharset(err), 0, &parts)
	return m, nil
}

// addressHeader is a decoded address header, as Outlook shows it:
// "Bob Smith <bob@contoso.com>; carol@fabrikam.com".
func addressHeader(h mail.Header, key string) string {
	list, err := h.AddressList(key)
	if err != nil || len(list) == 0 {
		v, _ := h.Text(key)
		return v
	}
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = formatAddress(a.Name, a.Address)
	}
	return strings.Join(s, "; ")
}

func formatAddress(name, addr string) string {
	if name == "" || name == addr {
		return addr
	}
	return name + " <" + addr + ">"
}

// walk collects the text bodies and attachments of e. rawCharset says
// go-message could not convert e's charset, so the body is still in it.
func (m *shownMessage) walk(e *message.Entity, rawCharset bool, depth int, parts *int) {
	*parts++
	if *parts > maxMIMEParts {
		m.Truncated = true
		return
	}
	if mr := e.MultipartReader(); mr != nil {
		if depth >= maxMIMEDepth {
			m.Truncated = true
			return
		}
		for {
			p, err := mr.NextPart()
			unknown := message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)
			if err != nil && !(unknown && p != nil) {
				if !errors.Is(err, io.EOF) {
					m.Truncated = true
				}
				return
			}
			m.walk(p, message.IsUnknownCharset(err), depth+1, parts)
		}
	}
	mediaType, params, _ := e.Header.ContentType()
	disp, dparams, _ := e.Header.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	isText := mediaType == "" || mediaType == "text/plain" || mediaType == "text/html"
	if mediaType == "text/calendar" && disp != "attachment" && m.Calendar == "" {
		m.Calendar = m.readBody(e.Body, "")
		return
	}
	if disp == "attachment" || !isText {
		data, _ := io.ReadAll(io.LimitReader(e.Body, 64<<20))
		n := int64(len(data))
		if name == "" {
			name = "attachment"
			if mediaType == "message/rfc822" {
				name = "message.eml"
			} else if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
				name += exts[0]
			}
		}
		if mediaType == "" {
			mediaType = "application/octet-stream"
		}
		m.Attachments = append(m.Attachments, shownAttachment{Name: name, Size: n, ContentType: mediaType,
			ContentID: strings.Trim(e.Header.Get("Content-Id"), "<> "), Inline: disp == "inline", Data: data})
		return
	}
	charset := ""
	if rawCharset {
		charset = params["charset"]
	}
	if mediaType == "text/html" {
		if m.HTML == "" {
			m.HTML = m.readBody(e.Body, charset)
		}
		return
	}
	if m.Text == "" {
		m.Text = m.readBody(e.Body, charset)
	}
}

// readBody reads a text body for display. charset is set when the body is
// still in a charset go-message could not convert.
func (m *shownMessage) readBody(r io.Reader, charset string) string {
	b, err := io.ReadAll(io.LimitReader(r, maxShownBody+1))
	if len(b) > maxShownBody {
		b = b[:maxShownBody]
		m.Truncated = true
	}
	if err != nil {
		m.Truncated = true
	}
	return decodeCharset(charset, b)
}

// windows1252 maps 0x80-0x9F of Windows-1252 (0 where undefined).
var windows1252 = [32]rune{
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
}

// decodeCharset turns a body in charset into UTF-8. Latin-1 and
// Windows-1252, the commonest non-UTF-8 charsets of western mail, are
// converted; anything else keeps its valid UTF-8 and shows U+FFFD for the rest.
func decodeCharset(charset string, b []byte) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "iso_8859-1", "l1", "windows-1252", "cp1252", "x-cp1252":
		var s strings.Builder
		s.Grow(len(b))
		for _, c := range b {
			switch {
			case c >= 0x80 && c <= 0x9f && windows1252[c-0x80] != 0:
				s.WriteRune(windows1252[c-0x80])
			default:
				s.WriteRune(rune(c))
			}
		}
		return s.String()
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// draft is a message composed in Outlook on the web.
type draft struct {
	To, Cc  []*mail.Address
	Subject string
	Body    string
}

// compose builds the RFC 5322 message OWA would submit for d, with
// Exchange's message id form (<32 hex digits@server fqdn>) and its
// Thread-Topic/Thread-Index headers.
func (c *config) compose(u *User, d draft) (msg []byte, msgID string, err error) {
	now := c.Now()
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: u.DisplayName, Address: u.Address}})
	h.SetAddressList("To", d.To)
	if len(d.Cc) > 0 {
		h.SetAddressList("Cc", d.Cc)
	}
	h.SetSubject(d.Subject)
	h.Set("Thread-Topic", mime.QEncoding.Encode("utf-8", d.Subject))
	h.Set("Thread-Index", threadIndex(now))
	var id [16]byte
	rand.Read(id[:])
	msgID = hex.EncodeToString(id[:]) + "@" + c.FQDN
	// Spelled as Exchange spells them (Set would canonicalize to Message-Id).
	h.AddRaw([]byte("Message-ID: <" + msgID + ">\r\n"))
	h.AddRaw([]byte("X-MS-Has-Attach: \r\n"))
	h.AddRaw([]byte("X-MS-TNEF-Correlator: \r\n"))
	h.Set("Content-Language", "en-US")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, "", fmt.Errorf("httpd: compose: %w", err)
	}
	body := strings.ReplaceAll(strings.ReplaceAll(d.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := io.WriteString(w, body); err != nil {
		return nil, "", fmt.Errorf("httpd: compose: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("httpd: compose: %w", err)
	}
	return buf.Bytes(), "<" + msgID + ">", nil
}

// threadIndex is a new conversation's Thread-Index ([MS-OXOMSG] 2.2.1.3):
// 6 bytes of the FILETIME's high part and a 16-byte GUID, base64.
func threadIndex(now time.Time) string {
	ft := uint64(now.UnixNano()/100) + 116444736000000000
	var b [22]byte
	binary.BigEndian.PutUint64(b[:8], ft)
	rand.Read(b[6:])
	return base64.StdEncoding.EncodeToString(b[:])
}
