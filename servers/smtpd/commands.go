package smtpd

import (
	"bytes"
	"strconv"
	"strings"
)

// handle runs one command line; false closes the connection.
func (c *Conn) handle(line []byte) bool {
	verb, arg := splitCommand(line, &c.verb)
	if c.srv.opts.ProtocolLog != nil {
		c.logCommand(line, verb, arg)
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return c.protocolError(ReplyUnrecognizedCommand) // RFC 5321 4.1.1: NUL is not part of any command
	}
	switch string(verb) {
	case "EHLO":
		return c.cmdHello(arg, true)
	case "HELO":
		return c.cmdHello(arg, false)
	case "MAIL":
		return c.cmdMail(arg)
	case "RCPT":
		return c.cmdRcpt(arg)
	case "DATA":
		return c.cmdData(arg)
	case "BDAT":
		return c.cmdBDAT(arg)
	case "RSET":
		return c.cmdRset(arg)
	case "NOOP":
		c.writeReply(ReplyOK) // RFC 5321 4.1.1.9: an argument is ignored
		return true
	case "QUIT":
		c.farewell(ReplyClosing)
		return false
	case "VRFY":
		if len(arg) == 0 {
			return c.protocolError(ReplyInvalidArguments)
		}
		c.writeReply(ReplyCannotVRFY) // RFC 5321 3.5.3
		return true
	case "HELP":
		c.writeReply(ReplyHelp)
		return true
	case "STARTTLS", "X-ANONYMOUSTLS":
		return c.cmdStartTLS(arg)
	case "AUTH":
		return c.cmdAuth(arg)
	case "X-EXPS":
		// Exchange server authentication (Kerberos/NTLM over SMTP): advertised
		// because Exchange advertises it. No lab client holds a Kerberos
		// ticket of an Exchange server, so an advertised mechanism fails as
		// Exchange fails a logon (a counted logon failure); any other is
		// unrecognized.
		if c.helo == "" {
			return c.protocolError(ReplySendHelloFirst)
		}
		mech, _, _ := bytes.Cut(arg, []byte{' '})
		if len(mech) > 0 && c.srv.opts.Persona.expsMechanism(upperASCII(mech)) {
			return c.authFailed(ReplyAuthUnsuccessful)
		}
		return c.protocolError(ReplyAuthUnrecognized)
	case "XEXCH50", "XSHADOWREQUEST":
		if !c.srv.opts.Persona.advertises(string(verb)) {
			return c.protocolError(ReplyUnrecognizedCommand)
		}
		return c.protocolError(ReplyBadSequence) // only for authenticated Exchange servers
	case "XRDST":
		return c.protocolError(ReplyBadSequence)
	}
	return c.protocolError(ReplyUnrecognizedCommand)
}

// logCommand writes the '<' protocol-log event; an AUTH initial response
// is replaced by "<authentication response>".
func (c *Conn) logCommand(line, verb, arg []byte) {
	data := string(line)
	if string(verb) == "AUTH" {
		if mech, rest, ok := bytes.Cut(arg, []byte{' '}); ok && len(trimSpace(rest)) > 0 {
			data = "AUTH " + string(mech) + " " + authResponsePlaceholder
		}
	}
	c.plog(EventReceive, data, "")
}

// cmdHello answers EHLO and HELO (RFC 5321 4.1.1.1); either ends a
// transaction in progress (RFC 5321 4.1.4).
func (c *Conn) cmdHello(arg []byte, ehlo bool) bool {
	if c.bdat != nil {
		return c.protocolError(ReplyBadSequence)
	}
	if !validHelloArg(arg) {
		return c.protocolError(ReplyInvalidDomain)
	}
	c.resetTx()
	c.helo = string(arg)
	c.ehlo = ehlo
	if ehlo {
		c.writeReply(c.ehloReply())
		return true
	}
	c.writeReply(&Reply{Code: 250, Text: c.srv.hostname + " Hello [" + c.remoteIP + "]"})
	return true
}

