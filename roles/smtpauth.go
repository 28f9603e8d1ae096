package roles

import (
	"crypto/tls"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/topology"
)

// smtpAuth is SMTP AUTH as a Mailbox server's Receive connectors offer it
// (Integrated and BasicAuthRequireTLS): NTLM always, LOGIN and PLAIN after
// TLS, against the organization's mailboxes. Sessions embed it.
type smtpAuth struct {
	r    *mailboxRole
	c    *smtpd.Conn
	user *topology.Mailbox // after AUTH

	// exPeer is exchangeServer for the TLS state exPeerTLS: the check of a
	// client certificate's signature is an RSA verification, done once per
	// handshake instead of once per message.
	exPeer    *topology.Server
	exPeerTLS *tls.ConnectionState
}

// exchangePeer is the Exchange server the connection's client certificate
// names (exchangeServer), or nil.
func (a *smtpAuth) exchangePeer() *topology.Server {
	cs := a.c.TLS()
	if cs == nil {
		return nil
	}
	if cs != a.exPeerTLS {
		a.exPeer, a.exPeerTLS = exchangeServer(a.r.t, a.r.s.rt.ca, cs), cs
	}
	return a.exPeer
}

var _ smtpd.AuthSession = (*smtpAuth)(nil)

func (a *smtpAuth) AuthMechanisms() []string {
	if a.c.TLS() == nil {
		return []string{"NTLM"}
	}
	return []string{"NTLM", "LOGIN", "PLAIN"}
}

func (a *smtpAuth) Auth(mech string) (sasl.Server, error) {
	lock, src, ctx := a.r.s.rt.lock, ipOf(a.c.RemoteAddr()), a.c.Context()
	check := func(user, pass string) error {
		var m *topology.Mailbox
		err := checkLogon(ctx, lock, user, src, func() (err error) {
			m, err = a.r.accts.Authenticate(user, pass)
			return err
		})
		if err != nil {
			return err
		}
		a.user = m
		a.c.SetAuthIdentity(m.Address)
		return nil
	}
	switch strings.ToUpper(mech) {
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && !strings.EqualFold(identity, user) {
				if m := a.r.accts.lookup(user); m == nil || !strings.EqualFold(identity, m.Address) {
					return ErrLogonFailed
				}
			}
			return check(user, pass)
		}), nil
	case "LOGIN":
		return smtpd.NewLoginServer(check), nil
	case "NTLM":
		var name string
		return lockedSASL{ctx: ctx, l: lock, src: src, account: &name, Server: ntlm.NewSASLServer(a.r.ntlm, func(account string) error {
			if err := admit(lock, account, src, &name); err != nil {
				return err
			}
			m := a.r.t.Mailbox(account)
			if m == nil {
				return ErrLogonFailed
			}
			a.user = m
			a.c.SetAuthIdentity(m.Address)
			return nil
		})}, nil
	}
	return nil, smtpd.ReplyAuthUnrecognized
}
