package ntlm

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors of a failed authentication. Every error that Session.Next returns
// wraps one of them; all of them mean "logon failed" to the transport.
var (
	// ErrMalformed: the message is not a well-formed NTLM message.
	ErrMalformed = errors.New("ntlm: malformed message")
	// ErrUnexpected: a message out of sequence (a CHALLENGE, an
	// AUTHENTICATE before the NEGOTIATE, anything after the end).
	ErrUnexpected = errors.New("ntlm: unexpected message")
	// ErrLogonFailure: unknown user or wrong password. The two are not told
	// apart, as Windows does not tell them apart (STATUS_LOGON_FAILURE).
	ErrLogonFailure = errors.New("ntlm: logon failure")
	// ErrAnonymous: an anonymous AUTHENTICATE_MESSAGE (MS-NLMP section
	// 3.2.5.1.2), which exsim refuses.
	ErrAnonymous = errors.New("ntlm: anonymous logon refused")
	// ErrNTLMv1: an NTLMv1 response while Options.RequireNTLMv2 is set.
	ErrNTLMv1 = errors.New("ntlm: NTLMv1 refused")
	// ErrClockSkew: the NTLMv2 response's timestamp is further than
	// Options.MaxClockSkew from the server's clock (MS-NLMP section 3.2.5.1.2).
	ErrClockSkew = errors.New("ntlm: response timestamp outside the allowed clock skew")
	// ErrMIC: the AUTHENTICATE_MESSAGE's MIC, or a SPNEGO mechListMIC, does
	// not verify.
	ErrMIC = errors.New("ntlm: message integrity check failed")
)

// DefaultMaxClockSkew is MS-NLMP's MaxLifetime as Windows sets it: 36 hours
// (MS-NLMP section 3.1.1.1).
const DefaultMaxClockSkew = 36 * time.Hour

// Options configure a Server: who the server says it is in its CHALLENGE
// and how it finds passwords.
type Options struct {
	// TargetName is the NetBIOS domain name, CONTOSO: the CHALLENGE's
	// TargetName and MsvAvNbDomainName.
	TargetName string
	// DNSDomain is the DNS domain (and forest) name, contoso.com.
	DNSDomain string
	// DNSComputer is the server's FQDN, ex01.contoso.com.
	DNSComputer string
	// NetBIOSComputer is the server's NetBIOS name, EX01.
	NetBIOSComputer string
	// Lookup returns the plain-text password of a user and the account name
	// the caller wants reported (for example the primary SMTP address).
	// user and domain are as the client sent them: ("alice", "CONTOSO"),
	// ("alice@contoso.com", ""), ("alice", ""); the caller resolves them.
	// ok false means no such user. Required.
	// Lookup is called concurrently by concurrent sessions.
	Lookup func(user, domain string) (password, account string, ok bool)
	// RequireNTLMv2 refuses NTLMv1 responses (with or without extended
	// session security), as a Windows server whose "Network security: LAN
	// Manager authentication level" is 5 (Send NTLMv2 response only.
	// Refuse LM & NTLM). Default false: NTLMv1 and NTLMv2 are both
	// accepted, as at Windows' default level 3, where servers accept LM,
	// NTLM and NTLMv2.
	RequireNTLMv2 bool
	// MaxClockSkew bounds the difference between the NTLMv2 response's
	// timestamp and the server's clock. Zero means DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of server challenges; nil means crypto/rand.
	Rand io.Reader
}

// Server is the NTLM acceptor of one Exchange persona. It is safe for
// concurrent use; each authentication has its own Session.
// It does not log: the transports log logons with their own context.
type Server struct {
	opts       Options
	targetName string // the NetBIOS domain, or the computer name without one
}

