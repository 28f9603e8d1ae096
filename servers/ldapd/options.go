package ldapd

import (
	"log/slog"
	"time"

	"github.com/exsim/exsim/servers/internal/serve"
)

// Defaults of Options, after AD's LDAP policy (MaxReceiveBuffer,
// MaxPageSize, MaxConnections, MaxConnIdleTime, MaxQueryDuration; see
// ntdsutil "LDAP policies").
const (
	DefaultMaxMessageBytes  = 10 << 20 // MaxReceiveBuffer 10485760
	DefaultMaxEntries       = 1000     // MaxPageSize
	DefaultMaxConnections   = 5000     // MaxConnections
	DefaultIdleTimeout      = 900 * time.Second
	DefaultOperationTimeout = 120 * time.Second // MaxQueryDuration
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultWriteTimeout     = 60 * time.Second
)

// Options configure a Server. Authenticator is required.
type Options struct {
	// ServerName names the server in logs ("EDGE01").
	ServerName string
	// Authenticator checks simple binds.
	Authenticator Authenticator
	// Authorizer says what a bound account may read and write; nil lets
	// every bound account read everything and write nothing.
	Authorizer Authorizer
	// RootDSE adds or replaces attributes of the RootDSE (RFC 4512 section
	// 5.1): an AD LDS instance names its configurationNamingContext,
	// schemaNamingContext, dsServiceName, dnsHostName and serverName here.
	RootDSE map[string][]string
	// Logger receives the server's log; nil discards.
	Logger *slog.Logger
	// Now is the clock of the RootDSE's currentTime; nil is time.Now.
	Now func() time.Time

	// MaxMessageBytes is the largest request accepted, in octets
	// (default 10 MiB, AD's MaxReceiveBuffer). A larger one ends the
	// connection with a protocolError notice of disconnection.
	MaxMessageBytes int
	// MaxEntries is the most entries one search returns, and the largest
	// page of a paged search (default 1000, AD's MaxPageSize).
	MaxEntries int
	// MaxConnections is the most client connections served at once
	// (default 5000); further ones are closed at accept.
	MaxConnections int
	// IdleTimeout closes a connection that sends nothing for this long
	// (default 900 s, AD's MaxConnIdleTime).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake of an implicit-TLS listener
	// (default 30 s).
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to a client that does not read
	// (default 60 s).
	WriteTimeout time.Duration
	// OperationTimeout bounds the answer to one request: every response to
	// it must be written within this time of its arrival, or the
	// connection ends (default 120 s, AD's MaxQueryDuration).
	OperationTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Authorizer == nil {
		o.Authorizer = readOnly{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	serve.Default(&o.MaxMessageBytes, DefaultMaxMessageBytes)
	serve.Default(&o.MaxEntries, DefaultMaxEntries)
	serve.Default(&o.MaxConnections, DefaultMaxConnections)
	serve.Default(&o.IdleTimeout, DefaultIdleTimeout)
	serve.Default(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	serve.Default(&o.WriteTimeout, DefaultWriteTimeout)
	serve.Default(&o.OperationTimeout, DefaultOperationTimeout)
	return o
}
