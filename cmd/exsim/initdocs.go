package main

import (
	"time"

	"github.com/exsim/exsim/topology"
)

// keyDoc documents one key of lab.yaml for `exsim init`: the comment above
// it and, for a key the topology leaves unset, an example value written
// commented out (nil: the key's default is its absence).
type keyDoc struct {
	doc     string
	example any
}

func ptr[T any](v T) *T { return &v }

func dur(d time.Duration) *topology.Duration { return ptr(topology.Duration(d)) }

// topologyDocs documents every key of topology.Topology by its path (list
// elements leave no trace in it: servers.edge.open_proxy_via). The words
// follow the struct's doc comments in package topology; a test checks that
// every key of the struct is here and in init's output.
var topologyDocs = map[string]keyDoc{
	"organization": {doc: "The Exchange organization's name."},
	"site":         {doc: "The Active Directory site of the Mailbox servers (default Default-First-Site-Name)."},
	"version":      {doc: "The Exchange version impersonated: 2016 or 2019 (default 2019)."},
	"cu": {doc: `The cumulative update of version: 13, 14 or 15 for 2019 (default 13), 23 for 2016.
It sets the build number in banners and Received headers and, with windows, the TLS versions.`},
	"windows": {doc: `The Windows Server version under Exchange: 2016 for Exchange 2016; 2019 (default), 2022 or
2025 (CU15 and later) for 2019. TLS 1.3, on HTTPS only, needs cu: 15 and windows: 2022 or later.`},
	"certs":     {doc: "The servers' certificates, issued by the lab CA (DATA/certs/ca.pem)."},
	"certs.key": {doc: "Key type: rsa (RSA-2048, as Exchange's; the default) or ecdsa (P-256: a third of the handshake CPU).", example: topology.CertKeyRSA},
	"accepted_domains": {doc: `The organization's authoritative (accepted) domains; the first is the default domain, whose
first label in upper case is the NetBIOS domain of logons (CONTOSO\alice).`},
	"mx_servers": {doc: `The servers the accepted domains' MX records point at (default: the subscribed Edge
servers, or else every Mailbox server).`, example: []string{"EX01"}},
	"zones":      {doc: "The network segments the servers live in; firewall rules are drawn between zones."},
	"zones.name": {doc: "Zone name: lower case letters, digits and dashes."},
	"zones.subnet": {doc: `The zone's network (CIDR) when the lab runs on network namespaces or containers (exsim lab up,
export compose): servers with loopback addresses get an address from it there.`, example: "192.0.2.0/24"},
	"zones.description": {doc: "Free text for reports and the topology picture.", example: "internal network"},
	"servers":           {doc: "Every host of the lab."},
	"servers.name":      {doc: "NetBIOS-style name in upper case, at most 15 characters."},
	"servers.role": {doc: `edge (Edge Transport), mailbox (Mailbox), dns (the lab DNS, authoritative for every lab zone)
or internet (a plain mail host of the internet).`},
	"servers.fqdn":    {doc: "The server's DNS name, in the lab DNS and its certificate."},
	"servers.address": {doc: "The IPv4 or IPv6 address the server binds and every connection it opens starts from."},
	"servers.zone":    {doc: "The zone (zones[].name) the server is in."},
	"servers.mailbox": {doc: "Mailbox servers only: the server's options."},
	"servers.mailbox.imap4": {doc: `Start the IMAP4 services (143/993 and the backend 1993). Off by default, as Exchange
installs them.`},
	"servers.mailbox.pop3":      {doc: "Start the POP3 services (110/995 and the backend 1995). Off by default."},
	"servers.mailbox.edge_sync": {doc: "The server existed when the Edge Subscription was made, so it takes part in EdgeSync."},
	"servers.mailbox.basic_auth": {doc: `Allow Basic authentication on EWS, Autodiscover, ActiveSync and Outlook Anywhere
(default true).`, example: true},
	"servers.mailbox.ntlm": {doc: "This server's NTLM policy, overriding the organization's (ntlm below).",
		example: &topology.NTLMOptions{RequireV2: ptr(true)}},
	"servers.mailbox.ntlm.require_v2": {doc: "Refuse NTLMv1, as LAN Manager authentication level 5."},
	"servers.mailbox.virtual_directories": {doc: `InternalUrl/ExternalUrl per web virtual directory (ews, owa, ecp, oab, mapi, activesync,
autodiscover), as Autodiscover answers them; unset ones keep Exchange's defaults.
Each takes internal_url and external_url, both https:// URLs.`,
		example: map[string]topology.VirtualDirectory{"ews": {InternalURL: "https://ex01.contoso.com/EWS/Exchange.asmx", ExternalURL: "https://mail.contoso.com/EWS/Exchange.asmx"}}},
	"servers.edge":            {doc: "Edge Transport servers only: the server's options."},
	"servers.edge.subscribed": {doc: "The Edge has an Edge Subscription to the site (EdgeSync pushes to it)."},
	"servers.edge.open_proxy_detection": {doc: "Sender reputation tests connecting internet senders for open proxies (default true).",
		example: true},
	"servers.edge.open_proxy_via": {doc: `An outbound proxy the open proxy tests go through: socks5://host:port or http://host:port
(default: straight to the sender).`, example: "socks5://127.0.30.1:1080"},
	"servers.edge.recipient_validation": {doc: `Reject unknown recipients of the accepted domains once EdgeSync delivered the
recipients (default true).`, example: true},
	"servers.edge.message_rate_limit": {doc: `MessageRateLimit of the Edge's Receive connector: messages per minute from one
source address (0 or unset: Unlimited, as in Exchange).`, example: 0},
	"servers.internet":            {doc: "Internet servers only: the server's options."},
	"servers.internet.domains":    {doc: "The mail domains the server hosts."},
	"servers.internet.open_proxy": {doc: "Impersonate an open proxy on the ports the Edge's open proxy test tries."},
	"mailboxes":                   {doc: "The users, each homed on a Mailbox server or, for external users, an Internet server."},
	"mailboxes.address":           {doc: "SMTP address (and UPN)."},
	"mailboxes.display_name":      {doc: "Display name (default: the address's local part, capitalised)."},
	"mailboxes.password":          {doc: "Password for every logon (SMTP AUTH, IMAP4, POP3, OWA, EWS; NTLM too)."},
	"mailboxes.server":            {doc: "The home server."},
	"mailboxes.publish_calendar": {doc: `Publish the calendar to the internet (Set-MailboxCalendarFolder -PublishEnabled):
anonymous calendar.html/.ics at http://<server>/owa/calendar/<guid>@<domain>/<token>/, the token random
per lab; the home server logs the URL at start ("calendar published"). Default false: not published, 404.`, example: true},
	"mailboxes.roles": {doc: `Management roles of the account (New-ManagementRoleAssignment). Only ApplicationImpersonation
is known: its holder may act as any mailbox of the organization over EWS (ExchangeImpersonation). Default none.`,
		example: []string{topology.RoleApplicationImpersonation}},
	"send_connectors": {doc: `Administrator-created Send connectors of the Mailbox servers: Exchange creates none to the
internet by itself (with a subscribed Edge, EdgeSync creates the Edge's).`,
		example: []topology.SendConnector{{Name: "To Internet", AddressSpaces: []string{"*"}, SourceServers: []string{"EX01"},
			SmartHosts: []string{"mx.fabrikam.com"}, Port: 25, Cost: 1}}},
	"send_connectors.name":           {doc: "The connector's name, as tracking logs and queues show it."},
	"send_connectors.address_spaces": {doc: `The domains it serves: "*" for all, "contoso.com", "*.contoso.com".`},
	"send_connectors.source_servers": {doc: "The Mailbox servers that send through it."},
	"send_connectors.smart_hosts":    {doc: "Route through these hosts (names or addresses); empty: DNS MX routing.", example: []string{"mx.fabrikam.com"}},
	"send_connectors.port":           {doc: "Destination port (default 25).", example: 25},
	"send_connectors.front_end_proxy_enabled": {doc: `Proxy outbound mail through the Front End Transport service ("Outbound Proxy Frontend",
717).`},
	"send_connectors.cost": {doc: "Breaks ties between equally specific address spaces; lower wins (default 1).", example: 1},
	"timers": {doc: `Queue, protocol and EdgeSync timers. Each timer is optional and overrides the profile's
value; write seconds (30) or a duration ("30s", "5m", "2d").`},
	"timers.profile": {doc: `lab: retries and expiry in seconds, so a blocked hop shows Retry at once (the default);
exchange: Exchange's own defaults (5-minute retries, 2-day expiry).`},
	"timers.transient_failure_retry_count":              {doc: "Retries before a connection failure waits the outbound interval (lab 6, exchange 6).", example: 6},
	"timers.transient_failure_retry_interval":           {doc: "Between those quick retries (lab 1s, exchange 5m; 10m on an Edge).", example: dur(time.Second)},
	"timers.outbound_connection_failure_retry_interval": {doc: "Between retries of a failed next hop (lab 5s, exchange 10m; 30m on an Edge).", example: dur(5 * time.Second)},
	"timers.message_retry_interval":                     {doc: "Between retries of one message (lab 5s, exchange 15m).", example: dur(5 * time.Second)},
	"timers.delay_notification_timeout":                 {doc: "When the sender gets a delay DSN (lab 2m, exchange 4h).", example: dur(2 * time.Minute)},
	"timers.message_expiration_timeout":                 {doc: "When a message expires with an NDR (lab 10m, exchange 2d).", example: dur(10 * time.Minute)},
	"timers.tarpit_interval":                            {doc: "The delay before SMTP error replies (lab 0s, exchange 5s).", example: dur(0)},
	"timers.edgesync_configuration_interval":            {doc: "EdgeSync's configuration push (lab 5s, exchange 3m).", example: dur(5 * time.Second)},
	"timers.edgesync_recipient_interval":                {doc: "EdgeSync's recipient push (lab 5s, exchange 5m).", example: dur(5 * time.Second)},
	"ntlm": {doc: "The NTLM policy of every Mailbox server (a server's mailbox.ntlm overrides it).",
		example: &topology.NTLMOptions{RequireV2: ptr(false)}},
	"ntlm.require_v2": {doc: `Refuse NTLMv1 on SMTP, IMAP4, POP3 and HTTP, as LAN Manager authentication level 5 (default
false: NTLMv1 and NTLMv2, as Windows' default level 3).`},
	"allow_outside": {doc: `Networks (CIDR) outside the topology that servers may deliver to or resolve through
(default none: exsim never dials an address that is not a server of the topology).`, example: []string{"10.0.0.0/8"}},
}
