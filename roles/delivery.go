package roles

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/transport"
)

// delivery returns the Backend of Default Mailbox Delivery <SERVER> (475):
// the Mailbox Transport Delivery service, which takes mail from the
// Transport service of any Mailbox server and writes it into the mailboxes
// this server hosts.
func (r *mailboxRole) delivery(in *transport.Ingress) smtpd.Backend {
	target := &transport.MailboxDelivery{Store: mailboxStore{r.store}, Transport: r.tr, Database: databaseName(r.s.Config.Name)}
	return smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		return &deliverySession{smtpAuth: smtpAuth{r: r, c: c}, in: in, target: target}, nil
	})
}

type deliverySession struct {
	smtpAuth // r, c
	in       *transport.Ingress
	target   *transport.MailboxDelivery
	env      transport.Envelope
}

func (d *deliverySession) Mail(from string, o *smtpd.MailOptions) error {
	if exchangeServer(d.r.t, d.r.s.rt.ca, d.c.TLS()) == nil {
		return smtpd.ReplyNotAuthenticated
	}
	d.env = transport.Envelope{From: from, Mail: o}
	return nil
}

func (d *deliverySession) Rcpt(to string, o *smtpd.RcptOptions) error {
	mb := d.r.t.Mailbox(to)
	if mb == nil || !strings.EqualFold(mb.Server, d.r.s.Config.Name) {
		return smtpd.ReplyRecipientNotFound
	}
	d.env.AddRcpt(to, o)
	return nil
}

// Data writes the message into the mailboxes (the target logs DELIVER).
// The peer is a Transport service (ExchangeServers): the header firewall
// keeps every header. (The page's list of the only organization headers
// Mailbox Transport Delivery preserves, SCL, AuthAs, AuthSource, ...,
// disagrees with captures of real mailboxes, which also show
// Network-Message-Id and OriginalClientIPAddress; EXCHANGE.md section 3
// follows the captures.)
func (d *deliverySession) Data(rd io.Reader) (*smtpd.Reply, error) {
	st := transport.Stamp{Accept: transport.AcceptHeaders(transport.ExchangeServers), Org: transport.OrgFill}
	return d.in.Receive(d.c, &d.env, st, rd, d.target)
}

func (d *deliverySession) Reset()  { d.env.Reset() }
func (d *deliverySession) Logout() {}

// mailboxStore is the store as Mailbox Transport Delivery sees it.
type mailboxStore struct{ s *store.Store }

var _ transport.MailboxStore = mailboxStore{}

func (m mailboxStore) StoreMessage(ctx context.Context, id string, msg []byte, mailboxes []string) ([]transport.StoreResult, error) {
	res, err := m.s.DeliverOnce(ctx, id, msg, mailboxes...)
	if errors.Is(err, store.ErrTooLarge) {
		return nil, errors.Join(transport.ErrMessageTooLarge, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]transport.StoreResult, len(res))
	for i, d := range res {
		out[i] = transport.StoreResult{UID: d.UID, Err: d.Err, Duplicate: d.Duplicate}
	}
	return out, nil
}
