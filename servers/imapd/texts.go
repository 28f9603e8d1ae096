package imapd

import "strings"

// Exchange's IMAP4 frontend texts, exactly as Exchange sends them
// (EXCHANGE.md section 6). Everything the Frontend says comes from here.
const (
	textGreeting = "* OK The Microsoft Exchange IMAP4 service is ready."
	// textCapsCleartext is CAPABILITY on 143 before STARTTLS with Exchange's
	// default LoginType SecureLogin.
	textCapsCleartext = "* CAPABILITY IMAP4 IMAP4rev1 LOGINDISABLED STARTTLS UIDPLUS MOVE ID CHILDREN IDLE NAMESPACE LITERAL+"
	// textCapsTLS is CAPABILITY after STARTTLS and on 993.
	textCapsTLS = "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=NTLM AUTH=GSSAPI SASL-IR UIDPLUS MOVE ID CHILDREN IDLE NAMESPACE LITERAL+"
	textBye     = "* BYE Microsoft Exchange Server IMAP4 server signing off."
	// textTimeoutBye ends a connection that idled past the pre-logon timeout,
	// exceeded the logon failures or sent too much garbage.
	textTimeoutBye = "* BYE Connection is closed. 13"
	textID         = "* ID NIL"
	// textLiteralGo invites the client to send a synchronizing literal.
	textLiteralGo = "+ Ready for additional command text."
	// textSASLGo is the empty challenge of AUTHENTICATE PLAIN without an
	// initial response.
	textSASLGo = "+ "
)

// Exchange's texts after logon: what the Backend says, through the
// Frontend's relay or on 1993, in place of go-imap's words (words.go).
// Sources are public client logs of Exchange 2010-2016 and Exchange Online;
// a text without one says so.
const (
	// textCapsSession is CAPABILITY after logon. A hosted Exchange 2016
	// (MailKit issue 791) answers "IMAP4 IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS
	// MOVE ID UNSELECT CLIENTNETWORKPRESENCELOCATION CHILDREN IDLE NAMESPACE
	// LITERAL+"; Exchange Online (node-imap issue 867) adds AUTH=XOAUTH2 and
	// the Online-only CLIENTACCESSRULES and BACKENDAUTHENTICATE. The
	// mechanisms here are those of textCapsTLS.
	textCapsSession = "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=NTLM AUTH=GSSAPI SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTNETWORKPRESENCELOCATION CHILDREN IDLE NAMESPACE LITERAL+"
	// textIdleGo: imapclient issue 321, php-imap issue 258 (Exchange Online).
	textIdleGo = "+ IDLE accepted, awaiting DONE command."
	// SELECT and EXAMINE, in this order after EXISTS, RECENT, FLAGS and
	// PERMANENTFLAGS: offlineimap issue 62 and rainloop issue 686
	// (Exchange 2013/2016). The flags are exchangeFlags.
	textPermanentFlags = "Permanent flags"
	textUnseen         = "Is the first unseen message"
	textUIDValidity    = "UIDVALIDITY value"
	textUIDNext        = "The next unique identifier value"
)

// After logon LOGOUT is answered with textBye and ID with textID, as before
// it. Rainloop issue 686 shows Exchange Online of 2016 saying "* BYE
// Microsoft Exchange Server 2016 IMAP4 server signing off."; what an
// on-premises 2016/2019 says, and what any Exchange answers to ID, has no
// public capture: "* ID NIL" is RFC 2971's minimal answer.

// completed is the text of a command's tagged OK: "<COMMAND> completed."
// with UID FETCH, UID SEARCH, UID STORE ... answered as FETCH, SEARCH,
// STORE. Public logs show LOGIN, NOOP, CAPABILITY (imapfilter issue 109),
// SELECT, FETCH for UID FETCH (offlineimap issue 62), SEARCH for UID SEARCH
// (imapfilter issue 109), STORE for UID STORE, EXAMINE, LOGOUT (rainloop
// issues 686 and 1510), NAMESPACE, LIST, EXPUNGE, AUTHENTICATE (node-imap
// issue 867) and IDLE (php-imap issue 258). For APPEND, COPY, MOVE, CLOSE,
// UNSELECT, LSUB, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
// CHECK and ID no public capture was found: they follow the same pattern.
func completed(command string) string {
	command, _ = strings.CutPrefix(command, "UID ")
	return command + " completed."
}

// reply is a tagged completion: "<tag> " + reply.
type reply string

const (
	replyCapability   reply = "OK CAPABILITY completed."
	replyNoop         reply = "OK NOOP completed."
	replyID           reply = "OK ID completed."
	replyLogout       reply = "OK LOGOUT completed."
	replyStartTLS     reply = "OK Begin TLS negotiation now."
	replyLoginOK      reply = "OK LOGIN completed."
	replyLoginFailed  reply = "NO LOGIN failed."
	replyAuthOK       reply = "OK AUTHENTICATE completed."
	replyAuthFailed   reply = "NO AUTHENTICATE failed."
	replyInvalidState reply = "BAD Command received in Invalid state."
	replyArgError     reply = "BAD Command Argument Error. 11"
	// replyUnavailable: the mailbox's backend could not be reached.
	replyUnavailable reply = "NO Server Unavailable. 15"
)

func (r reply) line(tag string) string { return tag + " " + string(r) }

// protoError is a protocol error detected while reading a command; it
// carries the reply Exchange gives and whether the connection can go on.
type protoError struct {
	tag   string // "*" when the tag itself could not be read
	reply reply
	fatal bool // the stream cannot be resynchronized: reply, then close
	why   string
}

func (e *protoError) Error() string { return "imapd: " + e.why }

// knownCommand reports the IMAP4rev1/rev2 and extension commands Exchange
// knows; before logon they are answered with replyInvalidState, anything
// else with replyArgError.
func knownCommand(name string) bool {
	switch name {
	case "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN", "SELECT", "EXAMINE",
		"CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND",
		"CHECK", "CLOSE", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID", "IDLE",
		"NAMESPACE", "UNSELECT", "ID", "ENABLE", "XLIST", "GETQUOTAROOT", "GETQUOTA":
		return true
	}
	return false
}
