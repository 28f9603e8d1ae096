package smtpd

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
)

// advertisedMechanisms is the EHLO AUTH list: the AuthSession's mechanisms,
// without the plaintext ones before TLS when TLS is required for AUTH
// (RFC 4616 section 6).
func (c *Conn) advertisedMechanisms() []string {
	as, ok := c.session.(AuthSession)
	if !ok {
		return nil
	}
	mechs := as.AuthMechanisms()
	if !c.srv.opts.RequireTLSForAuth || c.tlsState != nil {
		return mechs
	}
	out := make([]string, 0, len(mechs))
	for _, m := range mechs {
		if !plaintextMechanism(m) {
			out = append(out, m)
		}
	}
	return out
}

// plaintextMechanism reports the mechanisms that send the password itself,
// which RequireTLSForAuth keeps until TLS.
func plaintextMechanism(m string) bool {
	return strings.EqualFold(m, sasl.Plain) || strings.EqualFold(m, sasl.Login)
}

// cmdAuth handles AUTH <mechanism> [initial-response] (RFC 4954 section 4).
func (c *Conn) cmdAuth(arg []byte) bool {
	switch {
	case !c.ehlo:
		return c.protocolError(ReplySendHelloFirst)
	case c.authed, c.inTx, c.bdat != nil: // RFC 4954 section 4
		return c.protocolError(ReplyAlreadyAuthenticated)
	}
	mechArg, irArg, _ := bytes.Cut(arg, []byte{' '})
	mech := upperASCII(mechArg)
	irArg = trimSpace(irArg)
	if c.srv.opts.RequireTLSForAuth && c.tlsState == nil && plaintextMechanism(mech) {
		// BasicAuthRequireTLS: the password mechanisms wait for TLS. NTLM,
		// which EHLO offers before TLS (EXCHANGE.md section 2), runs now.
		c.writeReply(ReplyMustIssueSTARTTLS)
		return true
	}
	as, ok := c.session.(AuthSession)
	if !ok || mech == "" || !containsFold(c.advertisedMechanisms(), mech) {
		return c.protocolError(ReplyAuthUnrecognized)
	}
	srv, err := as.Auth(mech)
	if err != nil {
		return c.protocolError(c.backendReply(err, ReplyAuthUnrecognized))
	}
	var resp []byte
	if len(irArg) > 0 {
		if resp, ok = decodeSASL(irArg); !ok {
			return c.authFailed(ReplyAuthBadBase64)
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			if c.srv.opts.ProtocolLog != nil {
				c.plog(EventInfo, "", "Inbound authentication failed with "+mech)
			}
			return c.authFailed(ReplyAuthUnsuccessful)
		}
		if done {
			c.authed = true
			if c.srv.opts.ProtocolLog != nil {
				c.plog(EventInfo, c.authID, "authenticated")
			}
			c.writeReply(ReplyAuthSuccessful)
			return true
		}
		c.writeReply(&Reply{Code: 334, Text: base64.StdEncoding.EncodeToString(challenge)})
		c.setIdle(true) // Shutdown may interrupt a client that does not answer
		line, err := c.readLine(maxAuthLine)
		c.setIdle(false)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				return c.authFailed(ReplyAuthBadBase64)
			}
			c.readFailed(err)
			return false
		}
		c.plog(EventReceive, authResponsePlaceholder, "")
		if string(line) == "*" {
			c.writeReply(ReplyAuthCancelled)
			return true
		}
		if resp, ok = decodeSASL(line); !ok {
			return c.authFailed(ReplyAuthBadBase64)
		}
	}
}

// decodeSASL decodes a base64 client response; "=" is the empty response
// (RFC 4954 section 4). The result is never nil.
func decodeSASL(b []byte) ([]byte, bool) {
	if string(b) == "=" {
		return []byte{}, true
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// authFailed sends r and counts a logon failure; at MaxLogonFailures it
// sends 421 4.7.0 and reports false (close).
func (c *Conn) authFailed(r *Reply) bool {
	return c.countedError(r, &c.logonFailures, c.srv.lim.MaxLogonFailures)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// NewLoginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl provides only as a client. It
// prompts "Username:" and "Password:" as Exchange does; an initial response
// is the user name.
func NewLoginServer(authenticate func(username, password string) error) sasl.Server {
	return &loginServer{authenticate: authenticate}
}

type loginServer struct {
	authenticate func(username, password string) error
	step         int
	username     string
}

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		if err := s.authenticate(s.username, string(response)); err != nil {
			return nil, true, err
		}
		return nil, true, nil
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}
