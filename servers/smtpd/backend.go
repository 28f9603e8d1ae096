package smtpd

import (
	"crypto/tls"
	"io"

	"github.com/emersion/go-sasl"
)

// Backend creates a Session for each accepted connection. It is the only
// way the transport behind a Receive connector talks to this package.
type Backend interface {
	// NewSession is called before the greeting. An error that is a *Reply
	// (say ReplyNoPermission for a refused address) is sent instead of the
	// greeting and the connection closed; any other error sends
	// ReplyServiceNotAvailable.
	NewSession(c *Conn) (Session, error)
}

// BackendFunc adapts a function to Backend.
type BackendFunc func(c *Conn) (Session, error)

// NewSession calls f.
func (f BackendFunc) NewSession(c *Conn) (Session, error) { return f(c) }

// Session is one SMTP session. Its methods are called from the connection's
// goroutine, except Data for a BDAT transaction, which runs on a goroutine
// the connection owns while the connection reads the chunks.
type Session interface {
	// Mail starts a transaction. A *Reply error is sent as is; any other
	// error sends ReplyTemporaryServerError.
	Mail(from string, opts *MailOptions) error
	// Rcpt adds a recipient; errors as for Mail. Anonymous sessions wait
	// TarpitInterval before any 5xx reply to RCPT.
	Rcpt(to string, opts *RcptOptions) error
	// Data reads the message: dot-unstuffed after DATA, the concatenated
	// chunks after BDAT. r returns an error that is ReplyMessageTooLarge or
	// ReplyHeaderTooLarge when a limit is crossed; the server sends that reply
	// whatever Data returns. Otherwise a returned *Reply is sent (the 250
	// 2.6.0 of Queued, or an error reply); another error sends
	// ReplyTemporaryServerError. Bytes Data leaves unread are drained.
	Data(r io.Reader) (*Reply, error)
	// Reset ends the transaction: after RSET, after each message, and when
	// EHLO, HELO or STARTTLS discard a transaction in progress.
	Reset()
	// Logout is called once when the connection ends.
	Logout()
}

// AuthSession is a Session that offers SMTP AUTH (RFC 4954).
type AuthSession interface {
	// AuthMechanisms lists the mechanisms for the EHLO AUTH line, in order
	// ("NTLM", "LOGIN", "PLAIN"); it is asked at each EHLO and AUTH and may
	// look at Conn.TLS. None: no AUTH line.
	AuthMechanisms() []string
	// Auth starts mech. An error answers 504 5.7.4 (a *Reply error is sent
	// as is): that is how an advertised mechanism exsim does not implement,
	// such as NTLM, is refused. The sasl.Server's authenticator calls
	// Conn.SetAuthIdentity; any error from it is 535 5.7.3.
	Auth(mech string) (sasl.Server, error)
}

// TLSSession is a Session told about each TLS handshake (STARTTLS,
// X-ANONYMOUSTLS or implicit TLS), for example to identify an Exchange server
// by its client certificate and call Conn.SetAuthIdentity. An error is sent
// (a *Reply as is, else ReplyServiceNotAvailable) and the connection closed.
type TLSSession interface {
	TLSEstablished(cs *tls.ConnectionState) error
}

var _ Backend = BackendFunc(nil)
