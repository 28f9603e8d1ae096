package ntlm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"
)

// signature opens every NTLM message (MS-NLMP section 2.2.1).
var signature = []byte("NTLMSSP\x00")

// Message types (MS-NLMP section 2.2.1).
const (
	typeNegotiate    = 1
	typeChallenge    = 2
	typeAuthenticate = 3
)

// maxMessageSize bounds every message this package parses: the largest real
// AUTHENTICATE_MESSAGE (long names, a dozen AV pairs) is well under 4 KiB.
const maxMessageSize = 64 << 10

// NEGOTIATE flags (MS-NLMP section 2.2.2.5).
const (
	flagUnicode                 uint32 = 0x00000001 // NTLMSSP_NEGOTIATE_UNICODE (A)
	flagOEM                     uint32 = 0x00000002 // NTLM_NEGOTIATE_OEM (B)
	flagRequestTarget           uint32 = 0x00000004 // NTLMSSP_REQUEST_TARGET (C)
	flagSign                    uint32 = 0x00000010 // NTLMSSP_NEGOTIATE_SIGN (D)
	flagSeal                    uint32 = 0x00000020 // NTLMSSP_NEGOTIATE_SEAL (E)
	flagDatagram                uint32 = 0x00000040 // NTLMSSP_NEGOTIATE_DATAGRAM (F)
	flagLMKey                   uint32 = 0x00000080 // NTLMSSP_NEGOTIATE_LM_KEY (G)
	flagNTLM                    uint32 = 0x00000200 // NTLMSSP_NEGOTIATE_NTLM (H)
	flagAnonymous               uint32 = 0x00000800 // anonymous (J)
	flagOEMDomainSupplied       uint32 = 0x00001000 // NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED (K)
	flagOEMWorkstationSupplied  uint32 = 0x00002000 // NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED (L)
	flagAlwaysSign              uint32 = 0x00008000 // NTLMSSP_NEGOTIATE_ALWAYS_SIGN (M)
	flagTargetTypeDomain        uint32 = 0x00010000 // NTLMSSP_TARGET_TYPE_DOMAIN (N)
	flagTargetTypeServer        uint32 = 0x00020000 // NTLMSSP_TARGET_TYPE_SERVER (O)
	flagExtendedSessionSecurity uint32 = 0x00080000 // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY (P)
	flagIdentify                uint32 = 0x00100000 // NTLMSSP_NEGOTIATE_IDENTIFY (Q)
	flagNonNTSessionKey         uint32 = 0x00400000 // NTLMSSP_REQUEST_NON_NT_SESSION_KEY (R)
	flagTargetInfo              uint32 = 0x00800000 // NTLMSSP_NEGOTIATE_TARGET_INFO (S)
	flagVersion                 uint32 = 0x02000000 // NTLMSSP_NEGOTIATE_VERSION (T)
	flag128                     uint32 = 0x20000000 // NTLMSSP_NEGOTIATE_128 (U)
	flagKeyExch                 uint32 = 0x40000000 // NTLMSSP_NEGOTIATE_KEY_EXCH (V)
	flag56                      uint32 = 0x80000000 // NTLMSSP_NEGOTIATE_56 (W)
)

// AV_PAIR identifiers (MS-NLMP section 2.2.2.1).
const (
	avEOL             = 0x0000 // MsvAvEOL
	avNbComputerName  = 0x0001 // MsvAvNbComputerName
	avNbDomainName    = 0x0002 // MsvAvNbDomainName
	avDNSComputerName = 0x0003 // MsvAvDnsComputerName
	avDNSDomainName   = 0x0004 // MsvAvDnsDomainName
	avDNSTreeName     = 0x0005 // MsvAvDnsTreeName
	avFlags           = 0x0006 // MsvAvFlags
	avTimestamp       = 0x0007 // MsvAvTimestamp
	avTargetName      = 0x0009 // MsvAvTargetName
	avChannelBindings = 0x000A // MsvAvChannelBindings
)

// avFlagMICPresent is MsvAvFlags bit 0x2: the AUTHENTICATE_MESSAGE carries a
// MIC (MS-NLMP section 2.2.2.1).
const avFlagMICPresent = 0x00000002

// windowsServer2019 is the VERSION structure Exchange 2019 on Windows Server
// 2019 sends: 10.0 build 17763, NTLMSSP_REVISION_W2K3 (MS-NLMP section 2.2.2.10).
var windowsServer2019 = [8]byte{10, 0, 0x63, 0x45, 0, 0, 0, 0x0F}

// field is a message field descriptor: Len, MaxLen, BufferOffset
// (MS-NLMP section 2.2.1.1).
type field struct {
	off, n int
}

