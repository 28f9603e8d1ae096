package edgesync

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// DomainType is an accepted domain's type (Set-AcceptedDomain -DomainType).
type DomainType int

const (
	// Authoritative: the organization hosts the recipients; the Edge
	// rejects unknown ones when recipient validation is on.
	Authoritative DomainType = iota
	// InternalRelay: some recipients are outside the organization, which
	// relays for them.
	InternalRelay
	// ExternalRelay: no recipient is in the organization; the Edge relays.
	ExternalRelay
)

func (t DomainType) String() string {
	switch t {
	case Authoritative:
		return "Authoritative"
	case InternalRelay:
		return "InternalRelay"
	case ExternalRelay:
		return "ExternalRelay"
	}
	return fmt.Sprintf("DomainType(%d)", int(t))
}

// AcceptedDomain is one accepted domain. Name may be a wildcard
// ("*.contoso.com": the domain's subdomains).
type AcceptedDomain struct {
	Name    string
	Type    DomainType
	Default bool
}

// Server is a Mailbox server of the subscribed site. Address is the IP
// address the Edge connects to (Exchange resolves FQDN through DNS; the lab
// carries both). Participant marks the servers that took part in the
// subscription (EdgeSync - Inbound's smart hosts); the others are still
// Exchange servers of the site the Edge accepts outbound mail from.
type Server struct {
	Name        string
	FQDN        string
	Address     string
	Participant bool
}

// Connector is a Send connector (New-SendConnector). AddressSpaces are
// written as Exchange shows them ("SMTP:*;100", "SMTP:--;1"; "--" stands for
// the organization's authoritative and internal relay domains). SmartHosts
// "--" stands for every participating Mailbox server of the site.
type Connector struct {
	Name          string
	AddressSpaces []string
	SmartHosts    []string
	DNSRouting    bool
	Port          int
}

// Config is the configuration data EdgeSync replicates, every 3 minutes by
// default.
type Config struct {
	Organization    string
	Site            string
	AcceptedDomains []AcceptedDomain
	MailboxServers  []Server
	SendConnectors  []Connector
}

// Recipients is the recipient data EdgeSync replicates, every 5 minutes by
// default: the hashes of every SMTP proxy address of the organization's
// recipients (HashAddress), and the safe and blocked senders of safelist
// aggregation (addresses or domains; the Edge stores them hashed too).
type Recipients struct {
	Hashes         []string
	SafeSenders    []string
	BlockedSenders []string
}

// HashAddress is how an SMTP proxy address is stored on the Edge: the hex
// SHA-256 of the lower-cased address, without the "smtp:" prefix.
func HashAddress(addr string) string {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if p, rest, ok := strings.Cut(addr, ":"); ok && p == "smtp" {
		addr = rest
	}
	sum := sha256.Sum256([]byte(addr))
	return hex.EncodeToString(sum[:])
}

// RecipientsOf returns the Recipients of the given proxy addresses.
func RecipientsOf(addrs, safeSenders, blockedSenders []string) Recipients {
	r := Recipients{SafeSenders: safeSenders, BlockedSenders: blockedSenders}
	for _, a := range addrs {
		r.Hashes = append(r.Hashes, HashAddress(a))
	}
	return r
}

// Site defaults to Exchange's first site name.
const DefaultSite = "Default-First-Site-Name"

// SubscriptionConnectors returns the two Send connectors an Edge
// Subscription creates (edge-subscriptions.md, "Send connectors created
// automatically by the Edge Subscription"): "EdgeSync - Inbound to <site>"
// (the accepted domains, to every participating Mailbox server on port 25)
// and "EdgeSync - <site> to Internet" (everything, by DNS MX on port 25).
func SubscriptionConnectors(site string) []Connector {
	if site == "" {
		site = DefaultSite
	}
	return []Connector{
		{Name: "EdgeSync - Inbound to " + site, AddressSpaces: []string{"SMTP:--;1"}, SmartHosts: []string{"--"}, Port: 25},
		{Name: "EdgeSync - " + site + " to Internet", AddressSpaces: []string{"SMTP:*;100"}, DNSRouting: true, Port: 25},
	}
}
