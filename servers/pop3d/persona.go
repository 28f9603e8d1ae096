package pop3d

import "strings"

// Persona is every text the server says, in one table. Fields marked
// "template" may hold the placeholders {count}, {octets}, {msg} and {uid};
// the server fills them in. A text is one reply line without CRLF.
//
// Exchange's strings are those of EXCHANGE.md section 6; where Exchange's
// exact text is not documented, the Exchange persona uses the style of its
// documented replies (short sentences, and a number after the fixed errors
// Exchange numbers, as in "Protocol error. 14").
type Persona struct {
	// Greeting is the banner (RFC 1939 section 4). It carries no
	// <timestamp>, which would announce APOP (RFC 1939 section 7).
	Greeting string
	// Capabilities are the CAPA lines every session announces before the
	// logon-dependent ones (RFC 2449 section 5).
	Capabilities []string
	// SASL lists the advertised mechanisms of the "SASL" capability
	// (RFC 5034 section 3). PLAIN is implemented; others need a
	// MechanismBackend or MechanismAuthenticator, except GSSAPI, which
	// without one takes the client's token and fails as a logon.
	SASL []string

	CapaOK               string // +OK heading the CAPA list
	StlsOK               string // RFC 2595 section 4
	UserOK               string
	AuthContinue         string // "+ " continuation of AUTH (RFC 5034 section 4)
	LogonOK              string
	LogonFailure         string
	TooManyLogonFailures string // sent before the connection is closed
	UnsupportedMechanism string
	AuthCanceled         string // the client answered "*" (RFC 5034 section 4)
	InvalidState         string
	UnknownCommand       string
	BadArguments         string
	LineTooLong          string
	TooManyErrors        string // sent before the connection is closed
	Timeout              string // inactivity autologout; "" closes silently (RFC 1939 section 3)
	ShuttingDown         string
	ServerUnavailable    string // the store or the backend cannot be reached
	MaildropInUse        string // RFC 2449 section 8.1.1 [IN-USE]

	Stat          string // template ({count} {octets}); RFC 1939 section 5 STAT
	ListAll       string // template ({count} {octets}); heads the multi-line LIST
	ListOne       string // template ({msg} {octets})
	UidlAll       string // heads the multi-line UIDL
	UidlOne       string // template ({msg} {uid})
	RetrOK        string // template ({octets})
	TopOK         string
	DeleOK        string
	RsetOK        string // template ({count} {octets})
	NoopOK        string
	NoSuchMessage string
	Deleted       string // the message is marked deleted in this session
	RetrFailed    string // the message could not be opened
	QuitOK        string
	UpdateFailed  string // QUIT could not remove the deleted messages (RFC 1939 section 6)
}

// ExchangePersona is Exchange 2016/2019's POP3 service (frontend 110/995 and
// POP3 Backend 1995), EXCHANGE.md section 6.
func ExchangePersona() Persona {
	return Persona{
		Greeting:     "+OK The Microsoft Exchange POP3 service is ready.",
		Capabilities: []string{"TOP", "UIDL"},
		SASL:         []string{"NTLM", "GSSAPI", "PLAIN"},

		CapaOK:               "+OK",
		StlsOK:               "+OK Begin TLS negotiation.",
		UserOK:               "+OK",
		AuthContinue:         "+ ",
		LogonOK:              "+OK User successfully logged on.",
		LogonFailure:         "-ERR Logon failure: unknown user name or bad password.",
		TooManyLogonFailures: "-ERR Logon failure: unknown user name or bad password. Connection is closed.",
		UnsupportedMechanism: "-ERR Unsupported authentication mechanism.",
		AuthCanceled:         "-ERR Authentication canceled.",
		InvalidState:         "-ERR Command is not valid in this state.",
		UnknownCommand:       "-ERR Protocol error. 14",
		BadArguments:         "-ERR Protocol error. 14",
		LineTooLong:          "-ERR Command is too long.",
		TooManyErrors:        "-ERR Too many errors. Connection is closed.",
		Timeout:              "-ERR Connection is closed. 13",
		ShuttingDown:         "-ERR Server Unavailable. 21",
		ServerUnavailable:    "-ERR Server Unavailable. 21",
		MaildropInUse:        "-ERR [IN-USE] The mailbox is in use by another session.",

		Stat:          "+OK {count} {octets}",
		ListAll:       "+OK {count} {octets}",
		ListOne:       "+OK {msg} {octets}",
		UidlAll:       "+OK",
		UidlOne:       "+OK {msg} {uid}",
		RetrOK:        "+OK",
		TopOK:         "+OK",
		DeleOK:        "+OK Marked to be deleted.",
		RsetOK:        "+OK",
		NoopOK:        "+OK",
		NoSuchMessage: "-ERR The specified message is out of range.",
		Deleted:       "-ERR The specified message has been deleted.",
		RetrFailed:    "-ERR The message could not be retrieved.",
		QuitOK:        "+OK Microsoft Exchange Server POP3 server signing off.",
		UpdateFailed:  "-ERR Some deleted messages were not removed.",
	}
}

