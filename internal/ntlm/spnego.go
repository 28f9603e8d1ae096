package ntlm

import (
	"crypto/hmac"
	"encoding/asn1"
	"fmt"
)

// SPNEGO (RFC 4178) carrying NTLMSSP, as HTTP "Negotiate" (RFC 4559) uses
// it: Windows clients, browsers and Outlook wrap their NTLM messages in it.

var (
	oidSPNEGO  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}
	oidNTLMSSP = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}
)

// negState values (RFC 4178 section 4.2.2).
const (
	negAcceptCompleted  = 0
	negAcceptIncomplete = 1
	negRequestMIC       = 3
)

// negTokenInit is RFC 4178 section 4.2.1's NegTokenInit.
type negTokenInit struct {
	MechTypes   asn1.RawValue  `asn1:"explicit,tag:0"`
	ReqFlags    asn1.BitString `asn1:"explicit,optional,tag:1"`
	MechToken   []byte         `asn1:"explicit,optional,tag:2"`
	MechListMIC []byte         `asn1:"explicit,optional,tag:3"`
}

// negTokenResp is RFC 4178 section 4.2.2's NegTokenResp, for parsing.
type negTokenResp struct {
	NegState      asn1.Enumerated       `asn1:"explicit,optional,tag:0"`
	SupportedMech asn1.ObjectIdentifier `asn1:"explicit,optional,tag:1"`
	ResponseToken []byte                `asn1:"explicit,optional,tag:2"`
	MechListMIC   []byte                `asn1:"explicit,optional,tag:3"`
}

// isSPNEGO tells a SPNEGO token (GSS-API InitialContextToken, or a bare
// NegotiationToken) from a raw NTLMSSP message.
func isSPNEGO(tok []byte) bool {
	return len(tok) > 0 && (tok[0] == 0x60 || tok[0] == 0xa0 || tok[0] == 0xa1)
}

// parseNegTokenInit reads the initiator's first token: [APPLICATION 0]
// { thisMech OID, [0] NegTokenInit } (RFC 2743 section 3.1, RFC 4178
// section 4.2), or [0] NegTokenInit alone.
func parseNegTokenInit(tok []byte) (*negTokenInit, error) {
	inner := tok
	if len(tok) > 0 && tok[0] == 0x60 {
		var app asn1.RawValue
		rest, err := asn1.Unmarshal(tok, &app)
		if err != nil || len(rest) != 0 || app.Class != asn1.ClassApplication || app.Tag != 0 {
			return nil, fmt.Errorf("%w: GSS-API token: %v", ErrMalformed, err)
		}
		var mech asn1.ObjectIdentifier
		inner, err = asn1.Unmarshal(app.Bytes, &mech)
		if err != nil {
			return nil, fmt.Errorf("%w: GSS-API mechanism: %v", ErrMalformed, err)
		}
		if !mech.Equal(oidSPNEGO) {
			return nil, fmt.Errorf("%w: GSS-API mechanism %v is not SPNEGO", ErrMalformed, mech)
		}
	}
	return parseNegToken[negTokenInit](inner, 0, "NegTokenInit")
}

// parseNegTokenResp reads [1] NegTokenResp.
func parseNegTokenResp(tok []byte) (*negTokenResp, error) {
	return parseNegToken[negTokenResp](tok, 1, "NegTokenResp")
}

// parseNegToken reads the NegotiationToken choice [tag] as a T; name
// names the choice in errors (RFC 4178 section 4.2).
func parseNegToken[T any](tok []byte, tag int, name string) (*T, error) {
	var choice asn1.RawValue
	if rest, err := asn1.Unmarshal(tok, &choice); err != nil || len(rest) != 0 ||
		choice.Class != asn1.ClassContextSpecific || choice.Tag != tag {
		return nil, fmt.Errorf("%w: not a %s", ErrMalformed, name)
	}
	var v T
	if rest, err := asn1.Unmarshal(choice.Bytes, &v); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	return &v, nil
}

// spnegoAcceptor runs SPNEGO around an NTLM Session.
type spnegoAcceptor struct {
	sess *Session
	// mechTypes is the DER MechTypeList the initiator sent, which the
	// mechListMIC covers (RFC 4178 section 5).
	mechTypes []byte
	// preferred: NTLM was the initiator's first mechanism. Otherwise the
	// MIC exchange is mandatory (RFC 4178 section 5).
	preferred bool
	started   bool
}

