// Package nlmp holds the MS-NLMP primitives both sides of an NTLM logon
// compute: the NT hash (NTOWFv1), DESL, and UTF-16LE strings. exsim's NTLM
// server (internal/ntlm) and its NTLMv1 test client (internal/ntlm/ntlmtest)
// share them; the tests of both sides pin them to the known answers of
// MS-NLMP section 4.2.
package nlmp

import (
	"crypto/des"
	"encoding/binary"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// NTOWFv1 is MD4 of the UTF-16LE password, the NT hash (MS-NLMP section
// 3.3.1).
func NTOWFv1(password string) []byte {
	h := md4.New()
	h.Write(UTF16LE(password))
	return h.Sum(nil)
}

// DESL is DESL(K, D) of MS-NLMP section 6: the first 8 bytes of D
// encrypted with three DES keys made of the 16-byte K padded to 21 bytes.
func DESL(k, d []byte) []byte {
	var k21 [21]byte
	copy(k21[:], k)
	out := make([]byte, 0, 24)
	for i := range 3 {
		c, _ := des.NewCipher(desKey(k21[7*i : 7*i+7])) // 8-byte key: cannot fail
		var block [8]byte
		c.Encrypt(block[:], d[:8])
		out = append(out, block[:]...)
	}
	return out
}

// desKey spreads 56 key bits over 8 bytes, seven bits each; DES ignores the
// parity bit.
func desKey(k7 []byte) []byte {
	return []byte{
		k7[0], k7[0]<<7 | k7[1]>>1, k7[1]<<6 | k7[2]>>2, k7[2]<<5 | k7[3]>>3,
		k7[3]<<4 | k7[4]>>4, k7[4]<<3 | k7[5]>>5, k7[5]<<2 | k7[6]>>6, k7[6] << 1,
	}
}

// UTF16LE encodes s as UTF-16LE, NTLM's Unicode strings.
func UTF16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}
