package pop3d

import "errors"

// Error is a protocol error: a negative reply carrying the exact text the
// client sees ("-ERR ..."). A Backend, Authenticator or Maildrop may return
// one (wrapped or not) to choose the text; the server sends Text verbatim.
type Error struct {
	Text string
}

func (e *Error) Error() string { return e.Text }

var (
	// ErrLogonFailure is returned by a Backend or Authenticator for
	// credentials it does not accept. The client gets the persona's
	// LogonFailure text after the brute-force delay.
	ErrLogonFailure = errors.New("pop3d: logon failure")
	// ErrInUse is returned by a Backend whose maildrop is locked by another
	// session (RFC 1939 section 8; RFC 2449 section 8.1.1 [IN-USE]).
	ErrInUse = errors.New("pop3d: maildrop in use")
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("pop3d: server closed")
)
