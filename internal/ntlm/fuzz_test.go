package ntlm

import (
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// FuzzNegotiateMessage feeds arbitrary bytes to a new session: a CHALLENGE
// or an error, never a panic.
func FuzzNegotiateMessage(f *testing.F) {
	fuzzseed.Add(f, (&testClient{}).negotiateMessage())
	fuzzseed.Add(f, (&testClient{}).negotiateMessage()[:16])
	fuzzseed.Add(f, unhex("4e544c4d5353500001000000b78208e2000000000000000000000000000000000a00614a0000000f"))
	fuzzseed.Add(f, unhex("4e544c4d53535000010000000732000006000600330000000b000b0028000000050093080000000f574f524b53544154494f4e444f4d41494e"))
	fuzzseed.Add(f, []byte("NTLMSSP\x00\x01\x00\x00\x00"))
	srv := NewServer(labOptions())
	f.Fuzz(func(t *testing.T, msg []byte) {
		chal, done, err := srv.NewSession().Next(msg)
		if done {
			t.Fatalf("Next(NEGOTIATE) done")
		}
		if err == nil {
			if _, err := parseChallengeForTest(chal); err != nil {
				t.Fatalf("the CHALLENGE does not parse: %v", err)
			}
		}
	})
}

// FuzzAuthenticateMessage feeds arbitrary bytes, as the AUTHENTICATE of a
// session that has sent its CHALLENGE, to the parser and the verifier.
func FuzzAuthenticateMessage(f *testing.F) {
	srv := NewServer(labOptions())
	ready, good := validAuthenticate(f, srv)
	fuzzseed.Add(f, good)
	fuzzseed.Add(f, specAuthenticate)
	fuzzseed.Add(f, anonymousAuthenticate())
	fuzzseed.Add(f, good[:64])
	f.Fuzz(func(t *testing.T, msg []byte) {
		parseAuthenticate(msg)
		ss := *ready // a session waiting for its AUTHENTICATE
		if _, done, err := ss.Next(msg); done != (err == nil) {
			t.Fatalf("Next(AUTHENTICATE) = %v, %v", done, err)
		}
	})
}

// FuzzSPNEGO feeds arbitrary first and second tokens to the acceptor.
func FuzzSPNEGO(f *testing.F) {
	neg := (&testClient{}).negotiateMessage()
	fuzzseed.Add(f, spnegoInit([][]byte{oidDER(oidNTLMSSP)}, neg), []byte{0xa1, 0x00})
	fuzzseed.Add(f, spnegoInit([][]byte{oidDER(oidKerberos), oidDER(oidNTLMSSP)}, []byte{1, 2, 3}), spnegoResp(neg, nil))
	srv := NewServer(labOptions())
	f.Fuzz(func(t *testing.T, first, second []byte) {
		a := &spnegoAcceptor{sess: srv.NewSession()}
		if _, _, err := a.step(first); err != nil {
			return
		}
		a.step(second)
	})
}

func parseChallengeForTest(chal []byte) ([]avPair, error) {
	if err := checkHeader(chal, typeChallenge, 56); err != nil {
		return nil, err
	}
	ti, err := readField(chal, 40, 56, "TargetInfo")
	if err != nil {
		return nil, err
	}
	return parseAVPairs(ti.bytes(chal))
}