func (c *Conn) cmdRset(arg []byte) bool {
	if len(arg) > 0 {
		return c.protocolError(ReplyInvalidArguments)
	}
	if c.bdat != nil {
		c.abortBDAT(errTransactionAborted)
	}
	c.resetTx()
	c.writeReply(ReplyResetting)
	return true
}

// resetTx forgets the mail transaction and tells the Session.
func (c *Conn) resetTx() {
	if c.inTx && c.session != nil {
		c.session.Reset()
	}
	c.inTx = false
	c.mailOpts = nil
	c.rcpts = 0
}

// cmdMail handles MAIL FROM:<reverse-path> [params] (RFC 5321 4.1.1.2).
func (c *Conn) cmdMail(arg []byte) bool {
	if c.helo == "" {
		return c.protocolError(ReplySendHelloFirst)
	}
	if c.inTx || c.bdat != nil {
		return c.protocolError(ReplyBadSequence)
	}
	path, rest, ok := splitPath(arg, "FROM:")
	if !ok {
		return c.protocolError(ReplyInvalidAddress)
	}
	params, ok := parseParams(rest)
	if !ok {
		return c.protocolError(ReplyInvalidArguments)
	}
	if len(params) > 0 && !c.ehlo {
		return c.protocolError(ReplyUnsupportedOption) // no service extensions after HELO
	}
	opts, r := mailOptions(params)
	if r != nil {
		return c.protocolError(r)
	}
	path, ok = stripSourceRoute(path, opts.SMTPUTF8)
	if !ok || len(path) > 0 && !validMailbox(path, opts.SMTPUTF8) {
		return c.protocolError(ReplyInvalidAddress)
	}
	if opts.Size > c.srv.lim.MaxMessageSize {
		c.writeReply(ReplyMessageTooLarge) // RFC 1870 section 6.2
		return true
	}
	if !c.srv.rate.allow(c.src) {
		if c.srv.opts.ProtocolLog != nil {
			c.plog(EventInfo, "Message rate limit of "+strconv.Itoa(c.srv.lim.MessageRateLimit)+" per minute exceeded", "")
		}
		c.farewell(ReplyMessageRateExceeded)
		return false
	}
	if err := c.session.Mail(string(path), opts); err != nil {
		c.writeReply(c.backendReply(err, ReplyTemporaryServerError))
		return true
	}
	c.inTx = true
	c.mailOpts = opts
	c.rcpts = 0
	c.writeReply(ReplySenderOK)
	return true
}

// cmdRcpt handles RCPT TO:<forward-path> [params] (RFC 5321 4.1.1.3).
func (c *Conn) cmdRcpt(arg []byte) bool {
	if !c.inTx || c.bdat != nil {
		return c.protocolError(ReplyBadSequence)
	}
	utf8ok := c.mailOpts.SMTPUTF8
	path, rest, ok := splitPath(arg, "TO:")
	if ok {
		path, ok = stripSourceRoute(path, utf8ok)
	}
	// RFC 5321 4.1.1.3: <Postmaster> without a domain must be accepted.
	if !ok || !validMailbox(path, utf8ok) && !strings.EqualFold(string(path), "postmaster") {
		c.tarpit(ReplyInvalidAddress)
		return c.protocolError(ReplyInvalidAddress)
	}
	params, ok := parseParams(rest)
	if !ok {
		c.tarpit(ReplyInvalidArguments)
		return c.protocolError(ReplyInvalidArguments)
	}
	opts, r := rcptOptions(params, utf8ok)
	if r != nil {
		c.tarpit(r)
		return c.protocolError(r)
	}
	if c.rcpts >= c.srv.lim.MaxRecipientsPerMessage {
		c.writeReply(ReplyTooManyRecipients) // RFC 5321 4.5.3.1.8
		return true
	}
	if err := c.session.Rcpt(string(path), opts); err != nil {
		r := c.backendReply(err, ReplyTemporaryServerError)
		c.tarpit(r)
		c.writeReply(r)
		return true
	}
	c.rcpts++
	c.writeReply(ReplyRecipientOK)
	return true
}
