package ntlm

import (
	"bytes"
	"crypto/rc4"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// The known answers of MS-NLMP section 4.2: user "User", domain "Domain",
// password "Password", server challenge 0123456789abcdef, client challenge
// aaaaaaaaaaaaaaaa, time 0, random session key 55..55 (section 4.2.1).
var (
	specServerChallenge = unhex("0123456789abcdef")
	specClientChallenge = unhex("aaaaaaaaaaaaaaaa")
	specRandomKey       = unhex("55555555555555555555555555555555")
	// The CHALLENGE_MESSAGE's target info (section 4.2.4): NetBIOS domain
	// "Domain", NetBIOS server "Server", MsvAvEOL.
	specTargetInfo = unhex("02000c0044006f006d00610069006e00" + "01000c005300650072007600650072000000" + "0000")
)

func unhex(s string) []byte {
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestKnownAnswers(t *testing.T) {
	ntHash := ntowfv1("Password")
	v2 := ntowfv2(ntHash, "User", "Domain")
	// temp of section 3.3.2 with the section 4.2.4 inputs.
	temp := append(unhex("0101000000000000"+"0000000000000000"+"aaaaaaaaaaaaaaaa"+"00000000"), specTargetInfo...)
	temp = append(temp, 0, 0, 0, 0)
	proof := hmacMD5(v2, specServerChallenge, temp)
	sessionBaseKey := hmacMD5(v2, proof)
	keys := deriveKeys(0xe2888235, specRandomKey) // the flags of section 4.2.4.3
	tests := []struct {
		name      string
		got, want []byte
	}{
		{"NTOWFv1 (4.2.2.1.2)", ntHash, unhex("a4f49c406510bdcab6824ee7c30fd852")},
		{"NTLMv1 response (4.2.2.2.1)", desl(ntHash, specServerChallenge),
			unhex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94")},
		{"NTLMv1 with ESS (4.2.3.2.2)", desl(ntHash, md5Sum(specServerChallenge, specClientChallenge)[:8]),
			unhex("7537f803ae367128ca458204bde7caf81e97ed2683267232")},
		{"NTOWFv2 (4.2.4.1.1)", v2, unhex("0c868a403bfd7a93a3001ef22ef02e3f")},
		{"NTOWFv2 user case-insensitive", ntowfv2(ntHash, "USER", "Domain"), v2},
		{"LMv2 response (4.2.4.2.1)", append(hmacMD5(v2, specServerChallenge, specClientChallenge), specClientChallenge...),
			unhex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")},
		{"NTProofStr (4.2.4.2.2)", proof, unhex("68cd0ab851e51c96aabc927bebef6a1c")},
		{"SessionBaseKey (4.2.4.1.2)", sessionBaseKey, unhex("8de40ccadbc14a82f15cb0ad0de95ca3")},
		{"EncryptedRandomSessionKey (4.2.4.2.3)", rc4K(sessionBaseKey, specRandomKey),
			unhex("c5dad2544fc9799094ce1ce90bc9d03e")},
		{"ExportedSessionKey after key exchange", exportedSessionKey(flagKeyExch, sessionBaseKey,
			unhex("c5dad2544fc9799094ce1ce90bc9d03e")), specRandomKey},
		{"client signing key (4.2.4.4)", keys.clientSign, unhex("4788dc861b4782f35d43fd98fe1a2d39")},
		{"client sealing key (4.2.4.4)", keys.clientSeal, unhex("59f600973cc4960a25480a7c196e4c58")},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s = %x, want %x", tt.name, tt.got, tt.want)
		}
	}
}

// TestGSSWrapEx is MS-NLMP section 4.2.4.4: "Plaintext" sealed and signed
// by the client with sequence number 0.
func TestGSSWrapEx(t *testing.T) {
	keys := deriveKeys(0xe2888235, specRandomKey)
	seal, err := rc4.NewCipher(keys.clientSeal)
	if err != nil {
		t.Fatal(err)
	}
	plaintext := encodeUTF16("Plaintext")
	sealed := make([]byte, len(plaintext))
	seal.XORKeyStream(sealed, plaintext)
	sig := mac(keys.clientSign, seal, 0, plaintext)
	if want := unhex("54e50165bf1936dc996020c1811b0f06fb5f"); !bytes.Equal(sealed, want) {
		t.Errorf("sealed = %x, want %x", sealed, want)
	}
	if want := unhex("010000007fb38ec5c55d497600000000"); !bytes.Equal(sig, want) {
		t.Errorf("signature = %x, want %x", sig, want)
	}
}

// specAuthenticate is the AUTHENTICATE_MESSAGE of MS-NLMP section 4.2.4.3.
var specAuthenticate = unhex(`
	4e544c4d535350000300000018001800 6c00000054005400840000000c000c00
	48000000080008005400000010001000 5c00000010001000d8000000358288e2
	0501280a0000000f44006f006d006100 69006e00550073006500720043004f00
	4d005000550054004500520086c35097 ac9cec102554764a57cccc19aaaaaaaa
	aaaaaaaa68cd0ab851e51c96aabc927b ebef6a1c010100000000000000000000
	00000000aaaaaaaaaaaaaaaa00000000 02000c0044006f006d00610069006e00
	01000c00530065007200760065007200 0000000000000000c5dad2544fc97990
	94ce1ce90bc9d03e`)

// specSession is a Session that has sent the section 4.2.4 challenge.
func specSession(t *testing.T, now time.Time, chal []byte, neg []byte) *Session {
	t.Helper()
	srv := NewServer(Options{
		Lookup: func(user, domain string) (string, string, bool) {
			if strings.EqualFold(user, "User") {
				return "Password", domain + `\` + user, true
			}
			return "", "", false
		},
		Now: func() time.Time { return now },
	})
	ss := srv.NewSession()
	copy(ss.serverChallenge[:], specServerChallenge)
	ss.state = stateAuthenticate
	ss.issued = now
	ss.negotiate, ss.challenge = neg, chal
	return ss
}

// TestSpecAuthenticateMessage verifies the specification's own
// AUTHENTICATE_MESSAGE, timestamp 0 (1601), with key exchange.
func TestSpecAuthenticateMessage(t *testing.T) {
	ss := specSession(t, time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), nil, nil)
	if _, done, err := ss.Next(specAuthenticate); err != nil || !done {
		t.Fatalf("Next(4.2.4.3 message) = %v, %v, want done", done, err)
	}
	if id := ss.Identity(); id.Account != `Domain\User` || id.Workstation != "COMPUTER" || !id.NTLMv2 {
		t.Errorf("Identity() = %+v, want Domain\\User from COMPUTER over NTLMv2", id)
	}
	if !bytes.Equal(ss.keys.clientSeal, unhex("59f600973cc4960a25480a7c196e4c58")) {
		t.Errorf("client sealing key = %x, want 59f6...", ss.keys.clientSeal)
	}

	// The same message 37 hours later is outside Windows' 36-hour window.
	late := specSession(t, time.Date(1601, 1, 2, 13, 0, 0, 0, time.UTC), nil, nil)
	if _, _, err := late.Next(specAuthenticate); !errorsIs(err, ErrClockSkew) {
		t.Errorf("Next(4.2.4.3 message, 37 h later) = %v, want ErrClockSkew", err)
	}
}

// TestMICKnownAnswer verifies a MIC computed by another implementation
// (Chromium's net/ntlm test data, built on the section 4.2.4 inputs): its
// NEGOTIATE, the section 4.2.4.3 CHALLENGE, and an AUTHENTICATE with
// MsvAvFlags MIC_PRESENT, channel bindings and a target name.
func TestMICKnownAnswer(t *testing.T) {
	neg := unhex("4e544c4d53535000010000000782080000000000200000000000000020000000")
	chal := unhex(`4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef
		00000000000000002400240044000000060070170000000f5300650072007600
		6500720002000c0044006f006d00610069006e0001000c005300650072007600
		6500720000000000`)
	auth := unhex(`4e544c4d53535000030000001800180058000000 8a008a0070000000
		0c000c00fa000000 0800080006010000 100010000e010000 0000000058000000 03820800
		0000000000000000 f7361633f0ad9bdf4a7c421bc6b824a3
		000000000000000000000000000000000000000000000000
		8c0260dbef690662af9c42d50782d2ed 0101000000000000 800bc8fd00d4d201 aaaaaaaaaaaaaaaa 00000000
		02000c0044006f006d00610069006e00 01000c00530065007200760065007200 0600040002000000
		0a0010006586e99d81c2fc984e47172fd4dd0310
		0900160048005400540050002f00530065007200760065007200 00000000 00000000
		44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200`)
	now := time.Date(2017, 5, 23, 20, 13, 7, 0, time.UTC)
	ss := specSession(t, now, chal, neg)
	if _, done, err := ss.Next(auth); err != nil || !done {
		t.Fatalf("Next(message with MIC) = %v, %v, want done", done, err)
	}
	bad := bytes.Clone(auth)
	bad[72] ^= 1 // the MIC
	ss = specSession(t, now, chal, neg)
	if _, _, err := ss.Next(bad); !errorsIs(err, ErrMIC) {
		t.Errorf("Next(message with a flipped MIC bit) = %v, want ErrMIC", err)
	}
	ss = specSession(t, now, chal[:len(chal)-1], neg) // a different CHALLENGE
	if _, _, err := ss.Next(auth); !errorsIs(err, ErrMIC) {
		t.Errorf("Next(message, other CHALLENGE) = %v, want ErrMIC", err)
	}
}

func TestFileTime(t *testing.T) {
	tests := []struct {
		t    time.Time
		want uint64
	}{
		{time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Unix(0, 0), 116444736000000000},
		// davenport's example: 2003-06-17 10:00 UTC.
		{time.Unix(1055844000, 0), 0x01c334b736d39000},
	}
	for _, tt := range tests {
		if got := fileTime(tt.t); got != tt.want {
			t.Errorf("fileTime(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
}