// NewServer returns a Server. Without Options.Lookup every logon fails.
func NewServer(o Options) *Server {
	if o.MaxClockSkew <= 0 {
		o.MaxClockSkew = DefaultMaxClockSkew
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Lookup == nil {
		o.Lookup = func(string, string) (string, string, bool) { return "", "", false }
	}
	s := &Server{opts: o, targetName: o.TargetName}
	if s.targetName == "" {
		s.targetName = o.NetBIOSComputer
	}
	return s
}

// NewSession starts one authentication.
func (s *Server) NewSession() *Session {
	return &Session{srv: s}
}

// session states.
const (
	stateNegotiate    = iota // waiting for the NEGOTIATE_MESSAGE
	stateAuthenticate        // CHALLENGE sent, waiting for the AUTHENTICATE_MESSAGE
	stateDone                // authenticated
	stateFailed              // failed; every further message is refused
)

// Session is one NTLM authentication: NEGOTIATE in, CHALLENGE out,
// AUTHENTICATE in. It is not safe for concurrent use.
type Session struct {
	srv             *Server
	state           int
	negotiate       []byte // the raw messages, for the MIC
	challenge       []byte
	serverChallenge [8]byte
	flags           uint32 // the flags of the CHALLENGE
	issued          time.Time
	id              Identity
	keys            *sessionKeys // set after an NTLMv2 logon with extended session security
}

// Identity is what an authentication established.
type Identity struct {
	// Account is the account Lookup returned.
	Account string
	// User, Domain and Workstation are as the client sent them.
	User, Domain, Workstation string
	// NTLMv2 is false for an NTLMv1 logon (with or without extended
	// session security).
	NTLMv2 bool
}

// Next takes a client message and returns the server's answer: the
// CHALLENGE_MESSAGE after the NEGOTIATE_MESSAGE, and nil with done true
// after a valid AUTHENTICATE_MESSAGE. Any error ends the session.
func (ss *Session) Next(msg []byte) (challenge []byte, done bool, err error) {
	switch ss.state {
	case stateNegotiate:
		challenge, err = ss.negotiateStep(msg)
		if err != nil {
			ss.state = stateFailed
			return nil, false, err
		}
		ss.state = stateAuthenticate
		return challenge, false, nil
	case stateAuthenticate:
		if err := ss.authenticateStep(msg); err != nil {
			ss.state = stateFailed
			return nil, false, err
		}
		ss.state = stateDone
		return nil, true, nil
	}
	ss.state = stateFailed
	return nil, false, fmt.Errorf("ntlm: message after the end of the authentication: %w", ErrUnexpected)
}

// Done reports whether the session authenticated a user.
func (ss *Session) Done() bool { return ss.state == stateDone }

// Account returns the authenticated account, "" before success.
func (ss *Session) Account() string {
	if ss.state != stateDone {
		return ""
	}
	return ss.id.Account
}

// Identity returns what the authentication established (zero before success).
func (ss *Session) Identity() Identity {
	if ss.state != stateDone {
		return Identity{}
	}
	return ss.id
}

// negotiateStep answers a NEGOTIATE_MESSAGE with a CHALLENGE_MESSAGE
// (MS-NLMP section 3.2.5.1.1).
func (ss *Session) negotiateStep(msg []byte) ([]byte, error) {
	if t := messageType(msg); t != typeNegotiate && t != 0 {
		return nil, fmt.Errorf("ntlm: message type %d, want a NEGOTIATE_MESSAGE: %w", t, ErrUnexpected)
	}
	neg, err := parseNegotiate(msg)
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(ss.srv.opts.Rand, ss.serverChallenge[:]); err != nil {
		return nil, fmt.Errorf("ntlm: server challenge: %w", err)
	}
	ss.flags = challengeFlags(neg.flags)
	ss.issued = ss.srv.opts.Now()
	o := ss.srv.opts
	enc := encodeUTF16
	if ss.flags&flagUnicode == 0 {
		enc = encodeOEM
	}
	// Target info in Windows' order: NetBIOS domain, NetBIOS computer, DNS
	// domain, DNS computer, DNS tree, timestamp (MS-NLMP section 2.2.2.1).
	// AV pair values are always UTF-16.
	var ti []byte
	ti = appendAVPair(ti, avNbDomainName, encodeUTF16(ss.srv.targetName))
	ti = appendAVPair(ti, avNbComputerName, encodeUTF16(o.NetBIOSComputer))
	if o.DNSDomain != "" {
		ti = appendAVPair(ti, avDNSDomainName, encodeUTF16(o.DNSDomain))
	}
	if o.DNSComputer != "" {
		ti = appendAVPair(ti, avDNSComputerName, encodeUTF16(o.DNSComputer))
	}
	if o.DNSDomain != "" {
		ti = appendAVPair(ti, avDNSTreeName, encodeUTF16(o.DNSDomain))
	}
	var ts [8]byte
	putUint64(ts[:], fileTime(ss.issued))
	ti = appendAVPair(ti, avTimestamp, ts[:])
	ti = appendAVPair(ti, avEOL, nil)
	ss.negotiate = append([]byte(nil), msg...)
	ss.challenge = buildChallenge(ss.flags, ss.serverChallenge, enc(ss.srv.targetName), ti)
	return ss.challenge, nil
}

// challengeFlags picks the CHALLENGE's flags from the client's
// (MS-NLMP section 3.2.5.1.1): the options both sides support, the target
// information always (NTLMv2 needs it), NTLM, and a domain target.
func challengeFlags(client uint32) uint32 {
	f := flagNTLM | flagTargetInfo | flagTargetTypeDomain | flagRequestTarget
	if client&flagUnicode != 0 {
		f |= flagUnicode
	} else {
		f |= flagOEM
	}
	// Echoed as the client asks. LM_KEY, DATAGRAM and IDENTIFY are never
	// granted; extended session security wins over LM_KEY (section 2.2.2.5).
	f |= client & (flagSign | flagSeal | flagAlwaysSign | flagExtendedSessionSecurity |
		flag128 | flag56 | flagKeyExch | flagVersion)
	return f
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}
