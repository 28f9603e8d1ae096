package roles

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/transport"
)

// delivery returns the Backend of Default Mailbox Delivery <SERVER> (475):
// the Mailbox Transport Delivery service, which takes mail from the
// Transport service of any Mailbox server and writes it into the mailboxes
// this server hosts.
func (r *mailboxRole) delivery(in *transport.Ingress) smtpd.Backend {
	target := &transport.MailboxDelivery{Store: mailboxStore{s: r.store, delivered: r.delivered}, Transport: r.tr, Database: databaseName(r.s.Config.Name)}
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
	if d.exchangePeer() == nil {
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

// mailboxStore is the store as Mailbox Transport Delivery sees it;
// delivered runs for each mailbox a message was stored in.
type mailboxStore struct {
	s         *store.Store
	delivered func(ctx context.Context, msg []byte, mailbox string)
}

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
		if d.Err == nil && !d.Duplicate && m.delivered != nil && i < len(mailboxes) {
			m.delivered(ctx, msg, mailboxes[i])
		}
	}
	return out, nil
}

// delivered is what the Mailbox server does with a message just stored:
// its calendar processing puts a meeting request on the calendar, and an
// automatic reply goes out when OOF is on.
func (r *mailboxRole) delivered(ctx context.Context, msg []byte, mailbox string) {
	r.calendarAttendant(ctx, msg, mailbox)
	r.automaticReply(ctx, msg, mailbox)
}

// calendarAttendant puts a meeting request on the attendee's calendar as
// Tentative until answered, as Exchange's calendar processing does for a
// user mailbox (Set-CalendarProcessing AutomateProcessing AutoUpdate,
// AddNewRequestsTentatively): the request's own event, which Exchange
// sends Tentative with the organizer's status as the intended one. An
// update (the same UID) replaces the item it updates.
func (r *mailboxRole) calendarAttendant(ctx context.Context, msg []byte, mailbox string) {
	if !containsFoldASCII(msg, "text/calendar") {
		// No part can be a calendar: skip the MIME parse of every message.
		return
	}
	evs := httpd.MessageEvents(msg)
	if len(evs) == 0 || evs[0].Method != "REQUEST" || evs[0].UID == "" || strings.EqualFold(evs[0].Organizer, mailbox) {
		return
	}
	mb, err := r.store.Mailbox(mailbox)
	if err != nil {
		return
	}
	cal, err := mb.Folder(httpd.FolderCalendar)
	if err != nil {
		return
	}
	items, err := cal.Messages()
	if err != nil {
		r.s.log.Error("calendar processing", "rcpt", mailbox, "err", err)
		return
	}
	var stale []uint32
	for _, it := range items {
		body, err := cal.Body(it.UID)
		if err != nil {
			continue
		}
		if old := httpd.MessageEvents(body); len(old) > 0 && old[0].UID == evs[0].UID {
			stale = append(stale, it.UID)
		}
	}
	if len(stale) > 0 {
		if _, err := cal.Remove(ctx, stale); err != nil {
			r.s.log.Error("calendar processing", "rcpt", mailbox, "err", err)
		}
	}
	if _, err := cal.Append(ctx, msg, []string{store.FlagSeen}, r.s.rt.o.Now()); err != nil {
		r.s.log.Error("calendar processing", "rcpt", mailbox, "err", err)
	}
}

// containsFoldASCII reports whether b holds s (lower-case ASCII) in any
// letter case: a MIME part's Content-Type, which may be written in any case
// (RFC 2045 section 5.1), without a lower-cased copy of the message.
func containsFoldASCII(b []byte, s string) bool {
	for len(b) >= len(s) {
		i := bytes.IndexAny(b[:len(b)-len(s)+1], s[:1]+strings.ToUpper(s[:1]))
		if i < 0 {
			return false
		}
		if bytes.EqualFold(b[i:i+len(s)], []byte(s)) {
			return true
		}
		b = b[i+1:]
	}
	return false
}
