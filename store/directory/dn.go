package directory

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// name is a parsed distinguished name. Comparisons are case-insensitive, as
// in Active Directory: rdns holds each RDN in a case-folded canonical form
// (RFC 4514 section 2), most specific first.
type name struct {
	rdns []string
	// first holds the type and value of the first RDN as written, for the
	// naming attribute of a new entry.
	first []ldap.AttributeTypeAndValue
}

// parseName parses dn (RFC 4514). The empty string is the root (the RootDSE).
func parseName(dn string) (name, error) {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return name{}, err
	}
	n := name{rdns: make([]string, len(d.RDNs))}
	for i, r := range d.RDNs {
		parts := make([]string, len(r.Attributes))
		for j, a := range r.Attributes {
			if !validAttrType(a.Type) {
				return name{}, errInvalidDN(dn)
			}
			parts[j] = strings.ToLower(a.Type) + "=" + escapeDNValue(strings.ToLower(a.Value))
			if i == 0 {
				n.first = append(n.first, *a)
			}
		}
		sort.Strings(parts)
		n.rdns[i] = strings.Join(parts, "+")
	}
	return n, nil
}

// key is the canonical form, used as a map key.
func (n name) key() string { return strings.Join(n.rdns, ",") }

func (n name) isRoot() bool { return len(n.rdns) == 0 }

// parent is the name of the entry's container (the root for a one-RDN name).
func (n name) parent() name { return name{rdns: n.rdns[min(1, len(n.rdns)):]} }

// under reports whether n is base or a descendant of base.
func (n name) under(base name) bool {
	if len(n.rdns) < len(base.rdns) {
		return false
	}
	off := len(n.rdns) - len(base.rdns)
	for i, r := range base.rdns {
		if n.rdns[off+i] != r {
			return false
		}
	}
	return true
}

// NormalizeDN returns the canonical, case-folded form of dn, for callers that
// compare DNs (an ACL's principals and members).
func NormalizeDN(dn string) (string, error) {
	n, err := parseName(dn)
	if err != nil {
		return "", err
	}
	return n.key(), nil
}

// validAttrType reports whether s is an attribute type RFC 4512 section
// 1.4 allows in a DN: a descr (letter, then letters, digits, hyphens) or a
// numericoid.
func validAttrType(s string) bool {
	if s == "" {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		for _, arc := range strings.Split(s, ".") {
			if arc == "" || strings.Trim(arc, "0123456789") != "" || (len(arc) > 1 && arc[0] == '0') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-')) {
			return false
		}
	}
	return true
}

// escapeDNValue escapes an attribute value as RFC 4514 section 2.4 requires.
func escapeDNValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8.ValidString(v)):
			fmt.Fprintf(&b, `\%02x`, c)
		case (c == ' ' || c == '#') && i == 0, c == ' ' && i == len(v)-1:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
