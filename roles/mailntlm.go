package roles

import (
	"context"
	"fmt"

	"github.com/emersion/go-sasl"

	"github.com/exsim/exsim/internal/lockout"
	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/servers/imapd"
	"github.com/exsim/exsim/servers/pop3d"
	"github.com/exsim/exsim/topology"
)

// The IMAP4 and POP3 frontends' Authenticators with NTLM: the same
// acceptor as SMTP AUTH and HTTP (mailboxRole.ntlm), the account checked
// against the organization's mailboxes as PLAIN checks it. The two servers
// name their add-on's method alike with different types, hence two types.
type (
	imapFrontAuth struct{ *storeAuth }
	pop3FrontAuth struct{ *storeAuth }
)

var (
	_ imapd.MechanismAuthenticator = imapFrontAuth{}
	_ pop3d.MechanismAuthenticator = pop3FrontAuth{}
)

func (a imapFrontAuth) Mechanism(ctx context.Context, name string) (imapd.SASLExchange, bool) {
	l := a.ntlmLogon(ctx, name)
	if l == nil {
		return nil, false
	}
	return l, true
}

func (a pop3FrontAuth) Mechanism(ctx context.Context, name string) (pop3d.FrontendExchange, bool) {
	l := a.ntlmLogon(ctx, name)
	if l == nil {
		return nil, false
	}
	return pop3Logon{l}, true
}

// ntlmLogon starts an NTLM logon, nil for any other mechanism or without
// an NTLM acceptor.
func (a *storeAuth) ntlmLogon(ctx context.Context, mech string) *ntlmLogon {
	if mech != ntlm.Mechanism || a.ntlm == nil {
		return nil
	}
	l := &ntlmLogon{}
	src := lockout.Source(ctx)
	l.sasl = lockedSASL{ctx: ctx, l: a.lock, src: src, account: &l.account, Server: ntlm.NewSASLServer(a.ntlm, func(account string) error {
		if err := admit(a.lock, account, src, &l.account); err != nil {
			return err
		}
		m := a.accts.lookup(account)
		if m == nil {
			return ErrLogonFailed
		}
		l.m = m
		return nil
	})}
	return l
}

// ntlmLogon is one NTLM logon on a mail-access frontend.
type ntlmLogon struct {
	sasl    sasl.Server       // NTLM through the lockout
	m       *topology.Mailbox // after success
	account string            // the NTLM user, once known
}

// Next runs the exchange; every failure is a logon failure in the words of
// both servers.
func (l *ntlmLogon) Next(resp []byte) ([]byte, bool, error) {
	c, done, err := l.sasl.Next(resp)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", errLogonFailure, err)
	}
	return c, done, nil
}

// Credentials are what the frontend logs on to the mailbox's backend with,
// as after PLAIN: the backend checks the same password.
func (l *ntlmLogon) Credentials() (account, password string) {
	return l.m.Address, l.m.Password
}

// pop3Logon adapts Credentials to pop3d, which logs on with a user name.
type pop3Logon struct{ *ntlmLogon }

func (l pop3Logon) Credentials() (account, user, password string) {
	return l.m.Address, l.m.Address, l.m.Password
}
