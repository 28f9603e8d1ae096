package transport

import (
	"context"
	"strings"
)

// DeliveryType is Get-Queue's DeliveryType (EXCHANGE.md section 5).
type DeliveryType string

const (
	DeliveryToMailbox   DeliveryType = "SmtpDeliveryToMailbox"
	DeliveryRelayToEdge DeliveryType = "SmtpRelayWithinAdSiteToEdge"
	DeliveryDNS         DeliveryType = "DnsConnectorDelivery"
	DeliverySmartHost   DeliveryType = "SmartHostConnectorDelivery"
	DeliveryToServers   DeliveryType = "SmtpRelayToServers"
	DeliveryUnreachable DeliveryType = "Unreachable"
)

// Exchange's words for routing failures.
const (
	// ErrNoConnector is the Unreachable queue's LastError when no Send
	// connector serves a recipient's domain.
	ErrNoConnector = "A matching connector cannot be found to route the external recipient"
)

// NextHop is where a recipient goes next and how. Recipients with equal
// Key() share one delivery queue.
type NextHop struct {
	Type DeliveryType
	// Domain is Get-Queue's NextHopDomain: a recipient domain, a Mailbox
	// database, a site, or a server.
	Domain string
	// Connector is Get-Queue's NextHopConnector and the tracking log's
	// connector-id on SEND.
	Connector string
	// Hosts are the targets: server FQDNs or smart hosts (names resolve
	// through the lab DNS; address literals are used as they are). Empty
	// with MX set means MX routing of Domain.
	Hosts []string
	MX    bool
	Port  int
	// ExchangeAuth authenticates as an Exchange server: TLS is required,
	// the peer must present a lab certificate, and we present ours.
	ExchangeAuth bool
	// LoadBalance spreads connections over Hosts instead of preferring the
	// first.
	LoadBalance bool
	// SendHeaders are the header firewall permissions of the Send
	// connector (SendHeaders of its usage type): an Exchange server's
	// sender removes the fields they do not cover from what it sends.
	SendHeaders HeaderPermissions
	// Fail, when set, fails the recipient at once with this reply (an NDR).
	Fail string
	// Unreachable, when set, is the LastError of the Unreachable queue.
	Unreachable string
}

// Key identifies the delivery queue.
func (h NextHop) Key() string {
	if h.Type == DeliveryUnreachable {
		return "unreachable"
	}
	return string(h.Type) + "|" + strings.ToLower(h.Domain) + "|" + h.Connector
}

// Router decides each recipient's next hop. It must not block on the
// network: name resolution happens at delivery.
type Router interface {
	Route(ctx context.Context, m *Message, rcpt string) NextHop
}

// RouterFunc adapts a function to Router.
type RouterFunc func(ctx context.Context, m *Message, rcpt string) NextHop

// Route implements Router.
func (f RouterFunc) Route(ctx context.Context, m *Message, rcpt string) NextHop {
	return f(ctx, m, rcpt)
}
