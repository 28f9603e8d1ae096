package rpchclient

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/dcerpc"
)

// DCE/RPC constants of the client (C706 section 12.6, MS-RPCE 2.2.1.1.7
// and 2.2.1.1.8).
const (
	pfcFirstLast = 0x03
	authnWinNT   = 10 // RPC_C_AUTHN_WINNT: NTLM
	levelConnect = 2  // RPC_C_AUTHN_LEVEL_CONNECT
	authCtxID    = 1
)

// ndr20 is the NDR 2.0 transfer syntax and its version.
var ndr20 = [20]byte{0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60, 2, 0, 0, 0}

// BindError is a bind the server refused.
type BindError struct {
	Result, Reason uint16 // the presentation result (C706 section 12.6.3.1), or 0 and the reject reason of bind_nak
	Nak            bool
}

func (e *BindError) Error() string {
	if e.Nak {
		return fmt.Sprintf("rpchclient: bind_nak, reason %d", e.Reason)
	}
	reason := map[uint16]string{1: "abstract syntax not supported", 2: "transfer syntax not supported"}[e.Reason]
	return fmt.Sprintf("rpchclient: bind refused: result %d, reason %d (%s)", e.Result, e.Reason, reason)
}

// Bind binds interface uuid (its wire form, dcerpc.UUIDBytes) version
// major.minor as presentation context 0, authenticating with NTLM at the
// connect level: bind with the NEGOTIATE, bind_ack with the CHALLENGE,
// AUTH3 with the AUTHENTICATE (MS-RPCE section 3.3.1.5.2).
func (c *Conn) Bind(ctx context.Context, uuid [16]byte, major, minor uint16) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	neg, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		return err
	}
	c.callID++
	id := c.callID
	p := dcerpc.NewHeader(dcerpc.PtypeBind, pfcFirstLast, id)
	p = binary.LittleEndian.AppendUint16(p, uint16(c.maxXmit)) // max_xmit_frag
	p = binary.LittleEndian.AppendUint16(p, uint16(c.maxXmit)) // max_recv_frag
	p = binary.LittleEndian.AppendUint32(p, 0)                 // assoc_group_id
	p = append(p, 1, 0, 0, 0)                                  // one presentation context
	p = append(p, 0, 0, 1, 0)                                  // p_cont_id 0, one transfer syntax
	p = append(p, uuid[:]...)
	p = binary.LittleEndian.AppendUint16(p, major)
	p = binary.LittleEndian.AppendUint16(p, minor)
	p = append(p, ndr20[:]...)
	p = withAuth(p, neg)
	if err := c.send(p); err != nil {
		return err
	}
	ack, err := c.next()
	if err != nil {
		return err
	}
	challenge, err := c.bindAck(ack, id)
	if err != nil {
		return err
	}
	auth, err := ntlmssp.NewAuthenticateMessage(challenge, c.o.User, c.o.Password, nil)
	if err != nil {
		return fmt.Errorf("rpchclient: NTLM: %w", err)
	}
	a3 := dcerpc.NewHeader(dcerpc.PtypeAuth3, pfcFirstLast, id)
	a3 = append(a3, 0, 0, 0, 0) // pad (MS-RPCE section 2.2.2.10)
	return c.send(withAuth(a3, auth))
}

// withAuth appends the sec_trailer and auth value and sets the lengths.
func withAuth(p, auth []byte) []byte {
	for len(p)%4 != 0 {
		p = append(p, 0)
	}
	p = append(p, authnWinNT, levelConnect, 0, 0)
	p = binary.LittleEndian.AppendUint32(p, authCtxID)
	p = append(p, auth...)
	dcerpc.SetLengths(p, len(auth))
	return p
}

