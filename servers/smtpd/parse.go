package smtpd

import (
	"bytes"
	"net/netip"
	"strconv"
	"unicode/utf8"
)

// Parsers for command arguments. They work on the bytes of the line buffer
// and allocate only the strings handed to the Backend.

const (
	maxLocalPart = 64  // RFC 5321 4.5.3.1.1
	maxDomain    = 255 // RFC 5321 4.5.3.1.2
	maxPath      = 256 // RFC 5321 4.5.3.1.3
	maxEnvID     = 100 // RFC 3461 section 4.4
)

// splitCommand splits a command line into its verb, upper-cased into buf, and
// the argument after the first space with surrounding spaces removed.
func splitCommand(line []byte, buf *[16]byte) (verb []byte, arg []byte) {
	i := bytes.IndexByte(line, ' ')
	v := line
	if i >= 0 {
		v, arg = line[:i], trimSpace(line[i+1:])
	}
	if len(v) > len(buf) {
		return nil, arg
	}
	for j, ch := range v {
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		buf[j] = ch
	}
	return buf[:len(v)], arg
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// hasPrefixFold reports whether b starts with the upper-case ASCII prefix,
// ignoring case.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		ch := b[i]
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		if ch != prefix[i] {
			return false
		}
	}
	return true
}

// splitPath takes "FROM:<path> params" (prefix "FROM:") apart. Exchange
// accepts a space after the colon and a path without angle brackets; so does
// exsim. The path is returned without brackets; ok is false when the
// argument has no path at all or the brackets do not close.
func splitPath(arg []byte, prefix string) (path, params []byte, ok bool) {
	if !hasPrefixFold(arg, prefix) {
		return nil, nil, false
	}
	arg = trimSpace(arg[len(prefix):])
	if len(arg) == 0 {
		return nil, nil, false
	}
	if arg[0] != '<' {
		i := bytes.IndexByte(arg, ' ')
		if i < 0 {
			return arg, nil, true
		}
		return arg[:i], trimSpace(arg[i+1:]), true
	}
	// Find the closing '>' outside a quoted string (RFC 5321 4.1.2).
	inQuote := false
	for i := 1; i < len(arg); i++ {
		switch ch := arg[i]; {
		case inQuote && ch == '\\':
			i++
		case ch == '"':
			inQuote = !inQuote
		case !inQuote && ch == '>':
			rest := arg[i+1:]
			if len(rest) > 0 && rest[0] != ' ' {
				return nil, nil, false
			}
			return arg[1:i], trimSpace(rest), true
		}
	}
	return nil, nil, false
}

// stripSourceRoute removes an RFC 5321 A-d-l ("@a,@b:"), which receivers
// must accept and ignore (RFC 5321 section 4.1.2, appendix C).
func stripSourceRoute(path []byte, utf8ok bool) ([]byte, bool) {
	if len(path) == 0 || path[0] != '@' {
		return path, true
	}
	i := bytes.IndexByte(path, ':')
	if i < 0 {
		return nil, false
	}
	for _, hop := range bytes.Split(path[:i], []byte{','}) {
		if len(hop) < 2 || hop[0] != '@' || !validDomain(hop[1:], utf8ok) {
			return nil, false
		}
	}
	return path[i+1:], true
}

// validMailbox checks RFC 5321 Mailbox syntax; utf8ok admits the UTF-8 local
// parts and U-label domains of RFC 6531 section 3.3.
func validMailbox(b []byte, utf8ok bool) bool {
	if len(b) == 0 || len(b) > maxPath-2 {
		return false
	}
	if !utf8ok && !isASCII(b) || utf8ok && !utf8.Valid(b) {
		return false
	}
	at := bytes.LastIndexByte(b, '@')
	if at <= 0 {
		return false
	}
	local, domain := b[:at], b[at+1:]
	if !validLocalPart(local, utf8ok) {
		return false
	}
	if len(domain) > 0 && domain[0] == '[' {
		return validAddressLiteral(domain)
	}
	return validDomain(domain, utf8ok)
}

func validLocalPart(b []byte, utf8ok bool) bool {
	if len(b) == 0 || len(b) > maxLocalPart && !utf8ok {
		return false
	}
	if b[0] == '"' {
		// Quoted-string = DQUOTE *QcontentSMTP DQUOTE
		if len(b) < 2 || b[len(b)-1] != '"' {
			return false
		}
		for i := 1; i < len(b)-1; i++ {
			ch := b[i]
			switch {
			case ch == '\\':
				i++
				if i >= len(b)-1 || b[i] < 32 || b[i] > 126 {
					return false
				}
			case ch == '"':
				return false
			case ch >= 32 && ch <= 126, ch >= 0x80 && utf8ok:
			default:
				return false
			}
		}
		return true
	}
	// Dot-string = Atom *("." Atom)
	prevDot := true
	for _, ch := range b {
		if ch == '.' {
			if prevDot {
				return false
			}
			prevDot = true
			continue
		}
		if !isAtext(ch) && !(ch >= 0x80 && utf8ok) {
			return false
		}
		prevDot = false
	}
	return !prevDot
}

func isAtext(ch byte) bool {
	switch {
	case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		return true
	}
	switch ch {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '/', '=', '?', '^', '_', '`', '{', '|', '}', '~':
		return true
	}
	return false
}

