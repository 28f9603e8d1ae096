package dcerpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PDU types (C706 section 12.6.4.1 and MS-RPCH section 2.2.3.6.1 for RTS).
const (
	PtypeRequest     = 0
	PtypeResponse    = 2
	PtypeFault       = 3
	PtypeBind        = 11
	PtypeBindAck     = 12
	PtypeBindNak     = 13
	PtypeAlterCtx    = 14
	PtypeAlterCtxRsp = 15
	PtypeAuth3       = 16
	PtypeShutdown    = 17
	PtypeOrphaned    = 19
	PtypeRTS         = 20
)

// pfc_flags (C706 section 12.6.3.1).
const (
	pfcFirstFrag  = 0x01
	pfcLastFrag   = 0x02
	pfcObjectUUID = 0x80
)

// Authentication (MS-RPCE section 2.2.1.1.7 and 2.2.1.1.8).
const (
	authnWinNT        = 10 // RPC_C_AUTHN_WINNT: NTLM
	levelConnect      = 2
	levelCall         = 3
	levelPktIntegrity = 5
	levelPktPrivacy   = 6
)

// HeaderSize is the size of the common header of every connection-oriented PDU.
const HeaderSize = 16

// maxFragment bounds a PDU this server accepts (the largest max_xmit_frag
// Windows negotiates is 5840; clients may propose up to 65535).
const maxFragment = 65535

// ErrProtocol marks a PDU that breaks the protocol: the association ends.
var ErrProtocol = errors.New("dcerpc: protocol error")

// ReadPDU reads one PDU (RPC or RTS) from r.
func ReadPDU(r io.Reader) ([]byte, error) {
	hdr := make([]byte, HeaderSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	if hdr[0] != 5 || hdr[1] != 0 {
		return nil, fmt.Errorf("dcerpc: version %d.%d, want 5.0: %w", hdr[0], hdr[1], ErrProtocol)
	}
	if hdr[4]&0xf0 != 0x10 {
		return nil, fmt.Errorf("dcerpc: big-endian data representation %#x not supported: %w", hdr[4], ErrProtocol)
	}
	n := int(binary.LittleEndian.Uint16(hdr[8:]))
	if n < HeaderSize || n > maxFragment {
		return nil, fmt.Errorf("dcerpc: fragment length %d: %w", n, ErrProtocol)
	}
	pdu := make([]byte, n)
	copy(pdu, hdr)
	if _, err := io.ReadFull(r, pdu[HeaderSize:]); err != nil {
		return nil, fmt.Errorf("dcerpc: PDU of %d bytes cut short: %w", n, err)
	}
	return pdu, nil
}

// Type returns a PDU's type.
func Type(pdu []byte) byte { return pdu[2] }

// header is the parsed common header.
type header struct {
	ptype, flags byte
	fragLen      int
	authLen      int
	callID       uint32
}

func parseHeader(pdu []byte) header {
	return header{
		ptype: pdu[2], flags: pdu[3],
		fragLen: int(binary.LittleEndian.Uint16(pdu[8:])), authLen: int(binary.LittleEndian.Uint16(pdu[10:])),
		callID: binary.LittleEndian.Uint32(pdu[12:]),
	}
}

// NewHeader returns a common header of type ptype; the caller appends the
// body and calls SetLengths.
func NewHeader(ptype, flags byte, callID uint32) []byte {
	h := make([]byte, HeaderSize)
	h[0], h[1], h[2], h[3] = 5, 0, ptype, flags
	h[4] = 0x10 // little-endian, ASCII, IEEE floats
	binary.LittleEndian.PutUint32(h[12:], callID)
	return h
}

// SetLengths fills frag_length and auth_length.
func SetLengths(pdu []byte, authLen int) {
	binary.LittleEndian.PutUint16(pdu[8:], uint16(len(pdu)))
	binary.LittleEndian.PutUint16(pdu[10:], uint16(authLen))
}

// secTrailer is the sec_trailer before the auth value (MS-RPCE 2.2.2.11).
type secTrailer struct {
	authType, level, padLen byte
	ctxID                   uint32
}

// splitAuth splits a PDU body (after the header) into the body proper,
// the sec_trailer and the auth value. Without auth_length the body is
// returned whole.
func splitAuth(pdu []byte, h header) (body []byte, st secTrailer, auth []byte, err error) {
	body = pdu[HeaderSize:h.fragLen]
	if h.authLen == 0 {
		return body, st, nil, nil
	}
	if h.authLen+8 > len(body) {
		return nil, st, nil, fmt.Errorf("dcerpc: auth_length %d longer than the PDU: %w", h.authLen, ErrProtocol)
	}
	t := body[len(body)-h.authLen-8:]
	st = secTrailer{authType: t[0], level: t[1], padLen: t[2], ctxID: binary.LittleEndian.Uint32(t[4:])}
	auth = t[8:]
	body = body[:len(body)-h.authLen-8]
	if int(st.padLen) > len(body) {
		return nil, st, nil, fmt.Errorf("dcerpc: auth_pad_length %d longer than the body: %w", st.padLen, ErrProtocol)
	}
	return body, st, auth, nil
}

func appendSecTrailer(b []byte, st secTrailer) []byte {
	b = append(b, st.authType, st.level, st.padLen, 0)
	return binary.LittleEndian.AppendUint32(b, st.ctxID)
}
