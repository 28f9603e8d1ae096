package imapd

import (
	"context"
	"encoding/base64"
	"errors"
	"time"
)

// saslResponse sends the continuation "+ <base64 challenge>" and reads the
// client's answer line (RFC 9051 section 6.2.2). ok is false when there is
// no answer to use: the client canceled with "*" (answered BAD) or the
// line could not be read; goOn then tells whether the connection goes on.
func (c *fconn) saslResponse(cmd *command, challenge string) (line string, ok, goOn bool) {
	if err := c.send(textSASLGo + challenge); err != nil {
		return "", false, false
	}
	c.nc.SetReadDeadline(time.Now().Add(c.f.opts.PreAuthTimeout))
	b, err := readLine(c.br, maxSASLLine)
	if errors.Is(err, errLineTooLong) {
		c.send(replyArgError.line(cmd.tag))
		return "", false, false
	}
	if err != nil {
		return "", false, false
	}
	if string(b) == "*" { // canceled (RFC 9051 section 6.2.2)
		return "", false, c.bad(cmd, replyArgError)
	}
	return string(b), true, true
}

// decodeResponse decodes a client response; "=" is the empty initial
// response (RFC 4959).
func decodeResponse(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// authenticateMechanism runs a mechanism of the MechanismAuthenticator
// (NTLM: NEGOTIATE_MESSAGE in, CHALLENGE_MESSAGE out, AUTHENTICATE_MESSAGE
// in), then logs on at the backend as LOGIN does.
func (c *fconn) authenticateMechanism(cmd *command, mech string, ir *string) bool {
	ma, ok := c.f.opts.Auth.(MechanismAuthenticator)
	var ex SASLExchange
	if ok {
		ex, ok = ma.Mechanism(c.ctx, mech)
	}
	if !ok {
		c.log.Info("imapd: unsupported SASL mechanism", "err", mech)
		return c.send(replyAuthFailed.line(cmd.tag)) == nil
	}
	var resp []byte // nil: no initial response
	if ir != nil {
		var err error
		if resp, err = decodeResponse(*ir); err != nil {
			c.log.Info("imapd: undecodable SASL response", "err", err)
			return c.logonFailed(cmd.tag, replyAuthFailed)
		}
	}
	for {
		challenge, done, err := ex.Next(resp)
		if err != nil {
			c.log.Info("imapd: logon failed", "err", err)
			return c.logonFailed(cmd.tag, replyAuthFailed)
		}
		if done {
			break
		}
		line, ok, goOn := c.saslResponse(cmd, base64.StdEncoding.EncodeToString(challenge))
		if !ok {
			return goOn
		}
		if resp, err = base64.StdEncoding.Strict().DecodeString(line); err != nil {
			c.log.Info("imapd: undecodable SASL response", "err", err)
			return c.logonFailed(cmd.tag, replyAuthFailed)
		}
	}
	account, pass := ex.Credentials()
	ctx, cancel := context.WithTimeout(c.ctx, c.f.opts.BackendTimeout)
	defer cancel()
	return c.proxy(ctx, cmd.tag, account, pass, replyAuthOK)
}

// authenticateGSSAPI answers AUTHENTICATE GSSAPI as Exchange does when
// Kerberos fails: the client's token (the initial response, or the answer
// to an empty challenge) is taken and the logon fails with "NO
// AUTHENTICATE failed.". The lab has no KDC, so no ticket can be valid.
func (c *fconn) authenticateGSSAPI(cmd *command, ir *string) bool {
	if ir == nil {
		if _, ok, goOn := c.saslResponse(cmd, ""); !ok {
			return goOn
		}
	}
	c.log.Info("imapd: logon failed", "err", "GSSAPI: no Kerberos in the lab")
	return c.logonFailed(cmd.tag, replyAuthFailed)
}