// validDomain checks Domain = sub-domain *("." sub-domain) with
// sub-domain = Let-dig [Ldh-str] (RFC 5321 4.1.2); utf8ok lets non-ASCII
// bytes count as letters (U-labels, RFC 6531 section 3.3).
func validDomain(b []byte, utf8ok bool) bool {
	if len(b) == 0 || len(b) > maxDomain {
		return false
	}
	start := 0
	for i := 0; i <= len(b); i++ {
		if i < len(b) && b[i] != '.' {
			ch := b[i]
			letDig := 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch >= 0x80 && utf8ok
			if !letDig && ch != '-' {
				return false
			}
			continue
		}
		label := b[start:i]
		if len(label) == 0 || len(label) > 63 && !utf8ok || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// validAddressLiteral checks "[" (IPv4 / "IPv6:" IPv6 / tag ":" dcontent) "]"
// (RFC 5321 4.1.3).
func validAddressLiteral(b []byte) bool {
	if len(b) < 3 || b[0] != '[' || b[len(b)-1] != ']' {
		return false
	}
	in := b[1 : len(b)-1]
	if hasPrefixFold(in, "IPV6:") {
		a, err := netip.ParseAddr(string(in[5:]))
		return err == nil && a.Is6() && a.Zone() == ""
	}
	if i := bytes.IndexByte(in, ':'); i >= 0 {
		// General-address-literal = Standardized-tag ":" 1*dcontent
		tag, content := in[:i], in[i+1:]
		if len(tag) == 0 || len(content) == 0 || !validLdhStr(tag) {
			return false
		}
		for _, ch := range content {
			if ch < 33 || ch > 126 || ch == '[' || ch == '\\' || ch == ']' {
				return false
			}
		}
		return true
	}
	a, err := netip.ParseAddr(string(in))
	return err == nil && a.Is4()
}

func validLdhStr(b []byte) bool {
	for _, ch := range b {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-') {
			return false
		}
	}
	return len(b) > 0 && b[len(b)-1] != '-'
}

// validHelloArg checks the EHLO/HELO argument: Domain / address-literal
// (RFC 5321 4.1.1.1).
func validHelloArg(b []byte) bool {
	if len(b) > 0 && b[0] == '[' {
		return validAddressLiteral(b)
	}
	return validDomain(b, false)
}

func isASCII(b []byte) bool {
	for _, ch := range b {
		if ch >= 0x80 {
			return false
		}
	}
	return true
}

// Param is one ESMTP parameter as the client sent it; Key is upper-cased.
type Param struct {
	Key, Value string
	HasValue   bool
}

// parseParams splits esmtp-param *(SP esmtp-param) (RFC 5321 4.1.2).
// Values may carry UTF-8 (RFC 6531 section 3.3) but no controls or "=".
func parseParams(b []byte) ([]Param, bool) {
	if len(b) == 0 {
		return nil, true
	}
	n := 1 + bytes.Count(b, []byte{' '})
	params := make([]Param, 0, n)
	for len(b) > 0 {
		var tok []byte
		if i := bytes.IndexByte(b, ' '); i >= 0 {
			tok, b = b[:i], trimSpace(b[i+1:])
		} else {
			tok, b = b, nil
		}
		key, val, hasVal := bytes.Cut(tok, []byte{'='})
		if len(key) == 0 || !validKeyword(key) || hasVal && len(val) == 0 {
			return nil, false
		}
		for _, ch := range val {
			if ch < 33 || ch == 127 || ch == '=' {
				return nil, false
			}
		}
		if !utf8.Valid(val) {
			return nil, false
		}
		p := Param{Key: upperASCII(key), Value: string(val), HasValue: hasVal}
		for _, q := range params {
			if q.Key == p.Key {
				return nil, false // a parameter given twice
			}
		}
		params = append(params, p)
	}
	return params, true
}

func validKeyword(b []byte) bool {
	for i, ch := range b {
		alnum := 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9'
		if !alnum && (i == 0 || ch != '-') {
			return false
		}
	}
	return true
}

func upperASCII(b []byte) string {
	for _, ch := range b {
		if 'a' <= ch && ch <= 'z' {
			u := make([]byte, len(b))
			for i, ch := range b {
				if 'a' <= ch && ch <= 'z' {
					ch -= 'a' - 'A'
				}
				u[i] = ch
			}
			return string(u)
		}
	}
	return string(b)
}

// decodeXtext decodes RFC 3461 section 4 xtext: printable ASCII except "+"
// and "=", with "+XX" hex escapes.
func decodeXtext(s string) (string, bool) {
	var out []byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '+':
			if i+2 >= len(s) {
				return "", false
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", false
			}
			if out == nil {
				out = append(make([]byte, 0, len(s)), s[:i]...)
			}
			out = append(out, byte(v))
			i += 2
		case ch < 33 || ch > 126 || ch == '=':
			return "", false
		default:
			if out != nil {
				out = append(out, ch)
			}
		}
	}
	if out == nil {
		return s, true
	}
	return string(out), true
}

// parseSize parses a SIZE value: 1*20DIGIT (RFC 1870 section 3).
func parseSize(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// parseBDAT parses "chunk-size [SP end-marker]" (RFC 3030 section 2).
func parseBDAT(arg []byte) (size int64, last bool, ok bool) {
	num, rest, _ := bytes.Cut(arg, []byte{' '})
	rest = trimSpace(rest)
	switch {
	case len(rest) == 0:
	case len(rest) == 4 && hasPrefixFold(rest, "LAST"):
		last = true
	default:
		return 0, false, false
	}
	size, ok = parseSize(string(num))
	return size, last, ok
}
