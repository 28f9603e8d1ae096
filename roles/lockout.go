package roles

import (
	"context"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/exsim/exsim/internal/lockout"
	"github.com/exsim/exsim/topology"
)

// The lab's one logon lockout (internal/lockout), shared by every
// protocol of every server of the process as Active Directory's account
// lockout is shared by every protocol of every Exchange server: OWA and
// HTTP Basic/NTLM (httpd.Options.Lockout), the IMAP4 and POP3 frontends
// (storeAuth), SMTP AUTH (smtpAuth). It counts per account, whatever
// spelling the logon used, and per source address.

// newLockout is the runtime's lockout with policy p.
func newLockout(t *topology.Topology, p lockout.Policy, now func() time.Time) *lockout.Lockout {
	return lockout.New(p, now, func(login string) string {
		if m := LookupLogon(t, login); m != nil {
			return m.Address
		}
		return ""
	})
}

// checkLogon runs check (the password test) for login from src through
// the lockout: refused while the account or the source is locked, a
// failure counted and held for the lockout's delay. Every refusal is
// ErrLogonFailed or check's error, so each protocol words it as the bad
// password it words already.
func checkLogon(ctx context.Context, l *lockout.Lockout, login, src string, check func() error) error {
	if l.Locked(login, src) {
		lockout.Sleep(ctx, l.LockedDelay())
		return ErrLogonFailed
	}
	if err := check(); err != nil {
		d, _ := l.Fail(login, src)
		lockout.Sleep(ctx, d)
		return err
	}
	l.Succeed(login, src)
	return nil
}

// lockedSASL counts a mechanism whose account is known only once the
// exchange succeeds (NTLM): a failed exchange counts against the source
// (and the account when the mechanism named it), and onSuccess refuses an
// account or source under lockout.
type lockedSASL struct {
	sasl.Server
	ctx     context.Context
	l       *lockout.Lockout
	src     string
	account *string // set by the mechanism's success callback
}

func (s lockedSASL) Next(response []byte) ([]byte, bool, error) {
	c, done, err := s.Server.Next(response)
	switch {
	case err != nil:
		d, _ := s.l.Fail(*s.account, s.src)
		lockout.Sleep(s.ctx, d)
	case done:
		s.l.Succeed(*s.account, s.src)
	}
	return c, done, err
}

// admit is the success callback's lockout check.
func admit(l *lockout.Lockout, account, src string, name *string) error {
	*name = account
	if l.Locked(account, src) {
		return ErrLogonFailed
	}
	return nil
}
