package dcerpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/exsim/exsim/internal/ntlm"
)

// Fault is a DCE/RPC fault status (C706 appendix E, MS-RPCE 2.2.2.14).
// An Interface's Call returns one to answer with a fault PDU.
type Fault uint32

func (f Fault) Error() string { return fmt.Sprintf("dcerpc: fault %#08x", uint32(f)) }

// Fault statuses this package sends.
const (
	FaultOpRangeError = Fault(0x1c010002) // nca_s_op_rng_error: unknown opnum
	FaultUnknownIf    = Fault(0x1c010003) // nca_s_unk_if: no such presentation context
	FaultProtoError   = Fault(0x1c01000b) // nca_s_proto_error
	FaultAccessDenied = Fault(0x00000005) // ERROR_ACCESS_DENIED: call on an unauthenticated association
	FaultNDR          = Fault(0x000006f7) // RPC_X_BAD_STUB_DATA: undecodable stub
	FaultContext      = Fault(0x1c00001a) // nca_s_fault_context_mismatch: unknown context handle
)

// ndr20 is the NDR 2.0 transfer syntax (C706 section 14).
var ndr20 = [20]byte{0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60, 2, 0, 0, 0}

// Interface is an RPC interface a Conn serves.
type Interface struct {
	// UUID is the interface UUID in its wire form (the first three fields
	// little-endian), as UUIDBytes gives it.
	UUID         [16]byte
	Major, Minor uint16
	// Call executes operation opnum with the NDR request stub and returns
	// the response stub, or a Fault.
	Call func(ctx context.Context, opnum uint16, stub []byte) ([]byte, error)
}

// Options configure a Conn.
type Options struct {
	Interfaces []Interface
	// NTLM authenticates binds with RPC_C_AUTHN_WINNT, and then calls
	// on an association that did not authenticate fault with
	// access denied. Without it every authenticated bind is refused.
	NTLM *ntlm.Server
	// AssocGroup is the association group id sent in bind_ack.
	AssocGroup uint32
	// SecondaryAddress is bind_ack's sec_addr (the endpoint, e.g. "6004").
	SecondaryAddress string
}

// Conn is the server side of one association.
type Conn struct {
	o         Options
	ctxs      map[uint16]*Interface
	maxXmit   int
	sess      *ntlm.Session
	sealer    *ntlm.Sealer
	level     byte
	authCtxID uint32
	authed    bool
	// A fragmented request being reassembled.
	pending   []byte
	pendingOp uint16
	pendingCx uint16
	// Account is the NTLM account of the bind, "" before.
	Account string
}

// NewConn starts an association.
func NewConn(o Options) *Conn {
	return &Conn{o: o, ctxs: map[uint16]*Interface{}, maxXmit: 4280}
}

// Handle processes one client PDU and returns the PDUs to send back (none
// for AUTH3 and for a request fragment that is not the last). An error is
// a protocol violation: the caller ends the association.
func (c *Conn) Handle(ctx context.Context, pdu []byte) ([][]byte, error) {
	if len(pdu) < HeaderSize {
		return nil, fmt.Errorf("dcerpc: PDU of %d bytes: %w", len(pdu), ErrProtocol)
	}
	h := parseHeader(pdu)
	if h.fragLen != len(pdu) {
		return nil, fmt.Errorf("dcerpc: frag_length %d of a %d-byte PDU: %w", h.fragLen, len(pdu), ErrProtocol)
	}
	switch h.ptype {
	case PtypeBind, PtypeAlterCtx:
		out, err := c.bind(pdu, h)
		if err != nil {
			return nil, err
		}
		return [][]byte{out}, nil
	case PtypeAuth3:
		return nil, c.auth3(pdu, h)
	case PtypeRequest:
		return c.request(ctx, pdu, h)
	case PtypeOrphaned, PtypeShutdown:
		c.pending = nil
		return nil, nil
	}
	return nil, fmt.Errorf("dcerpc: unexpected PDU type %d: %w", h.ptype, ErrProtocol)
}

