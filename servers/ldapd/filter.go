package ldapd

import (
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/store/directory"
)

// Bounds on a filter the server evaluates; deeper or longer filters are
// refused with protocolError (AD refuses them too, with its own limits).
const (
	maxFilterLen   = 64 << 10
	maxFilterDepth = 256
)

// filter is a compiled search filter (RFC 4511 section 4.5.1.7).
type filter struct{ root *ber.Packet }

// compileFilter parses the string form of a filter (RFC 4515).
func compileFilter(s string) (filter, error) {
	if len(s) > maxFilterLen || nesting(s) > maxFilterDepth {
		return filter{}, &directory.Error{Code: directory.ResultProtocolError, Diagnostic: textFilter}
	}
	p, err := ldap.CompileFilter(s)
	if err != nil {
		return filter{}, &directory.Error{Code: directory.ResultProtocolError, Diagnostic: textFilter}
	}
	return filter{root: p}, nil
}

// nesting returns the deepest parenthesis nesting of s.
func nesting(s string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
			deepest = max(deepest, depth)
		case ')':
			depth--
		}
	}
	return deepest
}

// tri is the three-valued result of a filter item (RFC 4511 section
// 4.5.1.7): an entry matches only when the whole filter is True.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUndefined
)

// Matches reports whether e satisfies the filter.
func (f filter) Matches(e *directory.Entry) bool {
	return f.root != nil && eval(f.root, e) == triTrue
}

func eval(p *ber.Packet, e *directory.Entry) tri {
	if p.ClassType != ber.ClassContext {
		return triUndefined
	}
	switch p.Tag {
	case ldap.FilterAnd:
		return junction(p, e, triFalse)
	case ldap.FilterOr:
		return junction(p, e, triTrue)
	case ldap.FilterNot:
		if len(p.Children) != 1 {
			return triUndefined
		}
		switch eval(p.Children[0], e) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triUndefined
	case ldap.FilterPresent:
		attr := p.Data.String()
		if strings.EqualFold(attr, "objectClass") || len(e.Get(attr)) > 0 {
			return triTrue
		}
		return triFalse
	case ldap.FilterEqualityMatch, ldap.FilterApproxMatch:
		return anyValue(p, e, valueEqual)
	case ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
		return anyValue(p, e, func(_, have, want string) bool {
			c := compareValues(have, want)
			return (p.Tag == ldap.FilterGreaterOrEqual && c >= 0) || (p.Tag == ldap.FilterLessOrEqual && c <= 0)
		})
	case ldap.FilterSubstrings:
		return evalSubstrings(p, e)
	}
	// Extensible match and unknown choices: no matching rules here.
	return triUndefined
}

// junction evaluates an and (decisive false) or an or (decisive true) in
// three-valued logic (RFC 4511 section 4.5.1.7): the first child that
// evaluates to decisive decides, else any undefined child makes it
// undefined; an empty and is true, an empty or false.
func junction(p *ber.Packet, e *directory.Entry, decisive tri) tri {
	out := triTrue
	if decisive == triTrue {
		out = triFalse
	}
	for _, c := range p.Children {
		switch eval(c, e) {
		case decisive:
			return decisive
		case triUndefined:
			out = triUndefined
		}
	}
	return out
}

// anyValue evaluates an AttributeValueAssertion: true when match(attr,
// value, asserted) holds for one of e's values of the attribute, undefined
// when the assertion cannot be decoded.
func anyValue(p *ber.Packet, e *directory.Entry, match func(attr, have, want string) bool) tri {
	attr, val, ok := assertion(p)
	if !ok {
		return triUndefined
	}
	for _, v := range e.Get(attr) {
		if match(attr, v, val) {
			return triTrue
		}
	}
	return triFalse
}

// assertion returns the attribute and value of an AttributeValueAssertion.
func assertion(p *ber.Packet) (attr, val string, ok bool) {
	if len(p.Children) != 2 {
		return "", "", false
	}
	return p.Children[0].Data.String(), p.Children[1].Data.String(), true
}

// dnValued are attributes whose values are DNs: equality compares them as
// names, not strings.
var dnValued = []string{"distinguishedName", "member", "memberOf", "objectCategory"}

func valueEqual(attr, have, want string) bool {
	if strings.EqualFold(have, want) {
		return true
	}
	for _, a := range dnValued {
		if strings.EqualFold(a, attr) {
			h, err1 := directory.NormalizeDN(have)
			w, err2 := directory.NormalizeDN(want)
			return err1 == nil && err2 == nil && h == w
		}
	}
	return false
}

// compareValues orders integers numerically and everything else
// case-insensitively.
func compareValues(a, b string) int {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if err1 == nil && err2 == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func evalSubstrings(p *ber.Packet, e *directory.Entry) tri {
	if len(p.Children) != 2 {
		return triUndefined
	}
	attr := p.Children[0].Data.String()
	var initial, final string
	var middle []string
	for _, c := range p.Children[1].Children {
		s := strings.ToLower(c.Data.String())
		switch c.Tag {
		case ldap.FilterSubstringsInitial:
			initial = s
		case ldap.FilterSubstringsAny:
			middle = append(middle, s)
		case ldap.FilterSubstringsFinal:
			final = s
		default:
			return triUndefined
		}
	}
	for _, v := range e.Get(attr) {
		if substringMatch(strings.ToLower(v), initial, middle, final) {
			return triTrue
		}
	}
	return triFalse
}

func substringMatch(v, initial string, middle []string, final string) bool {
	if !strings.HasPrefix(v, initial) {
		return false
	}
	v = v[len(initial):]
	for _, a := range middle {
		i := strings.Index(v, a)
		if i < 0 {
			return false
		}
		v = v[i+len(a):]
	}
	return strings.HasSuffix(v, final)
}
