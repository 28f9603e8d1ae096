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

// ErrAuthFailed is what an Authenticator returns for bad credentials.
var ErrAuthFailed = errors.New("imapd: authentication failed")

// Upstream connects the Frontend to the IMAP4 Backend (port 1993, TLS) of the
// server hosting account's mailbox. The returned connection is ready for
// IMAP: TLS is already established.
type Upstream interface {
	DialBackend(ctx context.Context, account string) (net.Conn, error)
}
