// Package topology describes one lab organization: its zones, servers,
// mailboxes, Send connectors and timers. It is data: decoded strictly from
// YAML (lab.yaml) or taken from a built-in lab, validated by Validate, and
// read by everything else (roles, DNS zones, probe flows, firewall rules).
package topology

import (
	"net/netip"
	"slices"
	"strings"
)

// Role is what a server does in the lab.
type Role string

const (
	RoleEdge     Role = "edge"     // Exchange Edge Transport server
	RoleMailbox  Role = "mailbox"  // Exchange Mailbox server
	RoleDNS      Role = "dns"      // the lab DNS server
	RoleInternet Role = "internet" // a plain mail host of "the internet"
)

// Roles lists the valid roles in display order.
var Roles = []Role{RoleEdge, RoleMailbox, RoleDNS, RoleInternet}

// DefaultSite is the Active Directory site name Exchange setup creates.
const DefaultSite = "Default-First-Site-Name"

// Topology is one organization: the document of lab.yaml.
type Topology struct {
	// Organization is the Exchange organization name, e.g. "Contoso".
	Organization string `yaml:"organization" json:"organization"`
	// Site is the Active Directory site of the Mailbox servers
	// (default Default-First-Site-Name).
	Site string `yaml:"site,omitempty" json:"site"`
	// Version is the Exchange version impersonated: 2016 or 2019 (default 2019).
	Version int `yaml:"version,omitempty" json:"version"`
	// CU is the cumulative update of Version (persona.go): 13, 14 or 15 for
	// 2019 (default 13), 23 for 2016 (the default and only one). It sets the
	// build number and, with Windows, the TLS versions.
	CU int `yaml:"cu,omitempty" json:"cu"`
	// Windows is the Windows Server version the Exchange servers run on:
	// 2016 for Exchange 2016 (default); 2019 (default), 2022 or 2025
	// (CU15 and later) for Exchange 2019.
	Windows int `yaml:"windows,omitempty" json:"windows"`
	// Certs chooses the servers' certificates (default RSA-2048, as Exchange's).
	Certs Certs `yaml:"certs,omitempty" json:"certs"`
	// AcceptedDomains are the organization's authoritative domains; the first
	// is the default domain.
	AcceptedDomains []string `yaml:"accepted_domains" json:"accepted_domains"`
	// MXServers are the servers the accepted domains' MX records point at.
	// Default: the subscribed Edge servers, or else every Mailbox server.
	MXServers []string `yaml:"mx_servers,omitempty" json:"mx_servers,omitempty"`
	// Zones are the named network segments servers live in.
	Zones []Zone `yaml:"zones" json:"zones"`
	// Servers are every host of the lab.
	Servers []Server `yaml:"servers" json:"servers"`
	// Mailboxes are the users, each homed on a Mailbox or Internet server.
	Mailboxes []Mailbox `yaml:"mailboxes,omitempty" json:"mailboxes"`
	// SendConnectors are the administrator-created Send connectors of the
	// Mailbox servers (Exchange creates none to the internet by itself).
	SendConnectors []SendConnector `yaml:"send_connectors,omitempty" json:"send_connectors,omitempty"`
	// Timers are the queue and synchronisation timers.
	Timers Timers `yaml:"timers,omitempty" json:"timers"`
	// NTLM is the NTLM acceptance policy of every Mailbox server; a
	// server's mailbox.ntlm overrides it.
	NTLM *NTLMOptions `yaml:"ntlm,omitempty" json:"ntlm,omitempty"`
	// AllowOutside lists networks (CIDR) outside the topology that servers
	// may deliver to or resolve through. Empty (the default) means none:
	// exsim never dials an address that is not a server of the topology.
	AllowOutside []string `yaml:"allow_outside,omitempty" json:"allow_outside,omitempty"`

	// portOffset is not part of the file: SetPortOffset sets it when the
	// lab is loaded (--port-offset), and ports.go applies it.
	portOffset int
}

