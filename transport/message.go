// Package transport is the Transport service that Mailbox, Edge and
// Internet servers share: a durable queue database with one delivery queue
// per next hop, retries and expiry in Exchange's terms, delivery by SMTP,
// non-delivery reports, and the message tracking log.
//
// Receive connectors (package servers/smtpd) hand it completed messages;
// the role's Router decides each recipient's next hop; the queue delivers.
package transport

import (
	"slices"
	"strings"
	"time"
)

// RecipientStatus is a recipient's state in the queue.
type RecipientStatus string

const (
	RcptReady     RecipientStatus = "Ready"
	RcptRetry     RecipientStatus = "Retry"
	RcptDelivered RecipientStatus = "Delivered"
	RcptFailed    RecipientStatus = "Failed"
)

// Terminal reports whether nothing more will happen to the recipient.
func (s RecipientStatus) Terminal() bool { return s == RcptDelivered || s == RcptFailed }

// Source says who handed a message to this server.
type Source struct {
	ClientIP       string `json:"client_ip"`
	ClientHostname string `json:"client_hostname"` // EHLO name
	ServerIP       string `json:"server_ip"`       // our address the client reached
	Connector      string `json:"connector"`       // "EX01\Default EX01"
	// AuthAs is Anonymous, Internal (an Exchange server or an
	// authenticated user) or Partner; X-MS-Exchange-Organization-AuthAs.
	AuthAs string `json:"auth_as"`
	// OriginalClientIP is the first client's address, as the Front End or
	// the Edge saw it.
	OriginalClientIP string `json:"original_client_ip,omitempty"`
	TLS              string `json:"tls,omitempty"`
}

// DSNParams are the RFC 3461 envelope parameters of a message.
type DSNParams struct {
	Ret   string `json:"ret,omitempty"`   // FULL or HDRS
	EnvID string `json:"envid,omitempty"` // xtext-decoded
}

// Recipient is one envelope recipient and its delivery state.
type Recipient struct {
	Address string          `json:"address"`
	Notify  []string        `json:"notify,omitempty"` // NEVER or SUCCESS, FAILURE, DELAY
	ORCPT   string          `json:"orcpt,omitempty"`  // "rfc822;addr"
	Status  RecipientStatus `json:"status"`
	// LastError is the last failure in Exchange's words.
	LastError string    `json:"last_error,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	NextRetry time.Time `json:"next_retry,omitzero"`
	// Queue is the delivery queue key the recipient sits in (not stored).
	Queue string `json:"-"`
}

// Notifies reports whether the recipient asked for a DSN of kind
// ("SUCCESS", "FAILURE", "DELAY"). Without NOTIFY, FAILURE and DELAY are
// the default (RFC 3461 section 4.1).
func (r *Recipient) Notifies(kind string) bool {
	if len(r.Notify) == 0 {
		return kind != "SUCCESS"
	}
	return slices.ContainsFunc(r.Notify, func(n string) bool { return strings.EqualFold(n, kind) })
}

// Message is one message in the queue database. The body (the whole
// RFC 5322 message as it will be sent on) lives beside it in the spool.
type Message struct {
	// ID is the server's InternalId for the message.
	ID int64 `json:"id"`
	// MessageID is the Message-Id header, with angle brackets.
	MessageID string `json:"message_id"`
	// NetworkID is X-MS-Exchange-Organization-Network-Message-Id.
	NetworkID string `json:"network_id"`
	From      string `json:"from"` // "" for the null reverse path
	Subject   string `json:"subject,omitempty"`
	Size      int64  `json:"size"`
	// Arrived is when this server queued the message.
	Arrived time.Time `json:"arrived"`
	// OriginalArrival is when the organization first received it.
	OriginalArrival time.Time   `json:"original_arrival"`
	Source          Source      `json:"source"`
	DSN             DSNParams   `json:"dsn,omitzero"`
	UTF8            bool        `json:"utf8,omitempty"`
	Body8Bit        string      `json:"body,omitempty"` // BODY= of the arrival
	Recipients      []Recipient `json:"recipients"`
	// DelayNotified records that a delay DSN was sent.
	DelayNotified bool `json:"delay_notified,omitempty"`
	// IsDSN marks a message that exsim generated as a DSN or NDR.
	IsDSN bool `json:"is_dsn,omitempty"`
	// Suspended holds the message (Suspend-Message).
	Suspended bool `json:"suspended,omitempty"`
}

// Done reports whether every recipient is terminal.
func (m *Message) Done() bool {
	for i := range m.Recipients {
		if !m.Recipients[i].Status.Terminal() {
			return false
		}
	}
	return true
}

// Recipient returns the recipient with address, or nil.
func (m *Message) Recipient(address string) *Recipient {
	for i := range m.Recipients {
		if strings.EqualFold(m.Recipients[i].Address, address) {
			return &m.Recipients[i]
		}
	}
	return nil
}

// RecipientAddresses lists every recipient address.
func (m *Message) RecipientAddresses() []string {
	out := make([]string, len(m.Recipients))
	for i, r := range m.Recipients {
		out[i] = r.Address
	}
	return out
}
