// Package imapd is Exchange's IMAP4 service in two halves.
//
// The Frontend (ports 143 with STARTTLS and 993 with implicit TLS on every
// Mailbox server) speaks Exchange's own pre-authentication persona, checks
// the credentials with an Authenticator, asks an Upstream for a connection to
// the IMAP4 Backend of the server that hosts the mailbox, logs in there with
// the same credentials and then relays bytes both ways (EXCHANGE.md sections
// 1 and 6).
//
// The Backend (port 1993, TLS) is github.com/emersion/go-imap/v2's imapserver
// serving mailboxes from package store. As Exchange's IMAP4 Backend
// (FlavorExchange) it speaks Exchange's words, not go-imap's: exchangeConn
// (words.go) rewrites go-imap's replies into the texts of texts.go and
// answers ID. With FlavorPlain the same Backend is the lab Internet server's
// ordinary IMAP server on 143/993, in go-imap's words.
package imapd

import (
	"context"
	"errors"
	"net"
)

// Authenticator checks a logon. user is what the client typed
// (alice@contoso.com, CONTOSO\alice, alice); account is the mailbox address
// the user maps to. A wrong password returns ErrAuthFailed (or any error,
// which is treated the same and logged).
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string) (account string, err error)
}

// MechanismAuthenticator is an add-on to the Frontend's Authenticator for
// SASL mechanisms other than PLAIN (NTLM). Without it AUTHENTICATE NTLM,
// although Exchange's CAPABILITY announces it, fails.
type MechanismAuthenticator interface {
	Authenticator
	// Mechanism starts an exchange of the named mechanism (upper case);
	// ok is false when it is not provided.
	Mechanism(ctx context.Context, name string) (ex SASLExchange, ok bool)
}

// SASLExchange is the server side of one SASL authentication (RFC 4422).
type SASLExchange interface {
	// Next takes the client's response (nil when the client sent no
	// initial response) and returns the next challenge, or done once the
	// client is authenticated. An error fails the logon.
	Next(response []byte) (challenge []byte, done bool, err error)
	// Credentials, once Next is done, are the account and the password the
	// Frontend logs on to the Backend with, as after LOGIN: the lab knows
	// every password, where Exchange's front end would hand over a token.
	Credentials() (account, password string)
}

// ErrAuthFailed is what an Authenticator returns for bad credentials.
var ErrAuthFailed = errors.New("imapd: authentication failed")

// Upstream connects the Frontend to the IMAP4 Backend (port 1993, TLS) of the
// server hosting account's mailbox. The returned connection is ready for
// IMAP: TLS is already established.
type Upstream interface {
	DialBackend(ctx context.Context, account string) (net.Conn, error)
}