// bindAck checks a bind_ack (C706 section 12.6.4.4) and returns its NTLM
// CHALLENGE.
func (c *Conn) bindAck(p []byte, id uint32) ([]byte, error) {
	switch dcerpc.Type(p) {
	case dcerpc.PtypeBindNak:
		var reason uint16
		if len(p) >= 18 {
			reason = binary.LittleEndian.Uint16(p[16:])
		}
		return nil, &BindError{Nak: true, Reason: reason}
	case dcerpc.PtypeBindAck:
	default:
		return nil, fmt.Errorf("rpchclient: PDU type %d in answer to bind", dcerpc.Type(p))
	}
	authLen := int(binary.LittleEndian.Uint16(p[10:]))
	if le32(p[12:]) != id || len(p) < 26 || authLen+8 > len(p)-26 {
		return nil, errors.New("rpchclient: malformed bind_ack")
	}
	c.maxXmit = min(c.maxXmit, int(binary.LittleEndian.Uint16(p[16:])))
	off := 26 + int(binary.LittleEndian.Uint16(p[24:])) // secondary address
	off = (off + 3) &^ 3
	if off+4+24 > len(p) || p[off] < 1 {
		return nil, errors.New("rpchclient: bind_ack without a presentation result")
	}
	if res, reason := binary.LittleEndian.Uint16(p[off+4:]), binary.LittleEndian.Uint16(p[off+6:]); res != 0 {
		return nil, &BindError{Result: res, Reason: reason}
	}
	if authLen == 0 {
		return nil, errors.New("rpchclient: bind_ack without an NTLM CHALLENGE (the server did not take the authentication)")
	}
	return p[len(p)-authLen:], nil
}

// Fault is a call the server answered with a fault PDU.
type Fault uint32

func (f Fault) Error() string { return fmt.Sprintf("rpchclient: fault %#08x", uint32(f)) }

// Is makes a Fault match the same dcerpc.Fault.
func (f Fault) Is(target error) bool {
	t, ok := target.(dcerpc.Fault)
	return ok && uint32(t) == uint32(f)
}

// Call runs operation opnum on presentation context 0 and returns the
// response stub.
func (c *Conn) Call(ctx context.Context, opnum uint16, stub []byte) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.callID++
	id := c.callID
	room := c.maxXmit - dcerpc.HeaderSize - 8
	total := len(stub)
	for first := true; first || len(stub) > 0; first = false {
		n := min(len(stub), room)
		var flags byte
		if first {
			flags |= 0x01
		}
		if n == len(stub) {
			flags |= 0x02
		}
		p := dcerpc.NewHeader(dcerpc.PtypeRequest, flags, id)
		p = binary.LittleEndian.AppendUint32(p, uint32(total)) // alloc_hint
		p = binary.LittleEndian.AppendUint16(p, 0)             // p_cont_id
		p = binary.LittleEndian.AppendUint16(p, opnum)
		p = append(p, stub[:n]...)
		dcerpc.SetLengths(p, 0)
		stub = stub[n:]
		if err := c.send(p); err != nil {
			return nil, err
		}
	}
	var out []byte
	for {
		p, err := c.next()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if len(p) < 24 || le32(p[12:]) != id {
			return nil, fmt.Errorf("rpchclient: answer for call %d while waiting for %d", le32(p[12:]), id)
		}
		switch dcerpc.Type(p) {
		case dcerpc.PtypeFault:
			if len(p) < 28 {
				return nil, errors.New("rpchclient: fault PDU cut short")
			}
			return nil, Fault(le32(p[24:]))
		case dcerpc.PtypeResponse:
		default:
			return nil, fmt.Errorf("rpchclient: PDU type %d in answer to a request", dcerpc.Type(p))
		}
		body := p[24:]
		if authLen := int(binary.LittleEndian.Uint16(p[10:])); authLen > 0 {
			if authLen+8 > len(body) {
				return nil, errors.New("rpchclient: response auth_length past the PDU")
			}
			pad := int(body[len(body)-authLen-8+2])
			body = body[:max(0, len(body)-authLen-8-pad)]
		}
		out = append(out, body...)
		if p[3]&0x02 != 0 {
			return out, nil
		}
	}
}
