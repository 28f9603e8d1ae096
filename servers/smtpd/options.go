package smtpd

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/exsim/exsim/servers/internal/serve"
)

// Options configure one Receive connector.
type Options struct {
	// Hostname is the connector's FQDN, shown in the banner, EHLO and replies.
	Hostname string
	// Persona selects the EHLO keyword list (EXCHANGE.md section 2).
	Persona Persona
	// TLSConfig enables STARTTLS and X-ANONYMOUSTLS; nil offers neither.
	TLSConfig *tls.Config
	// RequireTLSForAuth keeps the plaintext mechanisms (LOGIN, PLAIN) out
	// of the EHLO list until TLS and answers them before TLS with
	// "530 5.7.0 Must issue a STARTTLS command first" (RFC 4616 section 6;
	// Exchange's BasicAuthRequireTLS). Other mechanisms (NTLM) are offered
	// and run before TLS, as Exchange's Integrated authentication.
	RequireTLSForAuth bool
	// Limits are the Receive connector limits; see DefaultLimits.
	Limits Limits
	// ConnectorName names the connector in protocol logs
	// ("EX01\Default Frontend EX01") and in slog records.
	ConnectorName string
	// Logger receives operational records; nil discards them.
	Logger *slog.Logger
	// ProtocolLog receives the SMTP protocol-log events; nil logs nothing.
	ProtocolLog ProtocolLog
	// Now is the clock for the banner date and protocol-log times; nil is
	// time.Now. Deadlines always use the real clock.
	Now func() time.Time
}

// Limits are the Set-ReceiveConnector limits exsim enforces. A zero field
// takes the Exchange default of DefaultLimits, except
// MaxInboundConnectionPerSource, where 0 means unlimited (as on
// "Default <SERVER>"); a zero Limits value as a whole is DefaultLimits().
type Limits struct {
	MaxMessageSize                int64         // bytes; default 37748736 (36 MB)
	MaxHeaderSize                 int64         // bytes; default 262144 (256 KB)
	MaxRecipientsPerMessage       int           // default 200
	MaxInboundConnection          int           // default 5000
	MaxInboundConnectionPerSource int           // default 20; 0 = unlimited
	MaxProtocolErrors             int           // default 5
	MaxLogonFailures              int           // default 3
	ConnectionTimeout             time.Duration // whole session; default 10 min (Edge: 5 min)
	ConnectionInactivityTimeout   time.Duration // default 5 min (Edge: 1 min)
	TarpitInterval                time.Duration // default 5 s; negative disables the tarpit
	// MessageRateLimit is the number of messages one source address may
	// submit per minute; 0 is Exchange's default, Unlimited. Beyond it MAIL
	// is answered 421 4.4.2 and the connection closed.
	MessageRateLimit int
}

// DefaultLimits are a Mailbox server's Receive connector defaults
// (EXCHANGE.md section 2).
func DefaultLimits() Limits {
	return Limits{
		MaxMessageSize:                36 << 20,
		MaxHeaderSize:                 256 << 10,
		MaxRecipientsPerMessage:       200,
		MaxInboundConnection:          5000,
		MaxInboundConnectionPerSource: 20,
		MaxProtocolErrors:             5,
		MaxLogonFailures:              3,
		ConnectionTimeout:             10 * time.Minute,
		ConnectionInactivityTimeout:   5 * time.Minute,
		TarpitInterval:                5 * time.Second,
	}
}

func (l Limits) withDefaults() Limits {
	if l == (Limits{}) {
		return DefaultLimits()
	}
	d := DefaultLimits()
	serve.Default(&l.MaxMessageSize, d.MaxMessageSize)
	serve.Default(&l.MaxHeaderSize, d.MaxHeaderSize)
	serve.Default(&l.MaxRecipientsPerMessage, d.MaxRecipientsPerMessage)
	serve.Default(&l.MaxInboundConnection, d.MaxInboundConnection)
	if l.MaxInboundConnectionPerSource < 0 {
		l.MaxInboundConnectionPerSource = 0
	}
	serve.Default(&l.MaxProtocolErrors, d.MaxProtocolErrors)
	serve.Default(&l.MaxLogonFailures, d.MaxLogonFailures)
	serve.Default(&l.ConnectionTimeout, d.ConnectionTimeout)
	serve.Default(&l.ConnectionInactivityTimeout, d.ConnectionInactivityTimeout)
	if l.TarpitInterval == 0 {
		l.TarpitInterval = d.TarpitInterval
	}
	return l
}
