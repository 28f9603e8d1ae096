package ntlm

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// authenticateStep verifies an AUTHENTICATE_MESSAGE (MS-NLMP section
// 3.2.5.1.2) against the password Lookup returns.
func (ss *Session) authenticateStep(msg []byte) error {
	if t := messageType(msg); t != typeAuthenticate && t != 0 {
		return fmt.Errorf("ntlm: message type %d, want an AUTHENTICATE_MESSAGE: %w", t, ErrUnexpected)
	}
	am, err := parseAuthenticate(msg)
	if err != nil {
		return err
	}
	if am.user == "" {
		// MS-NLMP section 3.2.5.1.2: an empty user name and empty responses
		// (or an LM response of one zero byte) are the ANONYMOUS user.
		if len(am.ntResponse) == 0 && (len(am.lmResponse) == 0 || bytes.Equal(am.lmResponse, []byte{0})) {
			return fmt.Errorf("ntlm: authenticate: %w", ErrAnonymous)
		}
		return fmt.Errorf("ntlm: authenticate: empty user name: %w", ErrLogonFailure)
	}
	password, account, known := ss.srv.opts.Lookup(am.user, am.domain)
	if !known {
		// Do the same work for an unknown user as for a wrong password.
		var b [16]byte
		rand.Read(b[:])
		password = hex.EncodeToString(b[:])
	}
	ntHash := ntowfv1(password)
	var v2 bool
	switch n := len(am.ntResponse); {
	case n > 24, n == 0 && len(am.lmResponse) == 24:
		err = ss.verifyV2(msg, am, ntHash)
		v2 = true
	case n == 24:
		if ss.srv.opts.RequireNTLMv2 {
			return fmt.Errorf("ntlm: authenticate %s\\%s: %w", am.domain, am.user, ErrNTLMv1)
		}
		err = ss.verifyV1(am, ntHash)
	case n == 0:
		return fmt.Errorf("ntlm: authenticate %s\\%s: no challenge response: %w", am.domain, am.user, ErrLogonFailure)
	default:
		return fmt.Errorf("ntlm: authenticate: NtChallengeResponse of %d bytes: %w", n, ErrMalformed)
	}
	if err == nil && !known {
		err = ErrLogonFailure // cannot happen short of guessing a random password
	}
	if err != nil {
		ss.keys = nil
		return fmt.Errorf("ntlm: authenticate %s\\%s: %w", am.domain, am.user, err)
	}
	ss.id = Identity{Account: account, User: am.user, Domain: am.domain, Workstation: am.workstation, NTLMv2: v2}
	return nil
}

// domainCandidates are the user domains a client may have used in NTOWFv2:
// the one it sent, its upper-case form, and none (MS-NLMP section
// 3.2.5.1.2: servers SHOULD support clients that use NIL for UserDom).
func domainCandidates(domain string) []string {
	c := []string{domain}
	if u := strings.ToUpper(domain); u != domain {
		c = append(c, u)
	}
	if domain != "" {
		c = append(c, "")
	}
	return c
}

