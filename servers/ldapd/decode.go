package ldapd

import (
	"errors"
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Decoding of request bodies (RFC 4511 section 4.2 to 4.10). Each decoder
// checks every element it reads, so that a hostile request is an error and
// never a panic or a wrong answer.

var errMalformed = errors.New("ldapd: malformed request")

func malformed(what string) error { return fmt.Errorf("%w: %s", errMalformed, what) }

// octetString returns the content of an OCTET STRING (LDAPDN, LDAPString,
// AttributeDescription, AttributeValue: RFC 4511 section 4.1.2 to 4.1.6).
func octetString(p *ber.Packet, what string) (string, error) {
	if p.ClassType != ber.ClassUniversal || p.TagType != ber.TypePrimitive || p.Tag != ber.TagOctetString {
		return "", malformed(what)
	}
	return p.Data.String(), nil
}

// integer returns the value of an INTEGER or ENUMERATED element.
func integer(p *ber.Packet, tag ber.Tag, what string) (int64, error) {
	v, ok := p.Value.(int64)
	if p.ClassType != ber.ClassUniversal || p.TagType != ber.TypePrimitive || p.Tag != tag || !ok {
		return 0, malformed(what)
	}
	return v, nil
}

// sequence checks that p is a universal SEQUENCE (or SET) with at least n
// elements.
func sequence(p *ber.Packet, tag ber.Tag, n int, what string) error {
	if p.ClassType != ber.ClassUniversal || p.TagType != ber.TypeConstructed || p.Tag != tag || len(p.Children) < n {
		return malformed(what)
	}
	return nil
}

// application checks that the protocolOp is constructed with at least n
// elements.
func application(p *ber.Packet, n int, what string) error {
	if p.TagType != ber.TypeConstructed || len(p.Children) < n {
		return malformed(what)
	}
	return nil
}

// attribute decodes an Attribute or PartialAttribute: a type and a SET of
// values.
func attribute(p *ber.Packet) (name string, values []string, err error) {
	if err := sequence(p, ber.TagSequence, 2, "attribute"); err != nil {
		return "", nil, err
	}
	if name, err = octetString(p.Children[0], "attribute type"); err != nil {
		return "", nil, err
	}
	set := p.Children[1]
	if err := sequence(set, ber.TagSet, 0, "attribute values"); err != nil {
		return "", nil, err
	}
	values = []string{}
	for _, v := range set.Children {
		s, err := octetString(v, "attribute value")
		if err != nil {
			return "", nil, err
		}
		values = append(values, s)
	}
	return name, values, nil
}

// controls decodes the controls of a request (RFC 4511 section 4.1.11); nil
// when it has none.
func (m *message) controls() ([]ldap.Control, error) {
	if len(m.pkt.Children) < 3 {
		return nil, nil
	}
	cs := m.pkt.Children[2]
	if cs.ClassType != ber.ClassContext || cs.Tag != 0 || cs.TagType != ber.TypeConstructed {
		return nil, malformed("controls")
	}
	var out []ldap.Control
	for _, p := range cs.Children {
		if err := sequence(p, ber.TagSequence, 1, "control"); err != nil {
			return nil, err
		}
		c, err := ldap.DecodeControl(p)
		if err != nil {
			return nil, malformed("control: " + err.Error())
		}
		out = append(out, c)
	}
	return out, nil
}
