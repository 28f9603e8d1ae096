package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"strings"

	"golang.org/x/crypto/md4"

	"github.com/exsim/exsim/internal/ntlm/nlmp"
)

// The MS-NLMP primitives this server shares with its test client.
var (
	ntowfv1     = nlmp.NTOWFv1
	desl        = nlmp.DESL
	encodeUTF16 = nlmp.UTF16LE
)

func md4Sum(b []byte) []byte {
	h := md4.New()
	h.Write(b)
	return h.Sum(nil)
}

// ntowfv2 is NTOWFv2 (and LMOWFv2): HMAC_MD5(NT hash, UNICODE(Uppercase(User)
// + UserDom)) (MS-NLMP section 3.3.2). The user name is case-insensitive,
// the domain is not.
func ntowfv2(ntHash []byte, user, domain string) []byte {
	return hmacMD5(ntHash, encodeUTF16(strings.ToUpper(user)+domain))
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func md5Sum(data ...[]byte) []byte {
	h := md5.New()
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// rc4K is RC4K(K, D), a one-shot RC4 encryption (MS-NLMP section 6).
func rc4K(key, data []byte) []byte {
	c, _ := rc4.NewCipher(key) // 16-byte keys only: cannot fail
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}

// exportedSessionKey applies key exchange (MS-NLMP section 3.2.5.1.2):
// with NTLMSSP_NEGOTIATE_KEY_EXCH the client chose a random session key and
// sent it encrypted with the KeyExchangeKey.
func exportedSessionKey(flags uint32, keyExchangeKey, encryptedRandomSessionKey []byte) []byte {
	if flags&flagKeyExch != 0 && len(encryptedRandomSessionKey) == 16 {
		return rc4K(keyExchangeKey, encryptedRandomSessionKey)
	}
	return keyExchangeKey
}

// Magic constants of SIGNKEY and SEALKEY (MS-NLMP section 3.4.5.2 and 3.4.5.3).
const (
	clientSigningMagic = "session key to client-to-server signing key magic constant\x00"
	serverSigningMagic = "session key to server-to-client signing key magic constant\x00"
	clientSealingMagic = "session key to client-to-server sealing key magic constant\x00"
	serverSealingMagic = "session key to server-to-client sealing key magic constant\x00"
)

// sessionKeys are the per-direction keys of extended session security.
type sessionKeys struct {
	clientSign, serverSign []byte
	clientSeal, serverSeal []byte
	keyExch                bool
}

// deriveKeys is SIGNKEY and SEALKEY with extended session security
// (MS-NLMP sections 3.4.5.2 and 3.4.5.3).
func deriveKeys(flags uint32, exported []byte) *sessionKeys {
	sealBase := exported
	switch {
	case flags&flag128 != 0:
	case flags&flag56 != 0:
		sealBase = exported[:7]
	default:
		sealBase = exported[:5]
	}
	return &sessionKeys{
		clientSign: md5Sum(exported, []byte(clientSigningMagic)),
		serverSign: md5Sum(exported, []byte(serverSigningMagic)),
		clientSeal: md5Sum(sealBase, []byte(clientSealingMagic)),
		serverSeal: md5Sum(sealBase, []byte(serverSealingMagic)),
		keyExch:    flags&flagKeyExch != 0,
	}
}

// mac is the NTLMSSP_MESSAGE_SIGNATURE of msg with extended session
// security (MS-NLMP sections 2.2.2.9.2 and 3.4.4.2). seal is the
// direction's RC4 sealing handle when key exchange was negotiated, else nil.
func mac(signKey []byte, seal *rc4.Cipher, seq uint32, msg []byte) []byte {
	var seqb [4]byte
	binary.LittleEndian.PutUint32(seqb[:], seq)
	checksum := hmacMD5(signKey, seqb[:], msg)[:8]
	if seal != nil {
		seal.XORKeyStream(checksum, checksum)
	}
	sig := make([]byte, 0, 16)
	sig = binary.LittleEndian.AppendUint32(sig, 1)
	sig = append(sig, checksum...)
	return append(sig, seqb[:]...)
}

// getMIC signs msg as the first message of a direction, with a fresh
// sealing handle: this package signs one message per direction, the SPNEGO
// mechListMIC.
func (k *sessionKeys) getMIC(signKey, sealKey []byte, msg []byte) []byte {
	var seal *rc4.Cipher
	if k.keyExch {
		seal, _ = rc4.NewCipher(sealKey) // 16-byte key: cannot fail
	}
	return mac(signKey, seal, 0, msg)
}