// readField reads the descriptor at pos and checks it against the message:
// the payload lies inside msg and not in its fixed part (payloadStart).
func readField(msg []byte, pos, payloadStart int, name string) (field, error) {
	if pos+8 > len(msg) {
		return field{}, fmt.Errorf("%w: %s field beyond the message", ErrMalformed, name)
	}
	n := int(binary.LittleEndian.Uint16(msg[pos:]))
	off := int(binary.LittleEndian.Uint32(msg[pos+4:]))
	if n == 0 {
		return field{}, nil
	}
	if off < payloadStart || off > len(msg) || n > len(msg)-off {
		return field{}, fmt.Errorf("%w: %s (offset %d, length %d) outside the payload of a %d-byte message",
			ErrMalformed, name, off, n, len(msg))
	}
	return field{off: off, n: n}, nil
}

func (f field) bytes(msg []byte) []byte {
	if f.n == 0 {
		return nil
	}
	return msg[f.off : f.off+f.n]
}

// fieldSpec is a payload field of a message: where its length/offset
// header sits and its MS-NLMP name.
type fieldSpec struct {
	pos  int
	name string
}

// readFields reads the fields of specs (payloadStart as for readField)
// and refuses any two that overlap.
func readFields(msg []byte, payloadStart int, specs []fieldSpec) (map[string]field, error) {
	fields := make(map[string]field, len(specs))
	for _, s := range specs {
		f, err := readField(msg, s.pos, payloadStart, s.name)
		if err != nil {
			return nil, err
		}
		fields[s.name] = f
	}
	if err := checkOverlap(fields); err != nil {
		return nil, err
	}
	return fields, nil
}

// checkOverlap refuses payload fields that share bytes: no client lays out
// its payload that way, and a parser that allowed it would read one byte
// string as two different things.
func checkOverlap(fs map[string]field) error {
	for a, fa := range fs {
		for b, fb := range fs {
			if a >= b || fa.n == 0 || fb.n == 0 {
				continue
			}
			if fa.off < fb.off+fb.n && fb.off < fa.off+fa.n {
				return fmt.Errorf("%w: %s and %s overlap", ErrMalformed, a, b)
			}
		}
	}
	return nil
}

// checkHeader checks the signature and message type.
func checkHeader(msg []byte, typ uint32, min int) error {
	if len(msg) > maxMessageSize {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(msg))
	}
	if len(msg) < min {
		return fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(msg), min)
	}
	if !bytes.Equal(msg[:8], signature) {
		return fmt.Errorf("%w: no NTLMSSP signature", ErrMalformed)
	}
	if got := binary.LittleEndian.Uint32(msg[8:]); got != typ {
		return fmt.Errorf("%w: message type %d, want %d", ErrMalformed, got, typ)
	}
	return nil
}

// messageType returns the NTLM message type of msg, 0 when it is none.
func messageType(msg []byte) uint32 {
	if len(msg) < 12 || !bytes.Equal(msg[:8], signature) {
		return 0
	}
	return binary.LittleEndian.Uint32(msg[8:])
}

// negotiateMessage is a parsed NEGOTIATE_MESSAGE (MS-NLMP section 2.2.1.1).
type negotiateMessage struct {
	flags       uint32
	domain      string // OEM, when the client supplied it
	workstation string
}

// parseNegotiate parses a NEGOTIATE_MESSAGE. The 16-byte form without the
// domain and workstation fields is accepted (MS-NLMP section 2.2.1.1: a
// server reads them only when the SUPPLIED flags are set).
func parseNegotiate(msg []byte) (*negotiateMessage, error) {
	if err := checkHeader(msg, typeNegotiate, 16); err != nil {
		return nil, fmt.Errorf("ntlm: negotiate: %w", err)
	}
	m := &negotiateMessage{flags: binary.LittleEndian.Uint32(msg[12:])}
	payloadStart := min(len(msg), 32)
	if m.flags&flagVersion != 0 && len(msg) >= 40 {
		payloadStart = 40
	}
	var specs []fieldSpec
	if m.flags&flagOEMDomainSupplied != 0 {
		specs = append(specs, fieldSpec{16, "DomainName"})
	}
	if m.flags&flagOEMWorkstationSupplied != 0 {
		specs = append(specs, fieldSpec{24, "WorkstationName"})
	}
	fields, err := readFields(msg, payloadStart, specs)
	if err != nil {
		return nil, fmt.Errorf("ntlm: negotiate: %w", err)
	}
	m.domain = decodeString(fields["DomainName"].bytes(msg), false)
	m.workstation = decodeString(fields["WorkstationName"].bytes(msg), false)
	return m, nil
}

// authenticateMessage is a parsed AUTHENTICATE_MESSAGE (MS-NLMP section 2.2.1.3).
type authenticateMessage struct {
	lmResponse          []byte
	ntResponse          []byte
	domain              string
	user                string
	workstation         string
	encryptedSessionKey []byte
	flags               uint32
	unicode             bool
	// micOffset is where the 16-byte MIC field starts, 0 when the message
	// has no room for one (no VERSION field).
	micOffset int
}

// authenticateHeader is the fixed part before the optional VERSION and MIC.
const authenticateHeader = 64

