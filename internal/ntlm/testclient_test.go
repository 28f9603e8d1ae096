package ntlm

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// testClient is an NTLM initiator for the cases go-ntlmssp does not cover:
// MIC, key exchange, NTLMv1, LMv2 alone, OEM strings. Its crypto is the
// package's own, which the known-answer tests pin to MS-NLMP.
type testClient struct {
	user, domain, password, workstation string

	flags     uint32 // NEGOTIATE flags; defaultClientFlags when zero
	v1        bool   // an NTLMv1 response (NTLM2 session response with ESS)
	lmv2Only  bool   // no NT response, the LMv2 response alone
	mic       bool   // MsvAvFlags MIC_PRESENT and a MIC
	timestamp uint64 // the NTLMv2 blob's; the server's MsvAvTimestamp when zero
	ntDomain  *string

	negotiate []byte
	exported  []byte
	authFlags uint32
}

const defaultClientFlags = flagUnicode | flagOEM | flagRequestTarget | flagSign | flagSeal | flagNTLM |
	flagAlwaysSign | flagExtendedSessionSecurity | flagTargetInfo | flagVersion | flag128 | flagKeyExch | flag56

func (c *testClient) negotiateMessage() []byte {
	f := c.flags
	if f == 0 {
		f = defaultClientFlags
	}
	m := make([]byte, 40)
	copy(m, signature)
	binary.LittleEndian.PutUint32(m[8:], typeNegotiate)
	binary.LittleEndian.PutUint32(m[12:], f)
	putField(m[16:], 0, 40)
	putField(m[24:], 0, 40)
	copy(m[32:], windowsServer2019[:])
	c.negotiate = m
	return m
}

// authenticateMessage answers a CHALLENGE_MESSAGE.
func (c *testClient) authenticateMessage(chal []byte) ([]byte, error) {
	if messageType(chal) != typeChallenge || len(chal) < 48 {
		return nil, fmt.Errorf("not a challenge: %x", chal)
	}
	flags := binary.LittleEndian.Uint32(chal[20:])
	sc := chal[24:32]
	tiField, err := readField(chal, 40, 48, "TargetInfo")
	if err != nil {
		return nil, err
	}
	pairs, err := parseAVPairs(tiField.bytes(chal))
	if err != nil {
		return nil, err
	}
	c.authFlags = flags
	cc := make([]byte, 8)
	rand.Read(cc)
	ntHash := ntowfv1(c.password)
	var lm, nt, kx []byte
	switch {
	case c.v1 && flags&flagExtendedSessionSecurity != 0:
		lm = append(cc, make([]byte, 16)...)
		nt = desl(ntHash, md5Sum(sc, cc)[:8])
		kx = hmacMD5(md4Sum(ntHash), sc, cc)
	case c.v1:
		nt = desl(ntHash, sc)
		lm = nt
		kx = md4Sum(ntHash)
	default:
		d := c.domain
		if c.ntDomain != nil {
			d = *c.ntDomain
		}
		key := ntowfv2(ntHash, c.user, d)
		ts := c.timestamp
		var ti []byte
		for _, p := range pairs {
			if p.id == avTimestamp && ts == 0 {
				ts = binary.LittleEndian.Uint64(p.value)
			}
			ti = appendAVPair(ti, p.id, p.value)
		}
		if c.mic {
			ti = appendAVPair(ti, avFlags, []byte{avFlagMICPresent, 0, 0, 0})
		}
		ti = appendAVPair(ti, avEOL, nil)
		temp := []byte{1, 1, 0, 0, 0, 0, 0, 0}
		temp = binary.LittleEndian.AppendUint64(temp, ts)
		temp = append(temp, cc...)
		temp = append(temp, 0, 0, 0, 0)
		temp = append(temp, ti...)
		temp = append(temp, 0, 0, 0, 0)
		proof := hmacMD5(key, sc, temp)
		nt = append(proof, temp...)
		lm = append(hmacMD5(key, sc, cc), cc...)
		if c.mic {
			lm = make([]byte, 24)
		}
		if c.lmv2Only {
			nt = nil
		}
		kx = hmacMD5(key, proof)
	}
	var encKey []byte
	c.exported = kx
	if flags&flagKeyExch != 0 {
		c.exported = make([]byte, 16)
		rand.Read(c.exported)
		encKey = rc4K(kx, c.exported)
	}
	enc := encodeUTF16
	if flags&flagUnicode == 0 {
		enc = encodeOEM
	}
	// 88: with VERSION and room for the MIC.
	m := layoutAuthenticate(88, flags, windowsServer2019[:], lm, nt, enc(c.domain), enc(c.user), enc(c.workstation), encKey)
	if c.mic {
		copy(m[72:], hmacMD5(c.exported, c.negotiate, chal, m))
	}
	return m, nil
}

// layoutAuthenticate writes an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3):
// a header of the given size with the six payload fields (LM and NT
// responses, domain, user, workstation, encrypted session key), flags and
// VERSION, then the payloads in that order.
func layoutAuthenticate(header int, flags uint32, version []byte, payload ...[]byte) []byte {
	m := make([]byte, header)
	copy(m, signature)
	binary.LittleEndian.PutUint32(m[8:], typeAuthenticate)
	off := header
	for i, p := range payload {
		putField(m[12+8*i:], len(p), off)
		off += len(p)
	}
	binary.LittleEndian.PutUint32(m[60:], flags)
	copy(m[64:], version)
	for _, p := range payload {
		m = append(m, p...)
	}
	return m
}

// keys are the client's session keys after authenticateMessage.
func (c *testClient) keys() *sessionKeys { return deriveKeys(c.authFlags, c.exported) }
