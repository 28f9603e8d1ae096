package ntlmtest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// The client's responses to the CHALLENGE of MS-NLMP section 4.2 (server
// challenge 0123456789abcdef, password "Password", client challenge
// aaaaaaaaaaaaaaaa) are the section's known answers.
func TestSpecResponses(t *testing.T) {
	chal := make([]byte, 48)
	copy(chal, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(chal[8:], 2)
	copy(chal[24:], []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef})
	cc := [8]byte{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa}
	for _, tt := range []struct {
		name  string
		flags uint32
		nt    string
	}{
		{"NTLMv1 (4.2.2.2.1)", flagUnicode | flagNTLM, "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"},
		{"NTLMv1 with ESS (4.2.3.2.2)", flagUnicode | flagNTLM | flagESS, "7537f803ae367128ca458204bde7caf81e97ed2683267232"},
	} {
		binary.LittleEndian.PutUint32(chal[20:], tt.flags)
		m, err := Authenticate(chal, "User", "Domain", "Password", cc)
		if err != nil {
			t.Fatal(err)
		}
		n := binary.LittleEndian.Uint16(m[20:])
		off := binary.LittleEndian.Uint32(m[24:])
		want, _ := hex.DecodeString(tt.nt)
		if got := m[off : off+uint32(n)]; !bytes.Equal(got, want) {
			t.Errorf("%s: NtChallengeResponse = %x, want %x", tt.name, got, want)
		}
	}
}
