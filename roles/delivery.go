package roles

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/transport"
)

// delivery returns the Backend of Default Mailbox Delivery <SERVER> (475):
// the Mailbox Transport Delivery service, which takes mail from the
// Transport service of any Mailbox server and writes it into the mailboxes
// this server hosts.
func (r *mailboxRole) delivery() smtpd.Backend {
	return smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		return &deliverySession{smtpAuth: smtpAuth{r: r, c: c}, r: r, c: c}, nil
	})
}

type deliverySession struct {
	smtpAuth
	r   *mailboxRole
	c   *smtpd.Conn
	env envelope
}

func (d *deliverySession) Mail(from string, o *smtpd.MailOptions) error {
	if exchangeServer(d.r.t, d.r.s.rt.ca, d.c.RemoteAddr(), d.c.TLS()) == nil {
		return smtpd.ReplyNotAuthenticated
	}
	d.env.reset()
	d.env.from, d.env.mail = from, o
	return nil
}

func (d *deliverySession) Rcpt(to string, o *smtpd.RcptOptions) error {
	mb := d.r.t.Mailbox(to)
	if mb == nil || !strings.EqualFold(mb.Server, d.r.s.Config.Name) {
		return smtpd.ReplyRecipientNotFound
	}
	d.env.addRcpt(to, o)
	return nil
}

func (d *deliverySession) Data(rd io.Reader) (*smtpd.Reply, error) {
	start := time.Now()
	data, err := readMessage(rd)
	if err != nil {
		return nil, err
	}
	m := splitMessage(data)
	if hopCount(m) >= maxHopCount {
		return nil, smtpd.ReplyHopCount
	}
	msg, body := d.r.s.accept(d.c, d.env, m, "Mailbox Transport", d.r.t)
	// Delivery stamps the latency since the organization first saw it.
	final := splitMessage(body)
	now := d.r.s.rt.o.Now()
	body = final.bytes(nil, []string{hdrMessageLatency + ": " + messageLatency(d.r.s.Config.FQDN, now.Sub(msg.OriginalArrival))})
	res, err := d.r.store.Deliver(context.Background(), body, d.env.addresses()...)
	if err != nil {
		d.c.Logger().Error("mailbox delivery failed", "msg_id", msg.MessageID, "err", err)
		if errors.Is(err, store.ErrTooLarge) {
			return nil, smtpd.ReplyMessageTooLarge
		}
		return nil, smtpd.ReplyInsufficientResources
	}
	var delivered []string
	var uid int64
	var rcpts []transport.Recipient
	for i, dr := range res {
		if dr.Err != nil {
			d.c.Logger().Error("mailbox delivery failed", "msg_id", msg.MessageID, "rcpt", dr.Mailbox, "err", dr.Err)
			continue
		}
		delivered = append(delivered, d.env.rcpts[i].Address)
		rcpts = append(rcpts, d.env.rcpts[i])
		uid = int64(dr.UID)
	}
	if len(delivered) == 0 {
		return nil, smtpd.ReplyRecipientNotFound
	}
	d.r.logs.tracking.Write(transport.LogDelivery, &transport.TrackingEvent{
		ClientIP: msg.Source.ClientIP, ClientHostname: msg.Source.ClientHostname, ServerIP: msg.Source.ServerIP,
		ServerHostname: d.r.s.Config.FQDN, ConnectorID: msg.Source.Connector, Source: transport.SourceStoreDriver,
		EventID: transport.EventDeliver, InternalMessageID: uid, MessageID: msg.MessageID, NetworkMessageID: msg.NetworkID,
		Recipients: delivered, RecipientStatus: []string{"250 2.1.5 Recipient OK"}, TotalBytes: int64(len(body)),
		RecipientCount: len(delivered), MessageSubject: msg.Subject, Sender: msg.From, ReturnPath: msg.From,
		Directionality: directionalityOf(msg), OriginalClientIP: msg.Source.OriginalClientIP,
		SourceContext: "MDB:" + databaseName(d.r.s.Config.Name),
	})
	msg.Arrived = now
	d.r.tr.NotifyDelivered(msg, rcpts, body)
	return smtpd.Queued(msg.MessageID, uid, d.r.s.Config.FQDN, int64(len(data)), time.Since(start)), nil
}

func directionalityOf(m *transport.Message) string {
	if m.Source.AuthAs == "Anonymous" {
		return "Incoming"
	}
	return "Originating"
}

func (d *deliverySession) Reset()  { d.env.reset() }
func (d *deliverySession) Logout() {}
