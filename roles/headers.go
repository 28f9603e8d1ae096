package roles

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Organization headers (EXCHANGE.md section 3). Exchange's header firewall
// removes the whole X-MS-Exchange-Organization- family from anonymous
// senders; Exchange servers carry them between hops.
const (
	orgPrefix           = "X-MS-Exchange-Organization-"
	hdrNetworkMessageID = orgPrefix + "Network-Message-Id"
	hdrOriginalArrival  = orgPrefix + "OriginalArrivalTime"
	hdrAuthSource       = orgPrefix + "AuthSource"
	hdrAuthAs           = orgPrefix + "AuthAs"
	hdrAuthMechanism    = orgPrefix + "AuthMechanism"
	hdrOrigClientIP     = orgPrefix + "OriginalClientIPAddress"
	hdrOrigServerIP     = orgPrefix + "OriginalServerIPAddress"
	hdrMessageLatency   = orgPrefix + "MessageLatency"
)

// message is a received message split into its header section and body.
// The header keeps its raw bytes (CRLF line ends, folding) so every hop
// passes on exactly what it got plus what it adds.
type message struct {
	header []byte // header fields, each line CRLF-terminated, no blank line
	body   []byte // after the blank line
}

// splitMessage separates header and body. Bare LF line ends in the header
// become CRLF. A message with no blank line is all header.
func splitMessage(data []byte) message {
	var m message
	var hdr bytes.Buffer
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
			m.body = rest
			m.header = hdr.Bytes()
			return m
		}
		if hdr.Len() == 0 && (!isHeaderLine(line) || line[0] == ' ' || line[0] == '\t') {
			// Not a header at all: treat everything as body.
			m.body = data
			return m
		}
		if !isHeaderLine(line) {
			// A line that is neither a field nor a continuation ends the
			// header section (RFC 5322 section 2.1 says it must not occur);
			// keep it as the start of the body.
			m.header = hdr.Bytes()
			m.body = append(append(append([]byte(nil), line...), '\r', '\n'), rest...)
			return m
		}
		hdr.Write(line)
		hdr.WriteString("\r\n")
	}
	m.header = hdr.Bytes()
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

// field is one header field: its name and its raw lines.
type field struct {
	name string
	raw  []byte
}

// fields splits the header section into fields.
func (m message) fields() []field {
	var out []field
	rest := m.header
	for len(rest) > 0 {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 {
			i = len(rest) - 2
		}
		line := rest[:i+2]
		rest = rest[i+2:]
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].raw = append(out[len(out)-1].raw, line...)
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		out = append(out, field{name: string(name), raw: append([]byte(nil), line...)})
	}
	return out
}

// get returns the first value of a field, unfolded and trimmed.
func (m message) get(name string) string {
	for _, f := range m.fields() {
		if strings.EqualFold(f.name, name) {
			_, v, _ := bytes.Cut(f.raw, []byte(":"))
			return strings.TrimSpace(unfold(string(v)))
		}
	}
	return ""
}

// count returns how many fields have the name.
func (m message) count(name string) int {
	n := 0
	for _, f := range m.fields() {
		if strings.EqualFold(f.name, name) {
			n++
		}
	}
	return n
}

// without returns m with every field whose name has prefix removed.
func (m message) without(prefix string) message {
	var hdr bytes.Buffer
	for _, f := range m.fields() {
		if len(f.name) >= len(prefix) && strings.EqualFold(f.name[:len(prefix)], prefix) {
			continue
		}
		hdr.Write(f.raw)
	}
	return message{header: hdr.Bytes(), body: m.body}
}

// bytes assembles the message with fields prepended (each "Name: value",
// folded here) and appended to the header section.
func (m message) bytes(prepend, appendFields []string) []byte {
	n := len(m.header) + len(m.body) + 2
	for _, f := range prepend {
		n += len(f) + 8
	}
	for _, f := range appendFields {
		n += len(f) + 8
	}
	out := make([]byte, 0, n)
	for _, f := range prepend {
		out = append(out, fold(f)...)
	}
	out = append(out, m.header...)
	for _, f := range appendFields {
		out = append(out, fold(f)...)
	}
	out = append(out, '\r', '\n')
	return append(out, m.body...)
}

func unfold(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "")
	return strings.ReplaceAll(s, "\n", "")
}

// fold writes a field with CRLF, folding at spaces to keep lines under 78
// columns as Exchange does (RFC 5322 section 2.2.3).
func fold(f string) string {
	if len(f) <= 76 {
		return f + "\r\n"
	}
	var b strings.Builder
	line := 0
	for i, w := range strings.Split(f, " ") {
		if i > 0 {
			if line+1+len(w) > 76 {
				b.WriteString("\r\n ")
				line = 1
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
	return b.String()
}

// receivedHop describes one hop for its Received header.
type receivedHop struct {
	heloName string // the client's EHLO name
	clientIP string
	byFQDN   string
	byIP     string
	tls      string // smtpd.TLSDescription, "" without TLS
	build    string // 15.2.1258.12
	via      string // "Frontend Transport", "Mailbox Transport" or ""
	when     time.Time
}

// received formats Exchange's Received header (EXCHANGE.md section 3).
func received(h receivedHop) string {
	var b strings.Builder
	helo := h.heloName
	if helo == "" {
		helo = "[" + h.clientIP + "]"
	}
	fmt.Fprintf(&b, "Received: from %s (%s) by %s (%s) with Microsoft SMTP Server", helo, h.clientIP, h.byFQDN, h.byIP)
	if h.tls != "" {
		fmt.Fprintf(&b, " (%s)", h.tls)
	}
	fmt.Fprintf(&b, " id %s", h.build)
	if h.via != "" {
		fmt.Fprintf(&b, " via %s", h.via)
	}
	fmt.Fprintf(&b, "; %s", h.when.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	return b.String()
}

// arrivalTime formats OriginalArrivalTime: "29 Mar 2024 22:50:41.9112 (UTC)".
func arrivalTime(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s.%04d (UTC)", t.Format("02 Jan 2006 15:04:05"), t.Nanosecond()/100000)
}

// parseArrivalTime reads an OriginalArrivalTime value.
func parseArrivalTime(s string) (time.Time, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), " (UTC)")
	t, err := time.Parse("02 Jan 2006 15:04:05.0000", s)
	if err != nil {
		t, err = time.Parse("2 Jan 2006 15:04:05.0000", s)
	}
	return t, err == nil
}

// messageLatency formats X-MS-Exchange-Organization-MessageLatency.
func messageLatency(server string, d time.Duration) string {
	return fmt.Sprintf("SRV=%s:TOTAL=%.3f", server, max(d, 0).Seconds())
}