// Zone is a network segment, such as internet, perimeter or internal.
type Zone struct {
	Name string `yaml:"name" json:"name"`
	// Subnet is the zone's network (CIDR) when the lab runs on real network
	// namespaces or containers; servers with loopback addresses get an
	// address from it there. Optional for loopback-only labs.
	Subnet string `yaml:"subnet,omitempty" json:"subnet,omitempty"`
	// Description is free text for reports and diagrams.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// Server is one host of the lab.
type Server struct {
	// Name is the NetBIOS-style name in upper case, e.g. EX01.
	Name string `yaml:"name" json:"name"`
	Role Role   `yaml:"role" json:"role"`
	FQDN string `yaml:"fqdn" json:"fqdn"`
	// Address is the IPv4 or IPv6 address the server binds and sends from.
	Address string `yaml:"address" json:"address"`
	Zone    string `yaml:"zone" json:"zone"`

	// Exactly the block of the server's role may be present.
	Mailbox  *MailboxOptions  `yaml:"mailbox,omitempty" json:"mailbox,omitempty"`
	Edge     *EdgeOptions     `yaml:"edge,omitempty" json:"edge,omitempty"`
	Internet *InternetOptions `yaml:"internet,omitempty" json:"internet,omitempty"`
}

// MailboxOptions are the options of a Mailbox server.
type MailboxOptions struct {
	// IMAP4 and POP3 start the services (and open 143/993, 110/995 and the
	// backends 1993/1995). Off by default, as in Exchange.
	IMAP4 bool `yaml:"imap4,omitempty" json:"imap4"`
	POP3  bool `yaml:"pop3,omitempty" json:"pop3"`
	// EdgeSync says the server existed when the Edge Subscription was made,
	// so it takes part in EdgeSync synchronisation.
	EdgeSync bool `yaml:"edge_sync,omitempty" json:"edge_sync"`
	// BasicAuth allows Basic authentication on EWS, Autodiscover, ActiveSync
	// and Outlook Anywhere (default true, as lab clients rarely speak NTLM).
	BasicAuth *bool `yaml:"basic_auth,omitempty" json:"basic_auth,omitempty"`
	// NTLM overrides the organization's NTLM policy on this server.
	NTLM *NTLMOptions `yaml:"ntlm,omitempty" json:"ntlm,omitempty"`
	// VirtualDirectories set InternalUrl/ExternalUrl per web virtual
	// directory (keys: VirtualDirectoryNames); unset ones keep Exchange's
	// defaults. See VirtualDirectory.
	VirtualDirectories map[string]VirtualDirectory `yaml:"virtual_directories,omitempty" json:"virtual_directories,omitempty"`
}

// EdgeOptions are the options of an Edge Transport server.
type EdgeOptions struct {
	// Subscribed says the Edge has an Edge Subscription to the site.
	Subscribed bool `yaml:"subscribed,omitempty" json:"subscribed"`
	// OpenProxyDetection runs sender reputation's open proxy test on
	// connecting internet senders (default true, as in Exchange).
	OpenProxyDetection *bool `yaml:"open_proxy_detection,omitempty" json:"open_proxy_detection,omitempty"`
	// OpenProxyVia is an outbound proxy (SOCKS5 or HTTP, "socks5://host:port"
	// or "http://host:port") the open proxy tests go through.
	OpenProxyVia string `yaml:"open_proxy_via,omitempty" json:"open_proxy_via,omitempty"`
	// RecipientValidation rejects unknown recipients of authoritative
	// domains once EdgeSync delivered the recipients (default true).
	RecipientValidation *bool `yaml:"recipient_validation,omitempty" json:"recipient_validation,omitempty"`
	// MessageRateLimit is Set-ReceiveConnector -MessageRateLimit on the
	// Edge's receive connector: messages per minute from one source address
	// (0 or unset: Unlimited, Exchange's default).
	MessageRateLimit int `yaml:"message_rate_limit,omitempty" json:"message_rate_limit,omitempty"`
}

// InternetOptions are the options of an Internet server.
type InternetOptions struct {
	// Domains are the mail domains the server hosts, e.g. fabrikam.com.
	Domains []string `yaml:"domains" json:"domains"`
	// OpenProxy makes the server impersonate an open proxy on the ports the
	// Edge's open proxy detection tests.
	OpenProxy bool `yaml:"open_proxy,omitempty" json:"open_proxy"`
}

// Mailbox is a user.
type Mailbox struct {
	Address     string `yaml:"address" json:"address"`
	DisplayName string `yaml:"display_name,omitempty" json:"display_name"`
	Password    string `yaml:"password" json:"-"`
	// Server is the home server: a Mailbox server, or an Internet server for
	// external users.
	Server string `yaml:"server" json:"server"`
	// Roles are the management roles assigned to the account (New-
	// ManagementRoleAssignment). Only ApplicationImpersonation is known:
	// its holder may act as any mailbox of the organization over EWS
	// (ExchangeImpersonation). Default none.
	Roles []string `yaml:"roles,omitempty" json:"roles,omitempty"`
	// PublishCalendar publishes the mailbox's calendar to the internet
	// (Set-MailboxCalendarFolder -PublishEnabled $true): anonymous
	// calendar.html and calendar.ics at a URL with a random token, as
	// Exchange's PublishedCalendarUrl. Off by default, as in Exchange.
	PublishCalendar bool `yaml:"publish_calendar,omitempty" json:"publish_calendar,omitempty"`
}

// RoleApplicationImpersonation is Exchange's management role that allows
// EWS ExchangeImpersonation.
const RoleApplicationImpersonation = "ApplicationImpersonation"

// HasRole reports whether the account holds the management role.
func (m *Mailbox) HasRole(role string) bool {
	for _, r := range m.Roles {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// SendConnector is an administrator-created Send connector.
type SendConnector struct {
	Name string `yaml:"name" json:"name"`
	// AddressSpaces are the domains the connector serves: "*" for all,
	// "contoso.com", or "*.contoso.com".
	AddressSpaces []string `yaml:"address_spaces" json:"address_spaces"`
	// SourceServers are the Mailbox servers that send through it.
	SourceServers []string `yaml:"source_servers" json:"source_servers"`
	// SmartHosts route through these hosts (names or addresses); empty
	// means DNS MX routing.
	SmartHosts []string `yaml:"smart_hosts,omitempty" json:"smart_hosts,omitempty"`
	// Port is the destination port (default 25).
	Port int `yaml:"port,omitempty" json:"port"`
	// FrontEndProxyEnabled proxies outbound mail through the Front End
	// Transport service ("Outbound Proxy Frontend", 717).
	FrontEndProxyEnabled bool `yaml:"front_end_proxy_enabled,omitempty" json:"front_end_proxy_enabled"`
	// Cost breaks ties between connectors with equally specific address
	// spaces (lower wins, default 1).
	Cost int `yaml:"cost,omitempty" json:"cost"`
}

// DNSRouting reports whether the connector resolves MX records.
func (c *SendConnector) DNSRouting() bool { return len(c.SmartHosts) == 0 }

// Addr returns the server's address; Validate guarantees it parses.
func (s *Server) Addr() netip.Addr {
	a, _ := netip.ParseAddr(s.Address)
	return a
}

// ShortName is the lower-case NetBIOS name, as it appears in certificates.
func (s *Server) ShortName() string { return strings.ToLower(s.Name) }

// IsExchange reports whether the server runs Exchange (Mailbox or Edge).
func (s *Server) IsExchange() bool { return s.Role == RoleMailbox || s.Role == RoleEdge }

// Server returns the server named name (case-insensitive), or nil.
func (t *Topology) Server(name string) *Server {
	for i := range t.Servers {
		if strings.EqualFold(t.Servers[i].Name, name) {
			return &t.Servers[i]
		}
	}
	return nil
}

// ServerByAddr returns the server with address a, or nil.
func (t *Topology) ServerByAddr(a netip.Addr) *Server {
	a = a.Unmap()
	for i := range t.Servers {
		if t.Servers[i].Addr() == a {
			return &t.Servers[i]
		}
	}
	return nil
}

// ServerByFQDN returns the server with that FQDN (case-insensitive), or nil.
func (t *Topology) ServerByFQDN(fqdn string) *Server {
	fqdn = strings.TrimSuffix(fqdn, ".")
	for i := range t.Servers {
		if strings.EqualFold(t.Servers[i].FQDN, fqdn) {
			return &t.Servers[i]
		}
	}
	return nil
}

// ServersByRole returns the servers of a role in topology order.
func (t *Topology) ServersByRole(r Role) []*Server {
	return where(t.Servers, func(s *Server) bool { return s.Role == r })
}

// where returns the elements of items that keep accepts, in order.
func where[T any](items []T, keep func(*T) bool) []*T {
	var out []*T
	for i := range items {
		if keep(&items[i]) {
			out = append(out, &items[i])
		}
	}
	return out
}

// SubscribedEdges returns the Edge servers with an Edge Subscription.
func (t *Topology) SubscribedEdges() []*Server {
	return where(t.Servers, func(s *Server) bool { return s.Role == RoleEdge && s.Edge != nil && s.Edge.Subscribed })
}

// EdgeSyncParticipants returns the Mailbox servers that took part in the
// Edge Subscription.
func (t *Topology) EdgeSyncParticipants() []*Server {
	return where(t.Servers, func(s *Server) bool { return s.Role == RoleMailbox && s.Mailbox != nil && s.Mailbox.EdgeSync })
}

// Mailbox returns the mailbox with that SMTP address (case-insensitive).
func (t *Topology) Mailbox(address string) *Mailbox {
	for i := range t.Mailboxes {
		if strings.EqualFold(t.Mailboxes[i].Address, address) {
			return &t.Mailboxes[i]
		}
	}
	return nil
}

// MailboxForLogon finds the mailbox a logon name means: an SMTP address
// or UPN (alice@contoso.com), DOMAIN\name (CONTOSO\alice, with the
// organization's NetBIOS domain), or a bare name (alice) in an accepted
// domain. It returns nil when none matches.
func (t *Topology) MailboxForLogon(name string) *Mailbox {
	name = strings.TrimSpace(name)
	if dom, user, ok := strings.Cut(name, `\`); ok {
		if !strings.EqualFold(dom, t.NetBIOSDomain()) {
			return nil
		}
		name = user
	}
	if strings.Contains(name, "@") {
		return t.Mailbox(name)
	}
	for _, d := range t.AcceptedDomains {
		if m := t.Mailbox(name + "@" + d); m != nil {
			return m
		}
	}
	return nil
}

// MailboxesOn returns the mailboxes homed on server.
func (t *Topology) MailboxesOn(server string) []*Mailbox {
	return where(t.Mailboxes, func(m *Mailbox) bool { return strings.EqualFold(m.Server, server) })
}

// IsAcceptedDomain reports whether domain is one of the organization's
// accepted domains.
func (t *Topology) IsAcceptedDomain(domain string) bool {
	return slices.ContainsFunc(t.AcceptedDomains, func(d string) bool { return strings.EqualFold(d, domain) })
}

// InternetServerFor returns the Internet server hosting domain, or nil.
func (t *Topology) InternetServerFor(domain string) *Server {
	for _, s := range t.ServersByRole(RoleInternet) {
		if s.Internet != nil && slices.ContainsFunc(s.Internet.Domains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			return s
		}
	}
	return nil
}

// MailExchangers returns the servers the accepted domains' MX records name.
func (t *Topology) MailExchangers() []*Server {
	if len(t.MXServers) > 0 {
		var out []*Server
		for _, n := range t.MXServers {
			if s := t.Server(n); s != nil {
				out = append(out, s)
			}
		}
		return out
	}
	if edges := t.SubscribedEdges(); len(edges) > 0 {
		return edges
	}
	return t.ServersByRole(RoleMailbox)
}

// ClientAccessServer is the Mailbox server that mail.<domain> and
// autodiscover.<domain> resolve to: the first Mailbox server.
func (t *Topology) ClientAccessServer() *Server {
	if m := t.ServersByRole(RoleMailbox); len(m) > 0 {
		return m[0]
	}
	return nil
}

// DefaultDomain is the first accepted domain.
func (t *Topology) DefaultDomain() string {
	if len(t.AcceptedDomains) == 0 {
		return ""
	}
	return t.AcceptedDomains[0]
}

// NetBIOSDomain is the NetBIOS domain name users log on with (CONTOSO\alice):
// the first label of the default domain in upper case.
func (t *Topology) NetBIOSDomain() string {
	d := t.DefaultDomain()
	if i := strings.IndexByte(d, '.'); i >= 0 {
		d = d[:i]
	}
	return strings.ToUpper(d)
}

// BuildNumber is the Exchange build the lab impersonates, as Received
// headers show it: 15.2.1258.12 (2019 CU13, the default), 15.2.1544.4
// (CU14), 15.2.1748.10 (CU15) or 15.1.2507.39 (2016 CU23).
func (t *Topology) BuildNumber() string {
	switch {
	case t.Version == 2016:
		return "15.1.2507.39"
	case t.CU == 15:
		return "15.2.1748.10"
	case t.CU == 14:
		return "15.2.1544.4"
	}
	return "15.2.1258.12"
}

// Domain returns the lower-cased domain part of an address.
func Domain(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 {
		return strings.ToLower(address[i+1:])
	}
	return ""
}