// parseAuthenticate parses an AUTHENTICATE_MESSAGE. Whether the message
// carries a MIC is known only from the NTLMv2 response's AV pairs, so the
// MIC offset is recorded when the fixed part leaves room for it, and the
// caller decides.
func parseAuthenticate(msg []byte) (*authenticateMessage, error) {
	if err := checkHeader(msg, typeAuthenticate, authenticateHeader); err != nil {
		return nil, fmt.Errorf("ntlm: authenticate: %w", err)
	}
	m := &authenticateMessage{flags: binary.LittleEndian.Uint32(msg[60:])}
	m.unicode = m.flags&flagUnicode != 0
	specs := []fieldSpec{
		{12, "LmChallengeResponse"},
		{20, "NtChallengeResponse"},
		{28, "DomainName"},
		{36, "UserName"},
		{44, "Workstation"},
		{52, "EncryptedRandomSessionKey"},
	}
	// The payload starts after the fixed part: 64 bytes, 72 with VERSION,
	// 88 with VERSION and MIC. Find the lowest offset a field uses to learn
	// which of these the client sent.
	lowest := len(msg)
	for _, s := range specs {
		n := binary.LittleEndian.Uint16(msg[s.pos:])
		off := int(binary.LittleEndian.Uint32(msg[s.pos+4:]))
		if n > 0 && off < lowest {
			lowest = off
		}
	}
	if lowest >= authenticateHeader+8+16 {
		m.micOffset = authenticateHeader + 8
	}
	fields, err := readFields(msg, authenticateHeader, specs)
	if err != nil {
		return nil, fmt.Errorf("ntlm: authenticate: %w", err)
	}
	m.lmResponse = fields["LmChallengeResponse"].bytes(msg)
	m.ntResponse = fields["NtChallengeResponse"].bytes(msg)
	m.encryptedSessionKey = fields["EncryptedRandomSessionKey"].bytes(msg)
	if m.domain, err = decodeField(msg, fields["DomainName"], m.unicode); err != nil {
		return nil, fmt.Errorf("ntlm: authenticate: DomainName: %w", err)
	}
	if m.user, err = decodeField(msg, fields["UserName"], m.unicode); err != nil {
		return nil, fmt.Errorf("ntlm: authenticate: UserName: %w", err)
	}
	if m.workstation, err = decodeField(msg, fields["Workstation"], m.unicode); err != nil {
		return nil, fmt.Errorf("ntlm: authenticate: Workstation: %w", err)
	}
	return m, nil
}

func decodeField(msg []byte, f field, unicode bool) (string, error) {
	b := f.bytes(msg)
	if unicode && len(b)%2 != 0 {
		return "", fmt.Errorf("%w: odd length %d of a UTF-16 string", ErrMalformed, len(b))
	}
	return decodeString(b, unicode), nil
}

// decodeString decodes a UTF-16LE string, or an OEM one read as Latin-1
// (the lab's names are ASCII).
func decodeString(b []byte, unicode bool) string {
	if !unicode {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// encodeOEM encodes s for a client that negotiated OEM strings: non-Latin-1
// runes become '?'.
func encodeOEM(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return b
}

// avPair is one AV_PAIR (MS-NLMP section 2.2.2.1).
type avPair struct {
	id    uint16
	value []byte
}

// parseAVPairs reads AV pairs up to MsvAvEOL; bytes after it are ignored
// (clients pad the NTLMv2 blob with zeros).
func parseAVPairs(b []byte) ([]avPair, error) {
	var pairs []avPair
	for {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: AV pairs end without MsvAvEOL", ErrMalformed)
		}
		id := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		b = b[4:]
		if id == avEOL {
			return pairs, nil
		}
		if n > len(b) {
			return nil, fmt.Errorf("%w: AV pair %#x of %d bytes overruns the list", ErrMalformed, id, n)
		}
		pairs = append(pairs, avPair{id: id, value: b[:n]})
		b = b[n:]
	}
}

func appendAVPair(b []byte, id uint16, value []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, id)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

// fileTime converts t to a Windows FILETIME: 100 ns ticks since 1601-01-01
// UTC. Times before 1601 are 0.
func fileTime(t time.Time) uint64 {
	const secondsTo1970 = 11644473600
	s := t.Unix() + secondsTo1970
	if s < 0 {
		return 0
	}
	return uint64(s)*1e7 + uint64(t.Nanosecond()/100)
}

// buildChallenge builds a CHALLENGE_MESSAGE (MS-NLMP section 2.2.1.2).
func buildChallenge(flags uint32, serverChallenge [8]byte, targetName, targetInfo []byte) []byte {
	const header = 56 // fixed part with the VERSION field
	msg := make([]byte, header, header+len(targetName)+len(targetInfo))
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeChallenge)
	putField(msg[12:], len(targetName), header)
	binary.LittleEndian.PutUint32(msg[20:], flags)
	copy(msg[24:], serverChallenge[:])
	putField(msg[40:], len(targetInfo), header+len(targetName))
	if flags&flagVersion != 0 { // else all zero (MS-NLMP section 2.2.1.2)
		copy(msg[48:], windowsServer2019[:])
	}
	msg = append(msg, targetName...)
	return append(msg, targetInfo...)
}

func putField(b []byte, n, off int) {
	binary.LittleEndian.PutUint16(b, uint16(n))
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], uint32(off))
}
