package pop3d

import (
	"context"
	"io"
	"net"
)

// Backend opens maildrops: backend mode (Exchange's POP3 Backend on 1995,
// the lab's Internet mail host).
type Backend interface {
	// Login checks the credentials and opens the user's maildrop. It
	// returns ErrLogonFailure for bad credentials, ErrInUse when the
	// maildrop is locked, an *Error for a text of its own, and any other
	// error when the store is unavailable.
	Login(ctx context.Context, user, password string) (Maildrop, error)
}

// Maildrop is one logged-on user's mailbox for the length of a session.
type Maildrop interface {
	// Messages is the snapshot taken at logon; RFC 1939 message numbers
	// index it from 1. Called once per session.
	Messages(ctx context.Context) ([]MessageInfo, error)
	// Open returns the message with the given UID as stored (bare LF line
	// endings are converted to CRLF by the server).
	Open(ctx context.Context, uid string) (io.ReadCloser, error)
	// Delete removes the messages: called only in the UPDATE state, after
	// QUIT (RFC 1939 section 6), with the UIDs marked by DELE.
	Delete(ctx context.Context, uids []string) error
	// Close ends the session (and releases any lock); called exactly once.
	Close() error
}

// MessageInfo describes one message of the snapshot.
type MessageInfo struct {
	// UID is the unique-id listing of UIDL: stable across sessions and
	// restarts, 1 to 70 characters in the range 0x21 to 0x7E (RFC 1939
	// section 7). A snapshot with an invalid UID fails the logon.
	UID string
	// Size is the size in octets as sent by RETR with CRLF line endings,
	// before byte-stuffing (RFC 1939 section 5 LIST). WireSize computes it.
	Size int64
}

// Authenticator checks credentials on a frontend (110/995). Logins may be
// "alice@contoso.com", "CONTOSO\alice" or "alice": the mapping to an account
// is the Authenticator's business.
type Authenticator interface {
	// Authenticate returns the account (the key Upstream dials by) or
	// ErrLogonFailure.
	Authenticate(ctx context.Context, user, password string) (account string, err error)
}

// Upstream finds the POP3 Backend that hosts an account.
type Upstream interface {
	// DialBackend returns a connection, TLS already established, to the
	// POP3 Backend service (1995) of the server hosting account.
	DialBackend(ctx context.Context, account string) (net.Conn, error)
}

// MechanismBackend is an add-on to Backend for SASL mechanisms other than
// PLAIN (NTLM, GSSAPI) in backend mode. Without it those mechanisms,
// although the Exchange persona advertises them, answer the persona's
// UnsupportedMechanism (GSSAPI: a failed logon).
type MechanismBackend interface {
	Backend
	// Mechanism starts an exchange of the named mechanism (upper case);
	// ok is false when it is not supported.
	Mechanism(ctx context.Context, name string) (ex SASLExchange, ok bool)
}

// SASLExchange is the server side of one SASL authentication (RFC 4422).
type SASLExchange interface {
	// Next takes the client's response (nil when the client sent none) and
	// returns the next challenge, or done when the exchange has succeeded.
	// An error fails the logon (ErrLogonFailure for bad credentials).
	Next(response []byte) (challenge []byte, done bool, err error)
	// Maildrop opens the authenticated user's maildrop once Next is done.
	Maildrop(ctx context.Context) (Maildrop, error)
}

// MechanismAuthenticator is an add-on to a frontend's Authenticator for
// SASL mechanisms other than PLAIN (NTLM), as MechanismBackend is to a
// Backend.
type MechanismAuthenticator interface {
	Authenticator
	// Mechanism starts an exchange of the named mechanism (upper case);
	// ok is false when it is not supported.
	Mechanism(ctx context.Context, name string) (ex FrontendExchange, ok bool)
}

// FrontendExchange is the server side of one SASL authentication on a
// frontend (RFC 4422).
type FrontendExchange interface {
	// Next is SASLExchange.Next.
	Next(response []byte) (challenge []byte, done bool, err error)
	// Credentials, once Next is done, are the account Upstream dials by and
	// the user and password the frontend logs on to the POP3 Backend with,
	// as after USER/PASS: the lab knows every password, where Exchange's
	// front end would hand over a token.
	Credentials() (account, user, password string)
}
