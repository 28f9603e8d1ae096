package roles

import (
	"io"

	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// hub returns the Backend of the Transport service's Receive connectors:
// Default <SERVER> (2525) and Client Proxy <SERVER> (465). Only Exchange
// servers of the organization may use them; they categorize each
// recipient and queue the message durably before answering 250.
func (r *mailboxRole) hub(in *transport.Ingress) smtpd.Backend {
	return smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		return &hubSession{smtpAuth: smtpAuth{r: r, c: c}, in: in}, nil
	})
}

type hubSession struct {
	smtpAuth // r, c
	in       *transport.Ingress
	env      transport.Envelope
}

func (h *hubSession) Mail(from string, o *smtpd.MailOptions) error {
	if h.exchangePeer() == nil {
		return smtpd.ReplyNotAuthenticated
	}
	h.env = transport.Envelope{From: from, Mail: o}
	return nil
}

func (h *hubSession) Rcpt(to string, o *smtpd.RcptOptions) error {
	if h.r.t.IsAcceptedDomain(topology.Domain(to)) && h.r.t.Mailbox(to) == nil {
		return smtpd.ReplyRecipientNotFound
	}
	h.env.AddRcpt(to, o)
	return nil
}

// Data queues the message: the peer is an Exchange server
// (ExchangeServers), so the header firewall keeps its organization headers
// and what is missing is filled in.
func (h *hubSession) Data(rd io.Reader) (*smtpd.Reply, error) {
	st := transport.Stamp{Accept: transport.AcceptHeaders(transport.ExchangeServers), Org: transport.OrgFill}
	return h.in.Receive(h.c, &h.env, st, rd, h.r.tr)
}

func (h *hubSession) Reset()  { h.env.Reset() }
func (h *hubSession) Logout() {}
