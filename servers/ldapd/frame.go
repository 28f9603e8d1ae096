package ldapd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// Application tags of the protocolOp of an LDAPMessage (RFC 4511 section
// 4.2 to 4.14).
const (
	opBindRequest      = 0
	opBindResponse     = 1
	opUnbindRequest    = 2
	opSearchRequest    = 3
	opSearchEntry      = 4
	opSearchDone       = 5
	opModifyRequest    = 6
	opModifyResponse   = 7
	opAddRequest       = 8
	opAddResponse      = 9
	opDelRequest       = 10
	opDelResponse      = 11
	opModDNRequest     = 12
	opCompareRequest   = 14
	opAbandonRequest   = 16
	opSearchReference  = 19
	opExtendedRequest  = 23
	opExtendedResponse = 24
	opIntermediate     = 25
)

// noticeOfDisconnection is the responseName of the unsolicited notification
// a server sends before it closes a connection (RFC 4511 section 4.4.1).
const noticeOfDisconnection = "1.3.6.1.4.1.1466.20036"

var (
	errNotLDAP  = errors.New("ldapd: not an LDAPMessage")
	errTooLarge = errors.New("ldapd: message exceeds the size limit")
)

// readMessage reads one LDAPMessage: a universal SEQUENCE with a definite
// length (RFC 4511 section 5.1) of at most limit content octets. The buffer
// grows as octets arrive, so a header announcing a large message costs
// nothing until the octets come. A clean end of stream before the first
// octet is io.EOF.
func readMessage(r *bufio.Reader, limit int) ([]byte, error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if tag != 0x30 {
		return nil, errNotLDAP
	}
	hdr := []byte{tag}
	lb, err := r.ReadByte()
	if err != nil {
		return nil, unexpected(err)
	}
	hdr = append(hdr, lb)
	var length int
	switch {
	case lb < 0x80:
		length = int(lb)
	case lb == 0x80, lb&0x7f > 4: // indefinite length is not allowed in LDAP
		return nil, errNotLDAP
	default:
		for range int(lb & 0x7f) {
			b, err := r.ReadByte()
			if err != nil {
				return nil, unexpected(err)
			}
			hdr = append(hdr, b)
			length = length<<8 | int(b)
		}
	}
	if length > limit {
		return nil, errTooLarge
	}
	var buf bytes.Buffer
	buf.Write(hdr)
	if _, err := io.CopyN(&buf, r, int64(length)); err != nil {
		return nil, unexpected(err)
	}
	return buf.Bytes(), nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// message is a decoded request.
type message struct {
	raw []byte
	id  int64
	op  int
	pkt *ber.Packet // the whole LDAPMessage
}

// parseMessage decodes and checks the envelope of a request (RFC 4511 section
// 4.1.1): messageID 1..maxInt and an application-class protocolOp.
func parseMessage(raw []byte) (m *message, err error) {
	defer func() {
		if r := recover(); r != nil { // asn1-ber on hostile input: refuse, never crash
			m, err = nil, fmt.Errorf("ldapd: decode: %v", r)
		}
	}()
	p, err := ber.DecodePacketErr(raw)
	if err != nil {
		return nil, err
	}
	if p.ClassType != ber.ClassUniversal || p.TagType != ber.TypeConstructed || p.Tag != ber.TagSequence || len(p.Children) < 2 {
		return nil, errNotLDAP
	}
	idp, op := p.Children[0], p.Children[1]
	id, ok := idp.Value.(int64)
	if idp.ClassType != ber.ClassUniversal || idp.Tag != ber.TagInteger || !ok || id < 1 || id > 1<<31-1 {
		return nil, errNotLDAP
	}
	if op.ClassType != ber.ClassApplication {
		return nil, errNotLDAP
	}
	return &message{raw: raw, id: id, op: int(op.Tag), pkt: p}, nil
}

// request returns the protocolOp element.
func (m *message) request() *ber.Packet { return m.pkt.Children[1] }

// peekResponse returns the messageID and protocolOp tag of an encoded
// LDAPMessage without decoding the rest.
func peekResponse(raw []byte) (id int64, op int, err error) {
	bad := errors.New("ldapd: malformed response")
	if len(raw) < 2 || raw[0] != 0x30 {
		return 0, 0, bad
	}
	_, i, ok := berLength(raw, 1)
	if !ok || i >= len(raw) || raw[i] != 0x02 {
		return 0, 0, bad
	}
	n, j, ok := berLength(raw, i+1)
	if !ok || n < 1 || n > 8 || j+n >= len(raw) {
		return 0, 0, bad
	}
	for _, b := range raw[j : j+n] {
		id = id<<8 | int64(b)
	}
	tag := raw[j+n]
	if tag&0xc0 != 0x40 || tag&0x1f == 0x1f {
		return 0, 0, bad
	}
	return id, int(tag & 0x1f), nil
}

// berLength decodes the definite length at raw[i]; next is the first content
// octet.
func berLength(raw []byte, i int) (length, next int, ok bool) {
	if i >= len(raw) {
		return 0, 0, false
	}
	b := raw[i]
	if b < 0x80 {
		return int(b), i + 1, true
	}
	n := int(b & 0x7f)
	if n == 0 || n > 4 || i+1+n > len(raw) {
		return 0, 0, false
	}
	for _, c := range raw[i+1 : i+1+n] {
		length = length<<8 | int(c)
	}
	return length, i + 1 + n, true
}

// finalResponse reports whether a response ends its request: everything but
// search entries, references and intermediate responses does.
func finalResponse(op int) bool {
	return op != opSearchEntry && op != opSearchReference && op != opIntermediate
}

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

func envelope(id int64, op *ber.Packet) []byte {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	p.AppendChild(op)
	return p.Bytes()
}

// encodeNotice encodes a Notice of Disconnection (RFC 4511 section 4.4.1).
func encodeNotice(code int, diag string) []byte {
	r := result(opExtendedResponse, code, "", diag)
	r.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 10, noticeOfDisconnection, ""))
	return envelope(0, r)
}

// encodeSimpleBind encodes a version 3 simple BindRequest.
func encodeSimpleBind(id int64, dn, password string) []byte {
	r := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opBindRequest, nil, "")
	r.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	r.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, ""))
	return envelope(id, r)
}
