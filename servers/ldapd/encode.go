package ldapd

import (
	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/exsim/exsim/store/directory"
)

// encodeResult encodes an LDAPResult of the given application tag (RFC 4511
// section 4.1.9).
func encodeResult(id int64, app int, code int, matched, diag string) []byte {
	return envelope(id, result(app, code, matched, diag))
}

func result(app int, code int, matched, diag string) *ber.Packet {
	r := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ber.Tag(app), nil, "")
	r.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(code), ""))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, matched, ""))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, ""))
	return r
}

// envelope wraps a protocolOp in an LDAPMessage (RFC 4511 section 4.1.1),
// with the response controls, if any, as its [0] element.
func envelope(id int64, op *ber.Packet, controls ...*ber.Packet) []byte {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	p.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, c := range controls {
			cs.AppendChild(c)
		}
		p.AppendChild(cs)
	}
	return marshal(p)
}

// encodeNotice encodes a Notice of Disconnection (RFC 4511 section 4.4.1).
func encodeNotice(code int, diag string) []byte {
	r := result(opExtendedResponse, code, "", diag)
	r.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 10, noticeOfDisconnection, ""))
	return envelope(0, r)
}

// encodeEntry encodes a SearchResultEntry (RFC 4511 section 4.5.2) holding
// attrs; an attribute without values is sent with an empty value set, as
// typesOnly asks.
func encodeEntry(id int64, dn string, attrs []directory.Attribute) []byte {
	r := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opSearchEntry, nil, "")
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, a := range attrs {
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.Name, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range a.Values {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
		}
		pa.AppendChild(set)
		list.AppendChild(pa)
	}
	r.AppendChild(list)
	return envelope(id, r)
}

// marshal encodes p as Active Directory does: every constructed element
// (the LDAPMessage, the protocolOp, SEQUENCEs and SETs) with the 4-octet
// long form of its length, 0x84 and a big-endian uint32, even where the
// short form would do; primitive elements with the shortest form. A bind
// response from AD reads 30 84 00 00 00 10 02 01 01 61 84 00 00 00 07 0a 01
// 00 04 00 04 00 (see TestADWireEncoding). Both are valid BER (X.690
// section 8.1.3), which every LDAP client decodes. That AD also writes long
// primitive values with the shortest form is an assumption: no public
// capture shows one.
func marshal(p *ber.Packet) []byte {
	return appendPacket(nil, p)
}

func appendPacket(out []byte, p *ber.Packet) []byte {
	id := byte(p.ClassType) | byte(p.TagType)
	if p.Tag < 0x1f {
		out = append(out, id|byte(p.Tag))
	} else { // high tag number form (X.690 section 8.1.2.4)
		out = append(out, id|0x1f)
		var arcs []byte
		for t := uint64(p.Tag); ; t >>= 7 {
			arcs = append([]byte{byte(t & 0x7f)}, arcs...)
			if t < 0x80 {
				break
			}
		}
		for i := range len(arcs) - 1 {
			arcs[i] |= 0x80
		}
		out = append(out, arcs...)
	}
	if p.TagType == ber.TypeConstructed {
		out = append(out, 0x84, 0, 0, 0, 0)
		at := len(out)
		for _, c := range p.Children {
			out = appendPacket(out, c)
		}
		n := len(out) - at
		out[at-4], out[at-3], out[at-2], out[at-1] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		return out
	}
	var content []byte
	if p.Data != nil {
		content = p.Data.Bytes()
	}
	n := len(content)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n <= 0xff:
		out = append(out, 0x81, byte(n))
	case n <= 0xffff:
		out = append(out, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		out = append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, content...)
}
