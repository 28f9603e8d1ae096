package dcerpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// sigLen is the size of an NTLMSSP_MESSAGE_SIGNATURE.
const sigLen = 16

// request takes a request fragment (C706 section 12.6.4.9), checks and
// opens its verifier, and once the last fragment is in, runs the call.
func (c *Conn) request(ctx context.Context, pdu []byte, h header) ([][]byte, error) {
	stub, cx, opnum, err := c.openRequest(pdu, h)
	if err != nil {
		var f Fault
		if errors.As(err, &f) {
			return [][]byte{c.fault(h.callID, cx, f)}, nil
		}
		return nil, err
	}
	if h.flags&pfcFirstFrag != 0 {
		c.pending, c.pendingOp, c.pendingCx = nil, opnum, cx
	}
	c.pending = append(c.pending, stub...)
	if h.flags&pfcLastFrag == 0 {
		if len(c.pending) > 16<<20 {
			return nil, fmt.Errorf("dcerpc: request over 16 MB: %w", ErrProtocol)
		}
		return nil, nil
	}
	stub, c.pending = c.pending, nil
	iface := c.ctxs[c.pendingCx]
	if iface == nil {
		return [][]byte{c.fault(h.callID, c.pendingCx, FaultUnknownIf)}, nil
	}
	// With NTLM configured, a call needs an authenticated association, as
	// Exchange's NSPI and EMSMDB endpoints refuse anonymous binds' calls;
	// an association that began NTLM and never finished is refused too.
	if c.o.NTLM != nil && !c.authed {
		return [][]byte{c.fault(h.callID, c.pendingCx, FaultAccessDenied)}, nil
	}
	out, err := iface.Call(WithAccount(ctx, c.Account), c.pendingOp, stub)
	if err != nil {
		var f Fault
		if !errors.As(err, &f) {
			f = FaultNDR
		}
		return [][]byte{c.fault(h.callID, c.pendingCx, f)}, nil
	}
	return c.response(h.callID, c.pendingCx, out), nil
}

// openRequest returns the stub of one request fragment, unsealed and
// verified at the association's level.
func (c *Conn) openRequest(pdu []byte, h header) (stub []byte, cx, opnum uint16, err error) {
	body, st, auth, err := splitAuth(pdu, h)
	if err != nil {
		return nil, 0, 0, err
	}
	if len(body) < 8 {
		return nil, 0, 0, fmt.Errorf("dcerpc: request of %d bytes: %w", len(body), ErrProtocol)
	}
	cx, opnum = binary.LittleEndian.Uint16(body[4:]), binary.LittleEndian.Uint16(body[6:])
	off := 8
	if h.flags&pfcObjectUUID != 0 {
		off += 16
	}
	if len(body) < off+int(st.padLen) {
		return nil, cx, opnum, fmt.Errorf("dcerpc: request of %d bytes (pad %d): %w", len(body), st.padLen, ErrProtocol)
	}
	if c.sealer == nil || c.level < levelPktIntegrity {
		if c.sess != nil && c.authed && h.authLen == 0 && c.level >= levelPktIntegrity {
			return nil, cx, opnum, FaultAccessDenied
		}
		return body[off : len(body)-int(st.padLen)], cx, opnum, nil
	}
	if h.authLen != sigLen || st.level != c.level {
		return nil, cx, opnum, FaultAccessDenied
	}
	// The client signs the whole PDU (header signing, as Windows and
	// impacket do with extended session security) with its stub in
	// plaintext; it seals only the stub and its padding.
	plain := append([]byte(nil), pdu[:len(pdu)-sigLen]...)
	data := plain[HeaderSize+off : HeaderSize+len(body)]
	if c.level == levelPktPrivacy {
		c.sealer.UnsealClient(data)
	}
	if err := c.sealer.VerifyClient(plain, auth); err != nil {
		return nil, cx, opnum, fmt.Errorf("dcerpc: request %d: %w: %w", h.callID, err, ErrProtocol)
	}
	return data[:len(data)-int(st.padLen)], cx, opnum, nil
}

