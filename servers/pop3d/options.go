package pop3d

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/exsim/exsim/servers/internal/serve"
)

// LoginType is Exchange's Set-PopSettings -LoginType: whether plain-text
// logons (USER/PASS, AUTH PLAIN) are allowed before TLS.
type LoginType int

const (
	// SecureLogin, Exchange's default: USER, PASS and AUTH PLAIN are
	// refused until the session is encrypted (STLS or implicit TLS).
	SecureLogin LoginType = iota
	// PlainTextLogin allows them on a clear-text session too.
	PlainTextLogin
)

// Defaults of Options, after Exchange's Set-PopSettings and RFC 2449.
const (
	DefaultPreAuthenticatedConnectionTimeout = 60 * time.Second
	DefaultAuthenticatedConnectionTimeout    = 30 * time.Minute
	DefaultMaxCommandSize                    = 255 // RFC 2449 section 4, including CRLF
	DefaultMaxProtocolErrors                 = 10
	DefaultMaxLogonFailures                  = 3
	DefaultLogonFailureDelay                 = 2 * time.Second
	DefaultMaxLogonFailureDelay              = 30 * time.Second
	DefaultBackendTimeout                    = 30 * time.Second
	DefaultWriteTimeout                      = 60 * time.Second

	// maxSASLResponse bounds a SASL continuation line, which RFC 5034
	// section 4 exempts from the command length limit.
	maxSASLResponse = 8192
)

// Options configure a Server. Set either Backend (backend mode) or both
// Authenticator and Upstream (frontend mode).
type Options struct {
	// ServerName names the server in logs ("EX01").
	ServerName string
	// Persona gives every text; the zero value is ExchangePersona().
	Persona Persona
	// TLSConfig enables STLS on clear-text listeners (RFC 2595). It is not
	// used for implicit TLS, whose listener carries its own configuration.
	TLSConfig *tls.Config
	// LoginType: SecureLogin (default) or PlainTextLogin.
	LoginType LoginType

	// Backend mode.
	Backend Backend
	// Frontend mode.
	Authenticator Authenticator
	Upstream      Upstream

	// Logger receives the server's log; nil discards.
	Logger *slog.Logger

	// PreAuthenticatedConnectionTimeout is the idle time allowed before
	// logon (Exchange default 60 s); also bounds the TLS handshake.
	PreAuthenticatedConnectionTimeout time.Duration
	// AuthenticatedConnectionTimeout is the idle time allowed after logon
	// (Exchange default 30 min; RFC 1939 section 3 asks for at least 10).
	AuthenticatedConnectionTimeout time.Duration
	// WriteTimeout bounds each write to a client that does not read
	// (default 60 s).
	WriteTimeout time.Duration
	// MaxCommandSize is the longest command line in octets, CRLF included
	// (default 255, RFC 2449 section 4).
	MaxCommandSize int
	// MaxProtocolErrors closes a connection after this many bad commands
	// (unknown, malformed, out of state, too long; default 10).
	MaxProtocolErrors int
	// MaxLogonFailures closes a connection after this many failed logons
	// (default 3).
	MaxLogonFailures int
	// LogonFailureDelay delays the answer to the first failed logon of a
	// connection; each further failure doubles it up to
	// MaxLogonFailureDelay (defaults 2 s and 30 s; a negative
	// LogonFailureDelay answers at once).
	LogonFailureDelay    time.Duration
	MaxLogonFailureDelay time.Duration
	// BackendTimeout bounds dialing and logging in to the backend in
	// frontend mode (default 30 s).
	BackendTimeout time.Duration
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.Persona.Greeting == "" {
		o.Persona = ExchangePersona()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	serve.Default(&o.PreAuthenticatedConnectionTimeout, DefaultPreAuthenticatedConnectionTimeout)
	serve.Default(&o.AuthenticatedConnectionTimeout, DefaultAuthenticatedConnectionTimeout)
	serve.Default(&o.WriteTimeout, DefaultWriteTimeout)
	serve.Default(&o.BackendTimeout, DefaultBackendTimeout)
	serve.Default(&o.MaxCommandSize, DefaultMaxCommandSize)
	serve.Default(&o.MaxProtocolErrors, DefaultMaxProtocolErrors)
	serve.Default(&o.MaxLogonFailures, DefaultMaxLogonFailures)
	if o.LogonFailureDelay == 0 {
		o.LogonFailureDelay = DefaultLogonFailureDelay
	}
	if o.MaxLogonFailureDelay == 0 {
		o.MaxLogonFailureDelay = DefaultMaxLogonFailureDelay
	}
	if o.MaxCommandSize < 16 {
		o.MaxCommandSize = 16
	}
	return o
}