// bind answers bind and alter_context (C706 section 12.6.4.3) with the
// presentation results and, for NTLM, the CHALLENGE_MESSAGE.
func (c *Conn) bind(pdu []byte, h header) ([]byte, error) {
	body, st, auth, err := splitAuth(pdu, h)
	if err != nil {
		return nil, err
	}
	if len(body) < 12 {
		return nil, fmt.Errorf("dcerpc: bind of %d bytes: %w", len(body), ErrProtocol)
	}
	if x := int(binary.LittleEndian.Uint16(body[2:])); x >= 1024 { // max_recv_frag: what we may send
		c.maxXmit = min(x, 5840)
	}
	n := int(body[8])
	p := body[12:]
	var results []byte
	for range n {
		if len(p) < 24 {
			return nil, fmt.Errorf("dcerpc: truncated presentation context: %w", ErrProtocol)
		}
		id := binary.LittleEndian.Uint16(p)
		nts := int(p[2])
		var abs [16]byte
		copy(abs[:], p[4:20])
		major, minor := binary.LittleEndian.Uint16(p[20:]), binary.LittleEndian.Uint16(p[22:])
		p = p[24:]
		if len(p) < 20*nts {
			return nil, fmt.Errorf("dcerpc: truncated transfer syntaxes: %w", ErrProtocol)
		}
		ndr := false
		for i := range nts {
			if bytes.Equal(p[20*i:20*i+20], ndr20[:]) {
				ndr = true
			}
		}
		p = p[20*nts:]
		iface := c.find(abs, major, minor)
		var result, reason uint16
		switch {
		case iface == nil:
			result, reason = 2, 1 // provider_rejection, abstract_syntax_not_supported
		case !ndr:
			result, reason = 2, 2 // proposed_transfer_syntaxes_not_supported
		default:
			c.ctxs[id] = iface
		}
		results = binary.LittleEndian.AppendUint16(results, result)
		results = binary.LittleEndian.AppendUint16(results, reason)
		if result == 0 {
			results = append(results, ndr20[:]...)
		} else {
			results = append(results, make([]byte, 20)...)
		}
	}
	ptype := byte(PtypeBindAck)
	if h.ptype == PtypeAlterCtx {
		ptype = PtypeAlterCtxRsp
	}
	out := NewHeader(ptype, pfcFirstFrag|pfcLastFrag, h.callID)
	out = binary.LittleEndian.AppendUint16(out, uint16(c.maxXmit))
	out = binary.LittleEndian.AppendUint16(out, uint16(c.maxXmit))
	out = binary.LittleEndian.AppendUint32(out, c.o.AssocGroup)
	if ptype == PtypeBindAck {
		sec := c.o.SecondaryAddress
		out = binary.LittleEndian.AppendUint16(out, uint16(len(sec)+1))
		out = append(out, sec...)
		out = append(out, 0)
	} else {
		out = binary.LittleEndian.AppendUint16(out, 0)
	}
	out = pad4(out)
	out = append(out, byte(n), 0, 0, 0)
	out = append(out, results...)
	authLen := 0
	if h.authLen > 0 {
		challenge, err := c.startAuth(st, auth)
		if err != nil {
			return nil, err
		}
		if challenge != nil {
			out = pad4(out)
			out = appendSecTrailer(out, secTrailer{authType: authnWinNT, level: st.level, ctxID: st.ctxID})
			out = append(out, challenge...)
			authLen = len(challenge)
		}
	}
	SetLengths(out, authLen)
	return out, nil
}

func pad4(b []byte) []byte {
	for (len(b)-0)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (c *Conn) find(abs [16]byte, major, minor uint16) *Interface {
	for i := range c.o.Interfaces {
		f := &c.o.Interfaces[i]
		if f.UUID == abs && f.Major == major && f.Minor <= minor {
			return f
		}
	}
	return nil
}

// startAuth takes the NEGOTIATE_MESSAGE of a bind.
func (c *Conn) startAuth(st secTrailer, auth []byte) ([]byte, error) {
	if c.sess != nil {
		return nil, nil // alter_context on an authenticated association: keep it
	}
	if st.authType != authnWinNT || c.o.NTLM == nil {
		return nil, fmt.Errorf("dcerpc: authentication type %d not supported: %w", st.authType, ErrProtocol)
	}
	if st.level < levelConnect || st.level > levelPktPrivacy {
		return nil, fmt.Errorf("dcerpc: authentication level %d: %w", st.level, ErrProtocol)
	}
	c.sess = c.o.NTLM.NewSession()
	c.level, c.authCtxID = st.level, st.ctxID
	challenge, _, err := c.sess.Next(auth)
	if err != nil {
		return nil, fmt.Errorf("dcerpc: NTLM negotiate: %w", err)
	}
	return challenge, nil
}

// auth3 completes NTLM (MS-RPCE section 3.3.1.5.2.2: no answer is sent).
func (c *Conn) auth3(pdu []byte, h header) error {
	_, _, auth, err := splitAuth(pdu, h)
	if err != nil {
		return err
	}
	if c.sess == nil || c.authed {
		return fmt.Errorf("dcerpc: AUTH3 without a pending NTLM bind: %w", ErrProtocol)
	}
	if _, _, err := c.sess.Next(auth); err != nil {
		return fmt.Errorf("dcerpc: NTLM authenticate: %w", err)
	}
	if c.level >= levelPktIntegrity {
		if c.sealer, err = c.sess.Sealer(); err != nil {
			return err
		}
	}
	c.authed = true
	c.Account = c.sess.Account()
	return nil
}

// errSkip: a request fragment that is not the last.
var errSkip = errors.New("more fragments")
