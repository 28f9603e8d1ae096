package roles

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"strings"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/topology"
)

// ErrLogonFailed is any failed logon; callers word it in their protocol.
var ErrLogonFailed = errors.New("logon failure: unknown user name or bad password")

// accounts resolves logons against the topology's mailboxes. Exchange
// accepts alice@contoso.com (UPN or SMTP address), CONTOSO\alice (domain
// and sAMAccountName) and plain alice.
type accounts struct {
	t *topology.Topology
	// homes restricts logons to mailboxes on these servers (nil: all).
	homes map[string]bool
}

// lookup finds the mailbox a logon name means; an internet server's users
// also log on with their bare local part.
func (a accounts) lookup(user string) *topology.Mailbox {
	m := a.t.MailboxForLogon(user)
	if m == nil && !strings.ContainsAny(user, `@\`) {
		for i := range a.t.Mailboxes {
			mb := &a.t.Mailboxes[i]
			local, _, _ := strings.Cut(mb.Address, "@")
			if strings.EqualFold(local, strings.TrimSpace(user)) && a.homes[mb.Server] {
				m = mb
				break
			}
		}
	}
	if m == nil || a.homes != nil && !a.homes[m.Server] {
		return nil
	}
	return m
}

// LookupLogon finds the mailbox a logon name (alice@contoso.com,
// CONTOSO\alice, alice) means, or nil.
func LookupLogon(t *topology.Topology, user string) *topology.Mailbox {
	return accounts{t: t}.lookup(user)
}

// Authenticate checks a logon name and password.
func (a accounts) Authenticate(user, password string) (*topology.Mailbox, error) {
	m := a.lookup(user)
	if m == nil {
		// Compare anyway so a wrong name costs what a wrong password does.
		subtle.ConstantTimeCompare([]byte(password), []byte("x"))
		return nil, ErrLogonFailed
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(m.Password)) != 1 {
		return nil, ErrLogonFailed
	}
	return m, nil
}

// exchangeServer identifies a peer as an Exchange server of the
// organization by its lab client certificate: Exchange Server
// authentication (mutual TLS) is what grants the ExchangeServers
// permissions, never the source address, which any local process can bind.
// A connection from an Exchange server's address without that certificate
// is anonymous.
func exchangeServer(t *topology.Topology, ca *certs.CA, cs *tls.ConnectionState) *topology.Server {
	if name := ca.PeerName(cs); name != "" {
		if s := t.ServerByFQDN(name); s != nil && s.IsExchange() {
			return s
		}
	}
	return nil
}