// response fragments a response stub (C706 section 12.6.4.10), sealing or
// signing each fragment.
func (c *Conn) response(callID uint32, cx uint16, stub []byte) [][]byte {
	room := c.maxXmit - HeaderSize - 8
	if c.sealer != nil {
		room -= 8 + sigLen + 15
	}
	room &^= 15
	var out [][]byte
	total := len(stub)
	for first := true; first || len(stub) > 0; first = false {
		n := min(len(stub), room)
		flags := byte(0)
		if first {
			flags |= pfcFirstFrag
		}
		if n == len(stub) {
			flags |= pfcLastFrag
		}
		p := NewHeader(PtypeResponse, flags, callID)
		p = binary.LittleEndian.AppendUint32(p, uint32(total))
		p = binary.LittleEndian.AppendUint16(p, cx)
		p = append(p, 0, 0)
		p = append(p, stub[:n]...)
		stub = stub[n:]
		out = append(out, c.protect(p))
	}
	return out
}

// fault is a fault PDU (C706 section 12.6.4.7).
func (c *Conn) fault(callID uint32, cx uint16, f Fault) []byte {
	p := NewHeader(PtypeFault, pfcFirstFrag|pfcLastFrag, callID)
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = binary.LittleEndian.AppendUint16(p, cx)
	p = append(p, 0, 0)
	p = binary.LittleEndian.AppendUint32(p, uint32(f))
	p = binary.LittleEndian.AppendUint32(p, 0)
	SetLengths(p, 0)
	return p
}

// protect adds the verifier to a response PDU whose body starts at offset
// 24: the stub is padded to 16 bytes, then sealed (privacy) and signed.
func (c *Conn) protect(p []byte) []byte {
	if c.sealer == nil {
		SetLengths(p, 0)
		return p
	}
	const stubOff = HeaderSize + 8
	padLen := (16 - (len(p)-stubOff)%16) % 16
	p = append(p, make([]byte, padLen)...)
	end := len(p)
	p = appendSecTrailer(p, secTrailer{authType: authnWinNT, level: c.level, padLen: byte(padLen), ctxID: c.authCtxID})
	p = append(p, make([]byte, sigLen)...)
	SetLengths(p, sigLen)
	plain := p[:len(p)-sigLen]
	var sig []byte
	if c.level == levelPktPrivacy {
		signed := append([]byte(nil), plain...)
		c.sealer.SealServer(p[stubOff:end])
		sig = c.sealer.SignServer(signed)
	} else {
		sig = c.sealer.SignServer(plain)
	}
	copy(p[len(p)-sigLen:], sig)
	return p
}

// UUIDBytes turns "F5CC5A18-4264-101A-8C59-08002B2F8426" into its wire
// form. It panics on a malformed constant.
func UUIDBytes(s string) [16]byte {
	var hex []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			hex = append(hex, s[i])
		}
	}
	if len(hex) != 32 {
		panic("dcerpc: bad UUID " + s)
	}
	var b [16]byte
	for i := range 16 {
		var v byte
		for _, ch := range hex[2*i : 2*i+2] {
			v <<= 4
			switch {
			case ch >= '0' && ch <= '9':
				v |= ch - '0'
			case ch >= 'a' && ch <= 'f':
				v |= ch - 'a' + 10
			case ch >= 'A' && ch <= 'F':
				v |= ch - 'A' + 10
			default:
				panic("dcerpc: bad UUID " + s)
			}
		}
		b[i] = v
	}
	// time_low, time_mid and time_hi_and_version are little-endian on the wire.
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return b
}

type accountKey struct{}

// WithAccount is ctx carrying the NTLM account of a call, as a Conn hands
// it to Interface.Call.
func WithAccount(ctx context.Context, account string) context.Context {
	return context.WithValue(ctx, accountKey{}, account)
}

// AccountFromContext is the NTLM account of the association whose call
// ctx carries ("" for an unauthenticated one): interfaces whose calls act
// as a user (EMSMDB) read it.
func AccountFromContext(ctx context.Context) string {
	a, _ := ctx.Value(accountKey{}).(string)
	return a
}
