package ntlm

import (
	"crypto/hmac"
	"crypto/rc4"
	"errors"
	"fmt"
)

// ErrBadSignature: a signed or sealed message's NTLMSSP_MESSAGE_SIGNATURE
// does not verify.
var ErrBadSignature = errors.New("ntlm: bad message signature")

// Sealer signs and seals the messages of an authenticated session, as
// DCE/RPC does at packet integrity and privacy level (MS-NLMP sections
// 3.4.3 and 3.4.4, with extended session security). Each direction keeps
// its sequence number and its RC4 handle across messages. It is not safe
// for concurrent use.
type Sealer struct {
	keys                   *sessionKeys
	clientSeal, serverSeal *rc4.Cipher
	clientSeq, serverSeq   uint32
}

// Sealer returns the session's Sealer. It needs an NTLMv2 (or NTLMv1 with
// extended session security) logon that negotiated extended session
// security: without it the keys of section 3.4.5.1 would be needed, which
// this server does not implement.
func (ss *Session) Sealer() (*Sealer, error) {
	if ss.state != stateDone {
		return nil, fmt.Errorf("ntlm: sealing before the authentication completed: %w", ErrUnexpected)
	}
	if ss.keys == nil {
		return nil, fmt.Errorf("ntlm: signing and sealing need extended session security: %w", ErrUnexpected)
	}
	cs, _ := rc4.NewCipher(ss.keys.clientSeal) // 16-byte keys: cannot fail
	sv, _ := rc4.NewCipher(ss.keys.serverSeal)
	return &Sealer{keys: ss.keys, clientSeal: cs, serverSeal: sv}, nil
}

func (s *Sealer) checksumHandle(h *rc4.Cipher) *rc4.Cipher {
	if s.keys.keyExch {
		return h
	}
	return nil
}

// UnsealClient decrypts data (the client's sealed bytes) in place. Call
// VerifyClient next: the RC4 stream runs on from the data to the checksum.
func (s *Sealer) UnsealClient(data []byte) { s.clientSeal.XORKeyStream(data, data) }

// VerifyClient checks the client's signature sig of msg (the plaintext the
// client signed) and advances the client's sequence number.
func (s *Sealer) VerifyClient(msg, sig []byte) error {
	want := mac(s.keys.clientSign, s.checksumHandle(s.clientSeal), s.clientSeq, msg)
	s.clientSeq++
	if !hmac.Equal(want, sig) {
		return ErrBadSignature
	}
	return nil
}

// SealServer encrypts data (the server's plaintext) in place. Call
// SignServer next.
func (s *Sealer) SealServer(data []byte) { s.serverSeal.XORKeyStream(data, data) }

// SignServer returns the server's signature of msg and advances the
// server's sequence number.
func (s *Sealer) SignServer(msg []byte) []byte {
	sig := mac(s.keys.serverSign, s.checksumHandle(s.serverSeal), s.serverSeq, msg)
	s.serverSeq++
	return sig
}
