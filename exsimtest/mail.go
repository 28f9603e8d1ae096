package exsimtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/topology"
)

// Message is a message Send sends from inside the lab.
type Message struct {
	// From is the envelope sender and From: header.
	From string
	To   []string
	// Subject and Body are the message's (Send adds Date, Message-ID and
	// MIME headers, built with go-message).
	Subject, Body string
	// FromServer is the server whose position sends. Default: for a
	// sender of a domain an internet server hosts (carol@fabrikam.com),
	// that server, which delivers by MX through the lab DNS as a mail
	// host of the internet does; for a mailbox of the organization
	// (alice@contoso.com), its Mailbox server, whose Transport service
	// queues and routes it as if Outlook had submitted it.
	FromServer string
}

// SendResult is what the lab answered.
type SendResult struct {
	// Accepted says the next hop took the message (250 after DATA) or,
	// for a mailbox of the organization, that its server queued it.
	Accepted bool
	// Reply is the last SMTP reply, in Exchange's words
	// ("250 2.6.0 <...> [InternalId=...] Queued mail for delivery").
	Reply     string
	MessageID string
	// Rcpts holds each recipient's reply to RCPT TO.
	Rcpts map[string]string
}

// Send sends m from a server's position inside the lab. A refusal (a 4xx
// or 5xx reply) is a SendResult with Accepted false; err is for what
// could not be tried at all (an unknown server, no recipient).
func (l *Lab) Send(ctx context.Context, m Message) (SendResult, error) {
	req := control.SendRequest{FromServer: m.FromServer, Sender: m.From, Recipients: m.To, Subject: m.Subject, Body: m.Body}
	if req.FromServer == "" {
		switch {
		case l.top.InternetServerFor(topology.Domain(m.From)) != nil:
			req.FromServer = l.top.InternetServerFor(topology.Domain(m.From)).Name
		case l.top.Mailbox(m.From) != nil && l.top.IsAcceptedDomain(topology.Domain(m.From)):
			req.FromServer, req.Queue = l.top.Mailbox(m.From).Server, true
		default:
			return SendResult{}, fmt.Errorf("exsimtest: Send from %q: no server of the lab hosts that sender; set Message.FromServer", m.From)
		}
	}
	res, err := l.rt.Send(ctx, req)
	if err != nil {
		return SendResult{}, fmt.Errorf("exsimtest: Send: %w", err)
	}
	return SendResult{Accepted: res.Accepted, Reply: res.Reply, MessageID: res.MessageID, Rcpts: res.Rcpts}, nil
}

// WaitDelivered waits up to 30 seconds for a message with subject in the
// Inbox of mailbox and returns it (RFC 5322 bytes, with every Received
// header of its path). It fails the test when none arrives.
func (l *Lab) WaitDelivered(t testing.TB, mailbox, subject string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := l.WaitMessage(ctx, mailbox, subject)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ErrNotDelivered is the error of WaitMessage when ctx ends first.
var ErrNotDelivered = errors.New("not delivered")

// WaitMessage is WaitDelivered for code without a testing.TB: it returns
// the message, or an error wrapping ErrNotDelivered when ctx ends first.
func (l *Lab) WaitMessage(ctx context.Context, mailbox, subject string) ([]byte, error) {
	mb := l.top.Mailbox(mailbox)
	if mb == nil {
		return nil, fmt.Errorf("exsimtest: no mailbox %s in the lab", mailbox)
	}
	for {
		msgs, err := l.rt.MailboxMessages(mb.Server, mb.Address, "INBOX")
		if err != nil {
			return nil, fmt.Errorf("exsimtest: %s: %w", mb.Address, err)
		}
		for _, m := range msgs {
			if m.Subject == subject {
				return l.rt.MailboxMessage(mb.Server, mb.Address, "INBOX", m.UID)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("exsimtest: %q in %s on %s: %w (%d other messages there)", subject, mb.Address, mb.Server, ErrNotDelivered, len(msgs))
		case <-time.After(25 * time.Millisecond):
		}
	}
}
