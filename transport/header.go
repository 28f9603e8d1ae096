package transport

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Organization headers (EXCHANGE.md section 3). Exchange servers carry
// them between hops; the header firewall (firewall.go) removes them where
// a connector lacks the permission to keep them.
const (
	OrgPrefix              = "X-MS-Exchange-Organization-"
	HeaderNetworkMessageID = OrgPrefix + "Network-Message-Id"
	HeaderOriginalArrival  = OrgPrefix + "OriginalArrivalTime"
	HeaderAuthSource       = OrgPrefix + "AuthSource"
	HeaderAuthAs           = OrgPrefix + "AuthAs"
	HeaderAuthMechanism    = OrgPrefix + "AuthMechanism"
	HeaderOrigClientIP     = OrgPrefix + "OriginalClientIPAddress"
	HeaderOrigServerIP     = OrgPrefix + "OriginalServerIPAddress"
	HeaderMessageLatency   = OrgPrefix + "MessageLatency"
)

// RawMessage is a received message split into its header section and body.
// The header keeps its raw bytes (CRLF line ends, folding) so every hop
// passes on exactly what it got plus what it adds. Body is a slice of the
// bytes that were split, never a copy.
type RawMessage struct {
	Header []byte // header fields, each line CRLF-terminated, no blank line
	Body   []byte // after the blank line
}

// SplitMessage separates header and body without modifying data. Bare LF
// line ends in the header become CRLF (in a copy of the header). A message
// with no blank line is all header.
func SplitMessage(data []byte) RawMessage {
	var m RawMessage
	var hdr []byte
	rest := data
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			m.Body = rest
			m.Header = hdr
			return m
		}
		if len(hdr) == 0 && (!isHeaderLine(line) || line[0] == ' ' || line[0] == '\t') {
			// Not a header at all: treat everything as body.
			m.Body = data
			return m
		}
		if !isHeaderLine(line) {
			// A line that is neither a field nor a continuation ends the
			// header section (RFC 5322 section 2.1 says it must not occur);
			// keep it as the start of the body.
			m.Header = hdr
			m.Body = append(append(append([]byte(nil), line...), '\r', '\n'), rest...)
			return m
		}
		if hdr == nil {
			hdr = make([]byte, 0, min(len(data), 2048))
		}
		hdr = append(append(hdr, line...), '\r', '\n')
	}
	m.Header = hdr
	return m
}

// isHeaderLine reports whether line is a field ("Name: value") or a
// folded continuation (starts with WSP).
func isHeaderLine(line []byte) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return true
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	for _, c := range line[:i] {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// HeaderField is one header field: its name and its raw lines.
type HeaderField struct {
	Name string
	Raw  []byte // every line of the field, CRLF-terminated; a slice of the header
}

// eachField calls f for every field of the header section, in order, until
// it returns false. Raw slices the header; nothing is copied.
func (m RawMessage) eachField(f func(name, raw []byte) bool) {
	rest := m.Header
	for len(rest) > 0 {
		end := 0
		for {
			i := bytes.Index(rest[end:], []byte("\r\n"))
			if i < 0 {
				end = len(rest)
				break
			}
			end += i + 2
			if end >= len(rest) || rest[end] != ' ' && rest[end] != '\t' {
				break
			}
		}
		raw := rest[:end]
		rest = rest[end:]
		name, _, _ := bytes.Cut(raw, []byte(":"))
		if !f(name, raw) {
			return
		}
	}
}

// Fields splits the header section into fields.
func (m RawMessage) Fields() []HeaderField {
	var out []HeaderField
	m.eachField(func(name, raw []byte) bool {
		out = append(out, HeaderField{Name: string(name), Raw: raw})
		return true
	})
	return out
}

// Get returns the first value of a field, unfolded and trimmed.
func (m RawMessage) Get(name string) string {
	var v string
	m.eachField(func(n, raw []byte) bool {
		if !equalFold(n, name) {
			return true
		}
		_, val, _ := bytes.Cut(raw, []byte(":"))
		v = strings.TrimSpace(unfold(string(val)))
		return false
	})
	return v
}

// Count returns how many fields have the name.
func (m RawMessage) Count(name string) int {
	n := 0
	m.eachField(func(f, _ []byte) bool {
		if equalFold(f, name) {
			n++
		}
		return true
	})
	return n
}

// Without returns m with every field whose name has prefix removed.
func (m RawMessage) Without(prefix string) RawMessage {
	hdr := make([]byte, 0, len(m.Header))
	m.eachField(func(name, raw []byte) bool {
		if !hasPrefixFold(name, prefix) {
			hdr = append(hdr, raw...)
		}
		return true
	})
	return RawMessage{Header: hdr, Body: m.Body}
}

// Bytes assembles the message with fields prepended (each "Name: value",
// folded here) and appended to the header section, in a new buffer.
func (m RawMessage) Bytes(prepend, appendFields []string) []byte {
	return m.header(make([]byte, 0, m.size(prepend, appendFields)+len(m.Body)), prepend, appendFields, true)
}

// size bounds the assembled header section (with its blank line).
func (m RawMessage) size(prepend, appendFields []string) int {
	n := len(m.Header) + 2
	for _, f := range prepend {
		n += len(f) + 8 + len(f)/38 // folding adds up to 3 bytes per 76 columns
	}
	for _, f := range appendFields {
		n += len(f) + 8 + len(f)/38
	}
	return n
}

// header appends the assembled header section and blank line to out, and
// the body when withBody.
func (m RawMessage) header(out []byte, prepend, appendFields []string, withBody bool) []byte {
	for _, f := range prepend {
		out = appendFolded(out, f)
	}
	out = append(out, m.Header...)
	for _, f := range appendFields {
		out = appendFolded(out, f)
	}
	out = append(out, '\r', '\n')
	if withBody {
		out = append(out, m.Body...)
	}
	return out
}

// BytesInPlace is Bytes for a body that sits at the end of buf (as
// ReadMessage leaves it, with headroom before it): the new header section
// is written just before the body, so the body is not copied. It falls
// back to Bytes when the headroom is too small or Body is not buf's tail.
func (m RawMessage) BytesInPlace(buf []byte, prepend, appendFields []string) []byte {
	start := len(buf) - len(m.Body)
	if start < 0 || len(m.Body) > 0 && &buf[start] != &m.Body[0] || len(m.Body) == 0 && start != len(buf) {
		return m.Bytes(prepend, appendFields)
	}
	// The header section goes into a scratch buffer first: the old header
	// may sit in the very bytes it is about to overwrite.
	var scratch [4096]byte
	hdr := m.header(scratch[:0], prepend, appendFields, false)
	if len(hdr) > start {
		return m.Bytes(prepend, appendFields)
	}
	copy(buf[start-len(hdr):], hdr)
	return buf[start-len(hdr):]
}

func unfold(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "")
	return strings.ReplaceAll(s, "\n", "")
}

