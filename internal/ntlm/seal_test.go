package ntlm

import (
	"bytes"
	"crypto/rc4"
	"errors"
	"testing"
)

// specSealer is the Sealer of MS-NLMP section 4.2.4 (NTLMv2, extended
// session security, key exchange, random session key 55..55).
func specSealer() *Sealer {
	k := deriveKeys(0xe2888235, specRandomKey)
	cs, _ := rc4.NewCipher(k.clientSeal)
	sv, _ := rc4.NewCipher(k.serverSeal)
	return &Sealer{keys: k, clientSeal: cs, serverSeal: sv}
}

// TestSealerKnownAnswer opens the sealed "Plaintext" of MS-NLMP section
// 4.2.4.4 and checks its signature.
func TestSealerKnownAnswer(t *testing.T) {
	s := specSealer()
	data := unhex("54e50165bf1936dc996020c1811b0f06fb5f")
	s.UnsealClient(data)
	if want := encodeUTF16("Plaintext"); !bytes.Equal(data, want) {
		t.Fatalf("unsealed %x, want %x", data, want)
	}
	if err := s.VerifyClient(data, unhex("010000007fb38ec5c55d497600000000")); err != nil {
		t.Fatal(err)
	}
}

// TestSealerSequence: the server's side of a conversation: each direction
// runs its own sequence number and RC4 stream, and a replayed or altered
// message fails.
func TestSealerSequence(t *testing.T) {
	server := specSealer()
	// The client role, mirrored from the same keys.
	k := server.keys
	clientSeal, _ := rc4.NewCipher(k.clientSeal)
	serverOpen, _ := rc4.NewCipher(k.serverSeal)
	for seq := range uint32(3) {
		msg := []byte("request number x")
		msg[len(msg)-1] = byte('0' + seq)
		sealed := append([]byte(nil), msg...)
		clientSeal.XORKeyStream(sealed, sealed)
		sig := mac(k.clientSign, clientSeal, seq, msg)
		server.UnsealClient(sealed)
		if !bytes.Equal(sealed, msg) {
			t.Fatalf("seq %d: unsealed %q", seq, sealed)
		}
		if err := server.VerifyClient(msg, sig); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		reply := []byte("reply")
		plain := append([]byte(nil), reply...)
		server.SealServer(reply)
		rsig := server.SignServer(plain)
		serverOpen.XORKeyStream(reply, reply)
		if !bytes.Equal(reply, plain) {
			t.Fatalf("seq %d: client opened %q", seq, reply)
		}
		if want := mac(k.serverSign, serverOpen, seq, plain); !bytes.Equal(rsig, want) {
			t.Fatalf("seq %d: server signature %x, want %x", seq, rsig, want)
		}
	}
	// A signature for the wrong sequence number fails.
	sealed := []byte("late")
	if err := server.VerifyClient(sealed, mac(k.clientSign, nil, 0, sealed)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("replayed signature: %v", err)
	}
}

func TestSealerNeedsLogon(t *testing.T) {
	ss := NewServer(Options{}).NewSession()
	if _, err := ss.Sealer(); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("Sealer before logon: %v", err)
	}
}
