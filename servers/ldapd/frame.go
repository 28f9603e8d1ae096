package ldapd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/exsim/exsim/internal/membudget"
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
	opModDNResponse    = 13
	opCompareRequest   = 14
	opCompareResponse  = 15
	opAbandonRequest   = 16
	opExtendedRequest  = 23
	opExtendedResponse = 24
)

// noticeOfDisconnection is the responseName of the unsolicited notification
// a server sends before it closes a connection (RFC 4511 section 4.4.1).
const noticeOfDisconnection = "1.3.6.1.4.1.1466.20036"

var (
	errNotLDAP  = errors.New("ldapd: not an LDAPMessage")
	errTooLarge = errors.New("ldapd: message exceeds the size limit")
	errNoMemory = errors.New("ldapd: the process-wide in-flight budget cannot hold the message")
)

// budgetFloor is the size from which a request draws from the
// process-wide in-flight budget (membudget.Memory) before its octets are
// read: smaller ones cost no more than the connection itself.
const budgetFloor = 64 << 10

// readMessage reads one LDAPMessage: a universal SEQUENCE with a definite
// length (RFC 4511 section 5.1) of at most limit content octets. The buffer
// grows as octets arrive, so a header announcing a large message costs
// nothing until the octets come. A message of budgetFloor octets or more
// draws its size from membudget.Memory first (held is what the caller
// releases once the request is answered); errNoMemory when it cannot. A
// clean end of stream before the first octet is io.EOF.
func readMessage(r *bufio.Reader, limit int) (raw []byte, held int64, err error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, 0, err
	}
	if tag != 0x30 {
		return nil, 0, errNotLDAP
	}
	hdr := []byte{tag}
	lb, err := r.ReadByte()
	if err != nil {
		return nil, 0, unexpected(err)
	}
	hdr = append(hdr, lb)
	var length int
	switch {
	case lb < 0x80:
		length = int(lb)
	case lb == 0x80, lb&0x7f > 4: // indefinite length is not allowed in LDAP
		return nil, 0, errNotLDAP
	default:
		for range int(lb & 0x7f) {
			b, err := r.ReadByte()
			if err != nil {
				return nil, 0, unexpected(err)
			}
			hdr = append(hdr, b)
			length = length<<8 | int(b)
		}
	}
	if length > limit {
		return nil, 0, errTooLarge
	}
	if length >= budgetFloor {
		if !membudget.Memory.TryAcquire(int64(length)) {
			return nil, 0, errNoMemory
		}
		held = int64(length)
	}
	var buf bytes.Buffer
	buf.Write(hdr)
	if _, err := io.CopyN(&buf, r, int64(length)); err != nil {
		membudget.Memory.Release(held)
		return nil, 0, unexpected(err)
	}
	return buf.Bytes(), held, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// message is a decoded request.
type message struct {
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
	if err := checkNesting(raw, maxNesting); err != nil {
		return nil, err
	}
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
	return &message{id: id, op: int(op.Tag), pkt: p}, nil
}

// maxNesting bounds how deeply the elements of a request may nest. The
// deepest request LDAP needs is a search with a filter of maxFilterDepth
// levels; asn1-ber decodes recursively, so a deeper message is refused
// before it is decoded rather than costing stack in proportion to its size.
const maxNesting = maxFilterDepth + 16

// checkNesting walks the TLVs of raw without recursion and refuses
// constructed elements nested deeper than limit, indefinite lengths and
// lengths that overrun their container (X.690 section 8.1).
func checkNesting(raw []byte, limit int) error {
	ends := []int{len(raw)} // end offsets of the open constructed elements
	for i := 0; i < len(raw); {
		for len(ends) > 1 && i >= ends[len(ends)-1] {
			ends = ends[:len(ends)-1]
		}
		constructed := raw[i]&0x20 != 0
		if raw[i]&0x1f == 0x1f { // high tag number form
			for i++; i < len(raw) && raw[i]&0x80 != 0; i++ {
			}
		}
		i++
		if i >= len(raw) {
			return errNotLDAP
		}
		n, lb := 0, int(raw[i])
		i++
		switch {
		case lb < 0x80:
			n = lb
		case lb == 0x80 || lb&0x7f > 4:
			return errNotLDAP
		default:
			for range lb & 0x7f {
				if i >= len(raw) {
					return errNotLDAP
				}
				n = n<<8 | int(raw[i])
				i++
			}
		}
		if n > ends[len(ends)-1]-i {
			return errNotLDAP
		}
		if constructed {
			if len(ends) > limit {
				return errNotLDAP
			}
			ends = append(ends, i+n)
			continue
		}
		i += n
	}
	return nil
}

// request returns the protocolOp element.
func (m *message) request() *ber.Packet { return m.pkt.Children[1] }
