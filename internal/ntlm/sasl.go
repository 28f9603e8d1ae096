package ntlm

import (
	"fmt"

	"github.com/emersion/go-sasl"
)

// Mechanism is the SASL mechanism name of NTLM in SMTP AUTH (MS-SMTPNTLM),
// POP3 AUTH (MS-POP3) and IMAP AUTHENTICATE, which all run the same
// base64 exchange.
const Mechanism = "NTLM"

// SMTPSupportedText is the text of Exchange's SMTP_NTLM_Supported_Response,
// "334 ntlm supported", its answer to AUTH NTLM without an initial response
// (MS-SMTPNTLM sections 2.2.1.2 and 4.1). The text is not base64: clients
// ignore it. A SASLServer's first challenge is empty instead, which a
// transport that base64-encodes every challenge sends as "334 " or "+ ".
const SMTPSupportedText = "ntlm supported"

// SASLServer is the server side of the NTLM SASL exchange: the client sends
// the NEGOTIATE_MESSAGE (as the initial response or after an empty
// challenge), the server answers with the CHALLENGE_MESSAGE, the client
// sends the AUTHENTICATE_MESSAGE. It implements sasl.Server.
type SASLServer struct {
	sess      *Session
	onSuccess func(account string) error
	greeted   bool
}

var _ sasl.Server = (*SASLServer)(nil)

// NewSASLServer starts an NTLM SASL exchange with s. onSuccess, which may
// be nil, is called with the account once the AUTHENTICATE_MESSAGE has been
// verified; its error fails the exchange.
func NewSASLServer(s *Server, onSuccess func(account string) error) *SASLServer {
	return &SASLServer{sess: s.NewSession(), onSuccess: onSuccess}
}

// Next implements sasl.Server. response is nil when the client sent no
// initial response.
func (x *SASLServer) Next(response []byte) (challenge []byte, done bool, err error) {
	if len(response) == 0 && !x.greeted && x.sess.state == stateNegotiate {
		// AUTH NTLM without an initial response: invite the
		// NEGOTIATE_MESSAGE (MS-SMTPNTLM section 3.2.5.1, MS-POP3
		// section 3.2.5.1).
		x.greeted = true
		return []byte{}, false, nil
	}
	x.greeted = true
	challenge, done, err = x.sess.Next(response)
	if err != nil {
		return nil, false, fmt.Errorf("ntlm: sasl: %w", err)
	}
	if !done {
		return challenge, false, nil
	}
	if x.onSuccess != nil {
		if err := x.onSuccess(x.sess.Account()); err != nil {
			return nil, false, fmt.Errorf("ntlm: sasl: %w", err)
		}
	}
	return nil, true, nil
}

// Account returns the authenticated account once Next is done, else "".
func (x *SASLServer) Account() string { return x.sess.Account() }

// Identity returns what the authentication established once Next is done.
func (x *SASLServer) Identity() Identity { return x.sess.Identity() }
