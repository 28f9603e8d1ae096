package ntlm

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// specV1Authenticate lays out an AUTHENTICATE_MESSAGE with the names of
// MS-NLMP section 4.2 (domain "Domain", user "User", workstation
// "COMPUTER") around the given responses, as section 4.2.2.3 does.
func specV1Authenticate(flags uint32, lm, nt, encKey []byte) []byte {
	// 72: with VERSION, without MIC, as in section 4.2.2.3.
	return layoutAuthenticate(72, flags, unhex("0501280a0000000f"), lm, nt, encodeUTF16("Domain"), encodeUTF16("User"), encodeUTF16("COMPUTER"), encKey)
}

// TestSpecNTLMv1 verifies the NTLMv1 responses of MS-NLMP section 4.2.2
// (NTLMv1 authentication) and 4.2.3 (NTLMv1 with client challenge, the
// NTLM2 session response of extended session security) end to end, against
// the section's server challenge and password.
func TestSpecNTLMv1(t *testing.T) {
	const (
		// Section 4.2.2's flags: KEY_EXCH, 56, 128, VERSION, no ESS.
		flagsV1 uint32 = 0xe2028233
		// Section 4.2.3: 0x820a8233, with EXTENDED_SESSIONSECURITY.
		flagsESS uint32 = 0x820a8233
	)
	if flagsV1&flagExtendedSessionSecurity != 0 || flagsESS&flagExtendedSessionSecurity == 0 {
		t.Fatal("the section's flags do not say what the test assumes")
	}
	v1 := specV1Authenticate(flagsV1,
		unhex("98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13"), // LMv1 (4.2.2.2.2)
		unhex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94"), // NTLMv1 (4.2.2.2.1)
		unhex("518822b1b3f350c8958682ecbb3e3cb7"))                 // 4.2.2.2.3
	ess := specV1Authenticate(flagsESS,
		unhex("aaaaaaaaaaaaaaaa00000000000000000000000000000000"), // client challenge, padded (4.2.3.2.1)
		unhex("7537f803ae367128ca458204bde7caf81e97ed2683267232"), // 4.2.3.2.2
		nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		msg      []byte
		password string
		v2Only   bool
		wantErr  error
	}{
		{"NTLMv1 (4.2.2.3)", v1, "Password", false, nil},
		{"NTLMv1 with ESS (4.2.3)", ess, "Password", false, nil},
		{"NTLMv1, other password", v1, "Passw0rd", false, ErrLogonFailure},
		{"NTLMv1 with ESS, other password", ess, "Passw0rd", false, ErrLogonFailure},
		{"NTLMv1 with RequireNTLMv2", v1, "Password", true, ErrNTLMv1},
		{"NTLMv1 with ESS with RequireNTLMv2", ess, "Password", true, ErrNTLMv1},
		// The ESS message read without ESS: the NT response is then
		// DESL(hash, server challenge), which it is not.
		{"NTLMv1 with ESS, flag cleared", func() []byte {
			m := append([]byte(nil), ess...)
			binary.LittleEndian.PutUint32(m[60:], flagsESS&^flagExtendedSessionSecurity)
			return m
		}(), "Password", false, ErrLogonFailure},
	}
	for _, tt := range tests {
		ss := specSession(t, now, nil, nil)
		ss.srv.opts.RequireNTLMv2 = tt.v2Only
		ss.srv.opts.Lookup = func(user, domain string) (string, string, bool) {
			if strings.EqualFold(user, "User") {
				return tt.password, domain + `\` + user, true
			}
			return "", "", false
		}
		_, done, err := ss.Next(tt.msg)
		if tt.wantErr == nil {
			if err != nil || !done {
				t.Errorf("%s: Next = %v, %v, want done", tt.name, done, err)
				continue
			}
			if id := ss.Identity(); id.Account != `Domain\User` || id.NTLMv2 {
				t.Errorf("%s: Identity() = %+v, want Domain\\User over NTLMv1", tt.name, id)
			}
			continue
		}
		if !errorsIs(err, tt.wantErr) {
			t.Errorf("%s: Next = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

// TestSpecNTLMv1ESSKeys checks the session keys of section 4.2.3.1: the
// SessionBaseKey and the KeyExchangeKey of NTLMv1 with ESS, which
// verifyV1 derives the signing and sealing keys from.
func TestSpecNTLMv1ESSKeys(t *testing.T) {
	ntHash := ntowfv1("Password")
	base := md4Sum(ntHash)
	if want := unhex("d87262b0cde4b1cb7499becccdf10784"); !bytes.Equal(base, want) {
		t.Errorf("SessionBaseKey = %x, want %x", base, want)
	}
	kx := hmacMD5(base, specServerChallenge, specClientChallenge)
	if want := unhex("eb93429a8bd952f8b89c55b87f475edc"); !bytes.Equal(kx, want) {
		t.Errorf("KeyExchangeKey = %x, want %x", kx, want)
	}
}
