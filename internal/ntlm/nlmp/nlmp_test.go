package nlmp

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// The known answers of MS-NLMP section 4.2.2 (password "Password", server
// challenge 0123456789abcdef).
func TestKnownAnswers(t *testing.T) {
	unhex := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	ntHash := NTOWFv1("Password")
	if want := unhex("a4f49c406510bdcab6824ee7c30fd852"); !bytes.Equal(ntHash, want) {
		t.Errorf("NTOWFv1(Password) = %x, want %x (4.2.2.1.2)", ntHash, want)
	}
	if got, want := DESL(ntHash, unhex("0123456789abcdef")), unhex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94"); !bytes.Equal(got, want) {
		t.Errorf("DESL(NT hash, server challenge) = %x, want %x (4.2.2.2.1)", got, want)
	}
	if got, want := UTF16LE("Aé"), []byte{'A', 0, 0xe9, 0}; !bytes.Equal(got, want) {
		t.Errorf("UTF16LE(Aé) = %x, want %x", got, want)
	}
}
