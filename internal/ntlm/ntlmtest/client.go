// Package ntlmtest is an NTLMv1 client for tests of the servers that
// accept NTLM (smtpd, imapd, pop3d through roles): go-ntlmssp, the Go
// client the tests use otherwise, sends only NTLMv2, while fetchmail and
// Perl's Authen::NTLM send NTLMv1. It follows MS-NLMP section 3.3.1, and
// its own test pins it to the section 4.2.2 and 4.2.3 known answers.
package ntlmtest

import (
	"crypto/md5"
	"encoding/binary"
	"errors"

	"github.com/exsim/exsim/internal/ntlm/nlmp"
)

// Flags of a NEGOTIATE_MESSAGE (MS-NLMP section 2.2.2.5).
const (
	flagUnicode      = 0x00000001
	flagOEM          = 0x00000002
	flagRequestTgt   = 0x00000004
	flagNTLM         = 0x00000200
	flagAlwaysSign   = 0x00008000
	flagESS          = 0x00080000 // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
	negotiateV1Flags = flagUnicode | flagOEM | flagRequestTgt | flagNTLM | flagAlwaysSign
)

// Negotiate returns a NEGOTIATE_MESSAGE of an NTLMv1 client; with ess it
// asks for extended session security (the NTLM2 session response).
func Negotiate(ess bool) []byte {
	f := uint32(negotiateV1Flags)
	if ess {
		f |= flagESS
	}
	m := make([]byte, 32)
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 1)
	binary.LittleEndian.PutUint32(m[12:], f)
	putField(m[16:], 0, 32)
	putField(m[24:], 0, 32)
	return m
}

// Authenticate answers a CHALLENGE_MESSAGE with an NTLMv1 response:
// DESL(NTOWFv1, server challenge), or with extended session security when
// the server granted it, DESL(NTOWFv1, MD5(server challenge + client
// challenge)[0:8]) with the client challenge in the LM response
// (MS-NLMP section 3.3.1). clientChallenge is used only with ESS.
func Authenticate(challenge []byte, user, domain, password string, clientChallenge [8]byte) ([]byte, error) {
	if len(challenge) < 32 || string(challenge[:8]) != "NTLMSSP\x00" || binary.LittleEndian.Uint32(challenge[8:]) != 2 {
		return nil, errors.New("ntlmtest: not a CHALLENGE_MESSAGE")
	}
	flags := binary.LittleEndian.Uint32(challenge[20:])
	sc := challenge[24:32]
	ntHash := nlmp.NTOWFv1(password)
	var lm, nt []byte
	if flags&flagESS != 0 {
		lm = append(clientChallenge[:], make([]byte, 16)...)
		h := md5.Sum(append(append([]byte(nil), sc...), clientChallenge[:]...))
		nt = nlmp.DESL(ntHash, h[:8])
	} else {
		nt = nlmp.DESL(ntHash, sc)
		lm = nt // Windows without an LM hash repeats the NT response
	}
	flags &= flagUnicode | flagOEM | flagNTLM | flagAlwaysSign | flagESS | flagRequestTgt
	enc := nlmp.UTF16LE
	if flags&flagUnicode == 0 {
		enc = func(s string) []byte { return []byte(s) }
	}
	payload := [][]byte{lm, nt, enc(domain), enc(user), enc("WS01"), nil}
	const header = 64
	m := make([]byte, header)
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 3)
	off := header
	for i, p := range payload {
		putField(m[12+8*i:], len(p), off)
		off += len(p)
	}
	binary.LittleEndian.PutUint32(m[60:], flags)
	for _, p := range payload {
		m = append(m, p...)
	}
	return m, nil
}

func putField(b []byte, n, off int) {
	binary.LittleEndian.PutUint16(b, uint16(n))
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], uint32(off))
}
