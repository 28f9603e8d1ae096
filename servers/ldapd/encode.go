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
	return p.Bytes()
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