// PlainPersona is the lab's non-Exchange Internet mail host serving domain.
// It announces RFC 2449 response codes and uses them.
func PlainPersona(domain string) Persona {
	return Persona{
		Greeting:     "+OK POP3 server ready " + domain,
		Capabilities: []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE"},
		SASL:         []string{"PLAIN"},

		CapaOK:               "+OK Capability list follows",
		StlsOK:               "+OK Begin TLS negotiation now.",
		UserOK:               "+OK",
		AuthContinue:         "+ ",
		LogonOK:              "+OK Logged in.",
		LogonFailure:         "-ERR [AUTH] Authentication failed.",
		TooManyLogonFailures: "-ERR [AUTH] Authentication failed. Too many failures, closing connection.",
		UnsupportedMechanism: "-ERR Unsupported authentication mechanism.",
		AuthCanceled:         "-ERR Authentication canceled.",
		InvalidState:         "-ERR Command not valid in this state.",
		UnknownCommand:       "-ERR Unknown command.",
		BadArguments:         "-ERR Invalid arguments.",
		LineTooLong:          "-ERR Command line too long.",
		TooManyErrors:        "-ERR Too many bad commands, closing connection.",
		Timeout:              "-ERR Disconnected for inactivity.",
		ShuttingDown:         "-ERR [SYS/TEMP] Server shutting down.",
		ServerUnavailable:    "-ERR [SYS/TEMP] Server unavailable.",
		MaildropInUse:        "-ERR [IN-USE] Mailbox is locked by another session.",

		Stat:          "+OK {count} {octets}",
		ListAll:       "+OK {count} messages ({octets} octets)",
		ListOne:       "+OK {msg} {octets}",
		UidlAll:       "+OK",
		UidlOne:       "+OK {msg} {uid}",
		RetrOK:        "+OK {octets} octets",
		TopOK:         "+OK",
		DeleOK:        "+OK Marked to be deleted.",
		RsetOK:        "+OK maildrop has {count} messages ({octets} octets)",
		NoopOK:        "+OK",
		NoSuchMessage: "-ERR No such message.",
		Deleted:       "-ERR Message is deleted.",
		RetrFailed:    "-ERR [SYS/TEMP] Message could not be read.",
		QuitOK:        "+OK Logging out.",
		UpdateFailed:  "-ERR [SYS/TEMP] Some deleted messages were not removed.",
	}
}

// expand fills the placeholders of a template; kv alternates name and value.
func expand(template string, kv ...string) string {
	if !strings.Contains(template, "{") {
		return template
	}
	for i := 0; i+1 < len(kv); i += 2 {
		template = strings.ReplaceAll(template, "{"+kv[i]+"}", kv[i+1])
	}
	return template
}