// verifyV2 checks an NTLMv2 response, or an LMv2 response alone (MS-NLMP
// section 3.3.2), then the timestamp and the MIC.
func (ss *Session) verifyV2(msg []byte, am *authenticateMessage, ntHash []byte) error {
	sc := ss.serverChallenge[:]
	var temp, proof []byte
	if len(am.ntResponse) > 0 {
		// NTLMv2_RESPONSE: 16-byte NTProofStr, then NTLMv2_CLIENT_CHALLENGE:
		// RespType, HiRespType, 6 reserved bytes, TimeStamp, ChallengeFromClient,
		// 4 reserved bytes, AvPairs (MS-NLMP sections 2.2.2.7 and 2.2.2.8).
		if len(am.ntResponse) < 16+28+4 {
			return fmt.Errorf("%w: NTLMv2 response of %d bytes", ErrMalformed, len(am.ntResponse))
		}
		proof, temp = am.ntResponse[:16], am.ntResponse[16:]
		if temp[0] != 1 {
			return fmt.Errorf("%w: NTLMv2 RespType %d", ErrMalformed, temp[0])
		}
	}
	var pairs []avPair
	if temp != nil {
		var err error
		if pairs, err = parseAVPairs(temp[28:]); err != nil {
			return err
		}
	}
	// MS-NLMP section 3.2.5.1.2's pseudocode accepts a matching LM response
	// when the NT response does not match. exsim accepts the LMv2 response
	// only when there is no NT response: otherwise a relay could spoil the
	// NT response, and with it the MIC announcement, and pass on the LMv2
	// response (the "drop the MIC" attacks).
	var key []byte
	for _, d := range domainCandidates(am.domain) {
		k := ntowfv2(ntHash, am.user, d)
		if proof != nil && hmac.Equal(hmacMD5(k, sc, temp), proof) ||
			proof == nil && hmac.Equal(hmacMD5(k, sc, am.lmResponse[16:]), am.lmResponse[:16]) {
			key = k
			break
		}
	}
	if key == nil {
		return ErrLogonFailure
	}
	if temp == nil {
		return nil // LMv2 alone: no timestamp, no MIC, no session key
	}
	ts := binary.LittleEndian.Uint64(temp[8:16])
	if !ss.withinSkew(ts) {
		return ErrClockSkew
	}
	// SessionBaseKey, and KeyExchangeKey for NTLMv2 (MS-NLMP sections 3.3.2
	// and 3.4.5.1).
	exported := exportedSessionKey(am.flags, hmacMD5(key, proof), am.encryptedSessionKey)
	if err := ss.checkMIC(msg, am, pairs, exported); err != nil {
		return err
	}
	if am.flags&flagExtendedSessionSecurity != 0 {
		ss.keys = deriveKeys(am.flags, exported)
	}
	return nil
}

// withinSkew compares an NTLMv2 timestamp with the server's clock
// (MS-NLMP section 3.2.5.1.2, MaxLifetime).
func (ss *Session) withinSkew(ts uint64) bool {
	now := fileTime(ss.srv.opts.Now())
	d := now - ts
	if ts > now {
		d = ts - now
	}
	return d <= uint64(ss.srv.opts.MaxClockSkew/100)
}

// checkMIC verifies the MIC when the client's MsvAvFlags say there is one
// (MS-NLMP section 3.2.5.1.2): HMAC_MD5(ExportedSessionKey, NEGOTIATE +
// CHALLENGE + AUTHENTICATE with the MIC zeroed).
func (ss *Session) checkMIC(msg []byte, am *authenticateMessage, pairs []avPair, exported []byte) error {
	present := false
	for _, p := range pairs {
		if p.id == avFlags && len(p.value) == 4 && binary.LittleEndian.Uint32(p.value)&avFlagMICPresent != 0 {
			present = true
		}
	}
	if !present {
		return nil
	}
	if am.micOffset == 0 {
		return fmt.Errorf("%w: MsvAvFlags announce a MIC the message has no room for", ErrMalformed)
	}
	got := msg[am.micOffset : am.micOffset+16]
	zeroed := bytes.Clone(msg)
	clear(zeroed[am.micOffset : am.micOffset+16])
	want := hmacMD5(exported, ss.negotiate, ss.challenge, zeroed)
	if !hmac.Equal(got, want) {
		return ErrMIC
	}
	return nil
}

// verifyV1 checks an NTLMv1 response, with extended session security (the
// "NTLM2 session response") or without (MS-NLMP section 3.3.1).
func (ss *Session) verifyV1(am *authenticateMessage, ntHash []byte) error {
	sc := ss.serverChallenge[:]
	ess := am.flags&flagExtendedSessionSecurity != 0 && len(am.lmResponse) == 24
	var want []byte
	if ess {
		cc := am.lmResponse[:8]
		want = desl(ntHash, md5Sum(sc, cc)[:8])
	} else {
		want = desl(ntHash, sc)
	}
	if !hmac.Equal(want, am.ntResponse) {
		return ErrLogonFailure
	}
	if ess {
		// KXKEY with extended session security (MS-NLMP section 3.4.5.1).
		base := md4Sum(ntHash)
		kx := hmacMD5(base, sc, am.lmResponse[:8])
		ss.keys = deriveKeys(am.flags, exportedSessionKey(am.flags, kx, am.encryptedSessionKey))
	}
	return nil
}
