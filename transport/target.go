package transport

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/exsim/exsim/servers/smtpd"
)

// Target is where an accepted message goes, in maddy's delivery
// semantics: StartDelivery, AddRcpt for each recipient, Body, then Commit
// or Abort. The queue (Transport) is a target; so is mailbox delivery.
type Target interface {
	StartDelivery(ctx context.Context, m *Message) (Delivery, error)
}

// Delivery is one message on its way into a Target.
type Delivery interface {
	AddRcpt(ctx context.Context, r Recipient) error
	// Body hands over the whole message; the bytes stay valid until
	// Commit or Abort returns, and not after.
	Body(ctx context.Context, body []byte) error
	// Commit makes the delivery durable and sets the Message's ID (the
	// InternalId of the 250 reply).
	Commit(ctx context.Context) error
	Abort(ctx context.Context) error
}

// Stamper is a Target that adds header fields of its own at the end of the
// header section (mailbox delivery's MessageLatency). Ingress asks it
// before it assembles the message, so the body is not copied again.
type Stamper interface {
	Stamp(m *Message, now time.Time) []string
}

var _ Target = (*Transport)(nil)

// StartDelivery makes the queue a Target: Commit is Submit.
func (t *Transport) StartDelivery(ctx context.Context, m *Message) (Delivery, error) {
	return &queueDelivery{t: t, collected: collected{m: m}}, nil
}

// collected is a Delivery's part that gathers the recipients and the body
// until Commit; Abort has nothing to undo.
type collected struct {
	m    *Message
	body []byte
}

func (d *collected) AddRcpt(_ context.Context, r Recipient) error {
	d.m.Recipients = append(d.m.Recipients, r)
	return nil
}

func (d *collected) Body(_ context.Context, body []byte) error {
	d.body = body
	return nil
}

func (d *collected) Abort(context.Context) error { return nil }

type queueDelivery struct {
	t *Transport
	collected
}

func (d *queueDelivery) Commit(ctx context.Context) error {
	return d.t.Submit(ctx, d.m, d.body)
}

// MailboxStore is the mailbox store as mailbox delivery needs it.
type MailboxStore interface {
	// StoreMessage puts msg into the inbox of each mailbox in one durable
	// transaction and returns one result per mailbox. A non-nil error
	// means nothing was stored; one wrapping ErrMessageTooLarge is over
	// the store's size limit. msg is not kept after the call. id is the
	// message's Network-Message-Id: a mailbox that already holds id gets
	// no second copy (StoreResult.Duplicate), so a sender that retries
	// after a crash delivers exactly once.
	StoreMessage(ctx context.Context, id string, msg []byte, mailboxes []string) ([]StoreResult, error)
}

// StoreResult is the outcome for one mailbox.
type StoreResult struct {
	UID       uint32
	Err       error
	Duplicate bool // the mailbox already held the message: nothing stored
}

// ErrMessageTooLarge is a message over the mailbox store's size limit.
var ErrMessageTooLarge = errors.New("message too large for the mailbox store")

// MailboxDelivery is the Mailbox Transport Delivery service as a Target:
// it stores the message and logs the DELIVER tracking event (source
// STOREDRIVER), then asks the Transport for success DSNs.
type MailboxDelivery struct {
	Store     MailboxStore
	Transport *Transport // tracking log, FQDN, success DSNs
	// Database names the mailbox database (tracking source-context
	// "MDB:<database>").
	Database string
}

var (
	_ Target  = (*MailboxDelivery)(nil)
	_ Stamper = (*MailboxDelivery)(nil)
)

// Stamp adds MessageLatency: the time since the organization first
// received the message.
func (md *MailboxDelivery) Stamp(m *Message, now time.Time) []string {
	return []string{HeaderMessageLatency + ": " + MessageLatency(md.Transport.FQDN(), now.Sub(m.OriginalArrival))}
}

func (md *MailboxDelivery) StartDelivery(ctx context.Context, m *Message) (Delivery, error) {
	return &mailboxDelivery{md: md, collected: collected{m: m}}, nil
}

type mailboxDelivery struct {
	md *MailboxDelivery
	collected
}

// Commit stores the message. Recipients the store refused are left out;
// when none was stored the delivery fails with Exchange's
// RecipientNotFound.
func (d *mailboxDelivery) Commit(ctx context.Context) error {
	m, t := d.m, d.md.Transport
	res, err := d.md.Store.StoreMessage(ctx, m.NetworkID, d.body, m.RecipientAddresses())
	if err != nil {
		if errors.Is(err, ErrMessageTooLarge) {
			return errors.Join(smtpd.ReplyMessageTooLarge, err)
		}
		return err
	}
	var delivered, dups []Recipient
	for i, r := range res {
		if i >= len(m.Recipients) {
			break
		}
		if r.Err != nil {
			t.log.Error("mailbox delivery failed", "msg_id", m.MessageID, "rcpt", m.Recipients[i].Address, "err", r.Err)
			continue
		}
		m.ID = int64(r.UID)
		if r.Duplicate {
			dups = append(dups, m.Recipients[i])
			continue
		}
		delivered = append(delivered, m.Recipients[i])
	}
	if len(delivered)+len(dups) == 0 {
		return smtpd.ReplyRecipientNotFound
	}
	if len(dups) > 0 {
		// The sender retried what this store already holds (a crash after
		// our fsync, before its bookkeeping): it gets its 250 again.
		d.trackDelivery(EventDupDeliver, dups)
	}
	if len(delivered) == 0 {
		return nil
	}
	d.trackDelivery(EventDeliver, delivered)
	for _, r := range delivered {
		if r.Notifies("SUCCESS") && len(r.Notify) > 0 {
			// The DSN is built after Commit returns: it gets its own copy.
			t.NotifyDelivered(m, delivered, bytes.Clone(d.body))
			break
		}
	}
	return nil
}

// trackDelivery logs a store driver event (DELIVER, DUPLICATEDELIVER) for
// the recipients.
func (d *mailboxDelivery) trackDelivery(event string, rcpts []Recipient) {
	m, t := d.m, d.md.Transport
	addrs := make([]string, len(rcpts))
	for i, r := range rcpts {
		addrs[i] = r.Address
	}
	t.track(LogDelivery, &TrackingEvent{
		ClientIP: m.Source.ClientIP, ClientHostname: m.Source.ClientHostname, ServerIP: m.Source.ServerIP,
		ServerHostname: t.FQDN(), ConnectorID: m.Source.Connector, Source: SourceStoreDriver,
		EventID: event, InternalMessageID: m.ID, MessageID: m.MessageID, NetworkMessageID: m.NetworkID,
		Recipients: addrs, RecipientStatus: []string{"250 2.1.5 Recipient OK"}, TotalBytes: int64(len(d.body)),
		RecipientCount: len(addrs), MessageSubject: m.Subject, Sender: m.From, ReturnPath: m.From,
		Directionality: directionality(m), OriginalClientIP: m.Source.OriginalClientIP,
		SourceContext: "MDB:" + d.md.Database,
	})
}