// step takes one SPNEGO token and returns the acceptor's answer; done is
// true once NTLM has authenticated the client and the MICs agree.
func (a *spnegoAcceptor) step(tok []byte) (out []byte, done bool, err error) {
	if !a.started {
		a.started = true
		init, err := parseNegTokenInit(tok)
		if err != nil {
			return nil, false, fmt.Errorf("ntlm: spnego: %w", err)
		}
		// An explicit [0] RawValue keeps the tag: its Bytes are the DER
		// MechTypeList.
		var mechs []asn1.ObjectIdentifier
		if rest, err := asn1.Unmarshal(init.MechTypes.Bytes, &mechs); err != nil || len(rest) != 0 {
			return nil, false, fmt.Errorf("ntlm: spnego: %w: MechTypeList", ErrMalformed)
		}
		found := false
		for _, m := range mechs { // an empty list offers nothing
			found = found || m.Equal(oidNTLMSSP)
		}
		if !found {
			return nil, false, fmt.Errorf("ntlm: spnego: %w: the initiator does not offer NTLMSSP", ErrUnexpected)
		}
		a.mechTypes = init.MechTypes.Bytes
		a.preferred = mechs[0].Equal(oidNTLMSSP)
		if !a.preferred || len(init.MechToken) == 0 {
			// The optimistic token is for another mechanism (Kerberos,
			// NegoEx), or there is none: select NTLM and wait for its
			// NEGOTIATE_MESSAGE (RFC 4178 section 4.2.2).
			state := negAcceptIncomplete
			if !a.preferred {
				state = negRequestMIC
			}
			return negTokenRespDER(state, true, nil, nil), false, nil
		}
		challenge, _, err := a.sess.Next(init.MechToken)
		if err != nil {
			return nil, false, err
		}
		return negTokenRespDER(negAcceptIncomplete, true, challenge, nil), false, nil
	}
	resp, err := parseNegTokenResp(tok)
	if err != nil {
		return nil, false, fmt.Errorf("ntlm: spnego: %w", err)
	}
	if len(resp.ResponseToken) == 0 {
		return nil, false, fmt.Errorf("ntlm: spnego: %w: NegTokenResp without an NTLM message", ErrUnexpected)
	}
	challenge, done, err := a.sess.Next(resp.ResponseToken)
	if err != nil {
		return nil, false, err
	}
	if !done {
		return negTokenRespDER(negAcceptIncomplete, false, challenge, nil), false, nil
	}
	mic, err := a.mechListMIC(resp.MechListMIC)
	if err != nil {
		a.sess.state = stateFailed
		return nil, false, err
	}
	return negTokenRespDER(negAcceptCompleted, false, nil, mic), true, nil
}

// mechListMIC verifies the initiator's mechListMIC, when there is one, and
// returns the acceptor's: GSS_GetMIC over the DER MechTypeList with the
// NTLM session keys, sequence number 0 in each direction (RFC 4178
// section 5, MS-SPNG section 3.3.5.1, MS-NLMP section 3.4.4.2).
func (a *spnegoAcceptor) mechListMIC(clientMIC []byte) ([]byte, error) {
	k := a.sess.keys
	if k == nil {
		// No extended session security: no key to sign with. Such clients
		// (NTLMv1 without ESS) do not send a mechListMIC either.
		return nil, nil
	}
	if len(clientMIC) > 0 {
		want := k.getMIC(k.clientSign, k.clientSeal, a.mechTypes)
		if !hmac.Equal(clientMIC, want) {
			return nil, fmt.Errorf("ntlm: spnego: mechListMIC: %w", ErrMIC)
		}
	} else if a.preferred {
		return nil, nil
	}
	return k.getMIC(k.serverSign, k.serverSeal, a.mechTypes), nil
}

// negTokenRespDER encodes [1] NegTokenResp by hand: encoding/asn1 would
// drop negState accept-completed, whose value is the zero value.
func negTokenRespDER(state int, supportedMech bool, token, mic []byte) []byte {
	seq := derTLV(0xa0, derTLV(0x0a, []byte{byte(state)}))
	if supportedMech {
		oid, _ := asn1.Marshal(oidNTLMSSP)
		seq = append(seq, derTLV(0xa1, oid)...)
	}
	if token != nil {
		seq = append(seq, derTLV(0xa2, derTLV(0x04, token))...)
	}
	if mic != nil {
		seq = append(seq, derTLV(0xa3, derTLV(0x04, mic))...)
	}
	return derTLV(0xa1, derTLV(0x30, seq))
}

// derTLV encodes one DER element with a definite length.
func derTLV(tag byte, content []byte) []byte {
	n := len(content)
	var hdr []byte
	switch {
	case n < 0x80:
		hdr = []byte{tag, byte(n)}
	case n < 0x100:
		hdr = []byte{tag, 0x81, byte(n)}
	case n < 0x10000:
		hdr = []byte{tag, 0x82, byte(n >> 8), byte(n)}
	default:
		hdr = []byte{tag, 0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(hdr, content...)
}