// Fold returns a field with CRLF, folded at spaces to keep lines under 78
// columns as Exchange does (RFC 5322 section 2.2.3).
func Fold(f string) string { return string(appendFolded(nil, f)) }

func appendFolded(b []byte, f string) []byte {
	if len(f) <= 76 {
		return append(append(b, f...), '\r', '\n')
	}
	line := 0
	for i, more := 0, true; more; i++ {
		var w string
		w, f, more = strings.Cut(f, " ")
		if i > 0 {
			if line+1+len(w) > 76 {
				b = append(b, "\r\n "...)
				line = 1
			} else {
				b = append(b, ' ')
				line++
			}
		}
		b = append(b, w...)
		line += len(w)
	}
	return append(b, '\r', '\n')
}

// ReceivedHop describes one hop for its Received header.
type ReceivedHop struct {
	HeloName string // the client's EHLO name
	ClientIP string
	ByFQDN   string
	ByIP     string
	TLS      string // smtpd.TLSDescription, "" without TLS
	Build    string // 15.2.1258.12
	Via      string // "Frontend Transport", "Mailbox Transport" or ""
	When     time.Time
}

// String formats Exchange's Received header (EXCHANGE.md section 3).
func (h ReceivedHop) String() string {
	var b strings.Builder
	helo := h.HeloName
	if helo == "" {
		helo = "[" + h.ClientIP + "]"
	}
	fmt.Fprintf(&b, "Received: from %s (%s) by %s (%s) with Microsoft SMTP Server", helo, h.ClientIP, h.ByFQDN, h.ByIP)
	if h.TLS != "" {
		fmt.Fprintf(&b, " (%s)", h.TLS)
	}
	fmt.Fprintf(&b, " id %s", h.Build)
	if h.Via != "" {
		fmt.Fprintf(&b, " via %s", h.Via)
	}
	fmt.Fprintf(&b, "; %s", h.When.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	return b.String()
}

// ArrivalTime formats OriginalArrivalTime: "29 Mar 2024 22:50:41.9112 (UTC)".
func ArrivalTime(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s.%04d (UTC)", t.Format("02 Jan 2006 15:04:05"), t.Nanosecond()/100000)
}

// ParseArrivalTime reads an OriginalArrivalTime value.
func ParseArrivalTime(s string) (time.Time, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), " (UTC)")
	t, err := time.Parse("02 Jan 2006 15:04:05.0000", s)
	if err != nil {
		t, err = time.Parse("2 Jan 2006 15:04:05.0000", s)
	}
	return t, err == nil
}

// MessageLatency formats X-MS-Exchange-Organization-MessageLatency.
func MessageLatency(server string, d time.Duration) string {
	return fmt.Sprintf("SRV=%s:TOTAL=%.3f", server, max(d, 0).Seconds())
}

// NewNetworkID returns a Network-Message-Id.
func NewNetworkID() string { return uuid.NewString() }

// NewMessageID makes a Message-Id for a message that arrived without one,
// as Exchange does (<guid>@<server fqdn>).
func NewMessageID(fqdn string) string {
	return fmt.Sprintf("<%s@%s>", strings.ToUpper(uuid.NewString()), fqdn)
}
