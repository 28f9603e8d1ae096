package probe

import (
	"strconv"

	"github.com/exsim/exsim/topology"
)

// This file is the flow catalogue: every row of the seed document
// (seeds/network-ports-for-clients-and-mail-flow.md) and its ground rules,
// as data, and the derivation of a topology's flows from it. A flow's ID
// starts with the id of the rule it comes from: "where does flow
// edgesync-EX01-EDGE01-50636 come from" is the rule `id: "edgesync"` below.

// hop is one source -> destination pair a rule yields; port, when set,
// replaces the rule's ports (a Send connector's own port).
type hop struct {
	src, dst *topology.Server
	port     int
}

// portSpec is one port of a rule.
type portSpec struct {
	port      int
	transport string // "udp", or "" for tcp
	// check replaces the check derived from the destination's listener.
	check Check
	// listener names what answers when the destination's listener catalogue
	// has nothing on the port (RPC).
	listener string
	// ifEnabled keeps the port only where the destination's listener is
	// enabled (the IMAP4/POP3 backends).
	ifEnabled bool
	// noOffset keeps the documented port whatever the port offset: nothing
	// of exsim listens there (the RPC samples), and the offset exists only
	// for binding.
	noOffset bool
}

// rule is one row of a seed table (or one ground rule), applied to a topology.
type rule struct {
	id      string
	table   Table
	when    func(*topology.Topology) bool // nil: always
	purpose string
	feature string
	hops    func(*topology.Topology) []hop
	ports   []portSpec
	expect  Expect
}

func tcp(ports ...int) []portSpec {
	out := make([]portSpec, len(ports))
	for i, p := range ports {
		out[i] = portSpec{port: p}
	}
	return out
}

func dnsPorts() []portSpec {
	return []portSpec{{port: 53, transport: "udp"}, {port: 53}}
}

func connectOnly(ports ...int) []portSpec {
	out := tcp(ports...)
	for i := range out {
		out[i].check = CheckTCP
	}
	return out
}

// The RPC ports sampled for the ground rule: the endpoint mapper and two
// ports of the dynamic range (49152-65535).
var rpcPorts = []portSpec{
	rpcEndpointMapper,
	{port: 49152, check: CheckTCP, listener: "RPC dynamic port range (sample)", noOffset: true},
	{port: 64327, check: CheckTCP, listener: "RPC dynamic port range (sample)", noOffset: true},
}

var rpcEndpointMapper = portSpec{port: 135, check: CheckTCP, listener: "RPC Endpoint Mapper", noOffset: true}

// backEndSite is the IIS site Client Access proxies to on another Mailbox
// server (444), when the listener catalogue has no name for it.
const backEndSite = "Exchange Back End"

// Seed, "Open proxy server detection in sender reputation": every port of
// the topology's open proxy table, connect only.
var openProxyPorts = connectOnly(topology.OpenProxyPorts()...)

var catalogue = []rule{
	// ---- Network ports required for clients and services. The seed has no
	// source column ("any location external to the Exchange organization");
	// the internet servers stand for external clients.
	{
		id: "client-https", table: TableClients,
		purpose: "Encrypted web connections: Autodiscover, Exchange ActiveSync, EWS, OAB distribution, Outlook Anywhere, MAPI over HTTP, Outlook on the web (443/TCP)",
		feature: "Outlook on the web, ActiveSync, EWS, Autodiscover, OAB and Outlook (MAPI/HTTP, Outlook Anywhere) for external clients",
		hops:    cross(internetServers, mailboxServers), ports: tcp(443), expect: ExpectOpen,
	},
	{
		id: "client-http", table: TableClients,
		purpose: "Unencrypted web connections: Internet calendar publishing, Outlook on the web (redirect to 443/TCP), Autodiscover (fallback when 443/TCP isn't available) (80/TCP)",
		feature: "the http:// redirect to Outlook on the web, Autodiscover's HTTP fallback and published calendars",
		hops:    cross(internetServers, mailboxServers), ports: tcp(80), expect: ExpectOpen,
	},
	{
		id: "client-imap", table: TableClients,
		purpose: "IMAP4 clients (143/TCP IMAP, 993/TCP secure IMAP; IMAP4 is disabled by default)",
		feature: "IMAP4 mail clients",
		hops:    cross(internetServers, mailboxServers), ports: tcp(143, 993), expect: expectService,
	},
	{
		id: "client-pop3", table: TableClients,
		purpose: "POP3 clients (110/TCP POP3, 995/TCP secure POP3; POP3 is disabled by default)",
		feature: "POP3 mail clients",
		hops:    cross(internetServers, mailboxServers), ports: tcp(110, 995), expect: expectService,
	},
	{
		id: "client-submission", table: TableClients,
		purpose: `SMTP clients (authenticated): the Receive connector "Client Frontend <server>" (587/TCP)`,
		feature: "authenticated SMTP submission by mail clients, devices and applications",
		hops:    cross(internetServers, mailboxServers), ports: tcp(587), expect: ExpectOpen,
	},

	// ---- Network ports required for mail flow (no Edge Transport servers).
	{
		id: "inbound", table: TableMailFlowNoEdge, when: noSubscribedEdge,
		purpose: `Inbound mail: Internet (any) to Mailbox server, the Receive connector "Default Frontend <server>" (25/TCP)`,
		feature: "inbound internet mail to the MX hosts of the accepted domains",
		hops:    cross(internetServers, mailExchangers), ports: tcp(25), expect: ExpectOpen,
	},
	{
		id: "outbound", table: TableMailFlowNoEdge, when: noSubscribedEdge,
		purpose: "Outbound mail: Mailbox server to Internet (any) through a manually created Send connector (25/TCP)",
		feature: "outbound internet mail through the Send connector (it waits in the Unreachable or Retry queue)",
		hops:    sendConnectorHops(false), ports: tcp(25), expect: ExpectOpen,
	},
	{
		id: "outbound-feproxy", table: TableMailFlowNoEdge, when: noSubscribedEdge,
		purpose: `Outbound mail (if proxied through the Front End transport service): a Send connector with FrontEndProxyEnabled hands mail to "Outbound Proxy Frontend <server>", which delivers it to the Internet (25/TCP)`,
		feature: "outbound internet mail through the Send connector with -FrontEndProxyEnabled (Outbound Proxy Frontend)",
		hops:    sendConnectorHops(true), ports: tcp(25), expect: ExpectOpen,
	},
	{
		id: "dns", table: TableMailFlowNoEdge, when: noSubscribedEdge,
		purpose: "DNS for name resolution of the next mail hop: Mailbox server to DNS server (53/UDP, 53/TCP)",
		feature: `next-hop name resolution: mail to external domains queues with "451 4.4.0 DNS query failed"`,
		hops:    cross(mailboxServers, dnsServers), ports: dnsPorts(), expect: ExpectOpen,
	},

	// ---- Network ports required for mail flow with Edge Transport servers.
	{
		id: "edge-inbound", table: TableMailFlowEdge, when: hasSubscribedEdge,
		purpose: `Inbound mail - Internet to Edge Transport server: "Default internal Receive connector <Edge>" (25/TCP)`,
		feature: "inbound internet mail (the Edge is the MX)",
		hops:    cross(internetServers, subscribedEdges), ports: tcp(25), expect: ExpectOpen,
	},
	{
		id: "edge-to-mailbox", table: TableMailFlowEdge, when: hasSubscribedEdge,
		purpose: `Inbound mail - Edge Transport server to internal Exchange organization: the Send connector "EdgeSync - Inbound to <site>" relays to "Default Frontend <server>" on any Mailbox server of the subscribed site (25/TCP)`,
		feature: "delivery of inbound internet mail from the Edge into the organization (it queues on the Edge)",
		hops:    cross(subscribedEdges, mailboxServers), ports: tcp(25), expect: ExpectOpen,
	},
	{
		id: "mailbox-to-edge", table: TableMailFlowEdge, when: hasSubscribedEdge,
		purpose: "Outbound mail - Internal Exchange organization to Edge Transport server: the implicit intra-organization Send connector from the Transport service (25/TCP)",
		feature: "outbound mail from the organization to the Edge (it queues on the Mailbox server)",
		hops:    cross(mailboxServers, subscribedEdges), ports: tcp(25), expect: ExpectOpen,
	},
	{
		id: "edge-outbound", table: TableMailFlowEdge, when: hasSubscribedEdge,
		purpose: `Outbound mail - Edge Transport server to internet: the Send connector "EdgeSync - <site> to Internet" (25/TCP)`,
		feature: "outbound internet mail from the Edge (it queues on the Edge)",
		hops:    cross(subscribedEdges, internetServers), ports: tcp(25), expect: ExpectOpen,
	},
	{
		id: "edgesync", table: TableMailFlowEdge, when: hasSubscribedEdge,
		purpose: "EdgeSync synchronization: Mailbox servers of the subscribed site that participate in EdgeSync to the Edge's AD LDS (50636/TCP secure LDAP)",
		feature: "EdgeSync: accepted domains, recipients and connectors on the Edge go stale; recipient validation rejects new users",
		hops:    cross(edgeSyncParticipants, subscribedEdges), ports: tcp(50636), expect: ExpectOpen,
	},
	{
		id: "edge-dns", table: TableMailFlowEdge, when: hasSubscribedEdge,
		purpose: "DNS for name resolution of the next mail hop: Edge Transport server to DNS server (53/UDP, 53/TCP)",
		feature: `the Edge's MX lookups: outbound mail queues on the Edge with "451 4.4.0 DNS query failed"`,
		hops:    cross(subscribedEdges, dnsServers), ports: dnsPorts(), expect: ExpectOpen,
	},
	{
		id: "mailbox-dns", table: TableMailFlowEdge, when: hasSubscribedEdge,
		purpose: "Name resolution: all internal Exchange servers must be able to resolve internal host names for proper mail routing (53/UDP, 53/TCP)",
		feature: "the Mailbox servers' name resolution of the next hop (the Edge, the other Mailbox servers)",
		hops:    cross(mailboxServers, dnsServers), ports: dnsPorts(), expect: ExpectOpen,
	},
	{
		id: "open-proxy", table: TableMailFlowEdge, when: hasSubscribedEdge,
		purpose: "Open proxy server detection in sender reputation: SOCKS4/SOCKS5 1081, 1080; Wingate, Telnet, Cisco 23; HTTP CONNECT, HTTP POST 6588, 3128, 80 (Edge Transport server to Internet)",
		feature: "sender reputation's open proxy test (Protocol Analysis agent); the SRL of connecting servers is computed without it",
		hops:    cross(openProxyDetectors, internetServers), ports: openProxyPorts, expect: ExpectReachable,
	},

	// ---- Ground rules: unrestricted between internal Exchange servers.
	{
		id: "internal", table: TableGroundRules,
		purpose: "Ground rule: free and unrestricted communication between internal Exchange servers (Exchange ports)",
		feature: "mail flow inside the organization (Front End to Transport, mailbox delivery, Outbound Proxy), client access proxying between Mailbox servers",
		hops:    pairsWithin(mailboxServers),
		ports: []portSpec{{port: 25}, {port: 2525}, {port: 465}, {port: 475}, {port: 717}, {port: 443},
			{port: 444, listener: backEndSite, ifEnabled: true}, {port: 1993, ifEnabled: true}, {port: 1995, ifEnabled: true}},
		expect: ExpectUnrestricted,
	},
	{
		id: "internal-rpc", table: TableGroundRules,
		purpose: "Ground rule: unrestricted communication between internal Exchange servers on any port, including random RPC ports (a sample: 135 and the dynamic range)",
		feature: "RPC between Exchange servers (management, replication); a firewall in between is unsupported",
		hops:    pairsWithin(mailboxServers), ports: rpcPorts, expect: ExpectUnrestricted,
	},

	// ---- Ground rules: what the Internet and the Edge must not reach.
	{
		id: "deny-internet-mailbox-smtp", table: TableGroundRules, when: hasSubscribedEdge,
		purpose: "Ground rule: with a subscribed Edge, inbound internet mail goes through the Edge; the Internet must not reach the Mailbox servers' SMTP",
		feature: "exposure: internet senders bypass the Edge (its recipient filter and sender reputation)",
		hops:    cross(internetServers, mailboxServers), ports: tcp(25), expect: ExpectClosed,
	},
	{
		id: "deny-internet-adam", table: TableGroundRules,
		purpose: "Ground rule: restrict traffic between the Edge Transport server and the internet; AD LDS (50636 EdgeSync, 50389 local only) is not for the Internet",
		feature: "exposure: the Edge's directory (EdgeSync data, hashed recipients) is reachable from the Internet",
		hops:    cross(internetServers, allEdges), ports: []portSpec{{port: 50636}, {port: 50389, check: CheckTCP}}, expect: ExpectClosed,
	},
	{
		id: "deny-internet-internal", table: TableGroundRules,
		purpose: "Ground rule: restrict traffic between external clients and services and the internal Exchange organization to the documented ports",
		feature: "exposure: internal Exchange-only listeners (Transport, mailbox delivery, Outbound Proxy, Exchange Back End, IMAP4/POP3 backends) reachable from the Internet",
		hops:    cross(internetServers, mailboxServers), ports: append(tcp(717, 2525, 465, 475), portSpec{port: 444, listener: backEndSite}, portSpec{port: 1993}, portSpec{port: 1995}), expect: ExpectClosed,
	},
	{
		id: "deny-edge-internal", table: TableGroundRules,
		purpose: "Ground rule: restrict traffic between the Edge Transport server and the internal Exchange organization to the documented ports (25/TCP)",
		feature: "exposure: a compromised Edge reaches internal Exchange services beyond SMTP 25",
		hops:    cross(allEdges, mailboxServers),
		ports:   []portSpec{{port: 2525}, {port: 465}, {port: 475}, {port: 717}, {port: 443}, {port: 444, listener: backEndSite}, rpcEndpointMapper},
		expect:  ExpectClosed,
	},

	// ---- Lab infrastructure.
	{
		id: "lab-dns", table: TableLab,
		purpose: "Lab infrastructure, not in the seed: the lab DNS server stands in for public DNS, so the internet servers can find the organization's MX records (53/UDP, 53/TCP)",
		feature: "inbound mail in the lab: internet servers cannot look up the accepted domains' MX",
		hops:    cross(internetServers, dnsServers), ports: dnsPorts(), expect: ExpectOpen,
	},
}

// Flows derives every flow of the catalogue for topology t, with its ports
// after the topology's port offset, in catalogue order. Where a documented open flow
// and a ground rule's closed flow name the same source, destination and
// port, the documented flow wins.
func Flows(t *topology.Topology) []Flow {
	var out []Flow
	seen := map[string]bool{}
	for _, r := range catalogue {
		if r.when != nil && !r.when(t) {
			continue
		}
		for _, h := range r.hops(t) {
			ports := r.ports
			if h.port != 0 {
				ports = tcp(h.port)
			}
			for _, ps := range ports {
				f, ok := derive(t, r, h, ps)
				if !ok || seen[f.ID] {
					continue
				}
				seen[f.ID] = true
				out = append(out, f)
			}
		}
	}
	return dropContradictions(out)
}

func derive(t *topology.Topology, r rule, h hop, ps portSpec) (Flow, bool) {
	transport := ps.transport
	if transport == "" {
		transport = "tcp"
	}
	id := r.id + "-" + h.src.Name + "-" + h.dst.Name + "-" + strconv.Itoa(ps.port)
	if transport == "udp" {
		id += "-udp"
	}
	f := Flow{
		ID: id, Table: r.table, Purpose: r.purpose, Feature: r.feature,
		Source: h.src.Name, Dest: h.dst.Name,
		Port: t.Port(ps.port), BasePort: ps.port, Transport: transport,
		Expect: r.expect, Check: ps.check, Listener: ps.listener, WantName: h.dst.FQDN,
	}
	if ps.noOffset {
		f.Port = ps.port
	}
	l, found := listenerOn(t, h.dst, ps.port, transport)
	if found && f.Listener == "" {
		f.Listener = l.Name
	}
	if f.Check == "" {
		f.Check = CheckTCP
		if found {
			f.Check = checkFor(l)
		}
	}
	enabled := found && l.Enabled
	if ps.ifEnabled && !enabled {
		return Flow{}, false
	}
	if f.Expect == expectService {
		f.Expect = ExpectClosed
		if enabled {
			f.Expect = ExpectOpen
		}
	}
	return f, true
}

// dropContradictions removes closed flows that a documented flow opens.
func dropContradictions(flows []Flow) []Flow {
	type key struct {
		src, dst  string
		port      int
		transport string
	}
	open := map[key]bool{}
	for _, f := range flows {
		if f.Expect != ExpectClosed {
			open[key{f.Source, f.Dest, f.Port, f.Transport}] = true
		}
	}
	out := flows[:0]
	for _, f := range flows {
		if f.Expect == ExpectClosed && open[key{f.Source, f.Dest, f.Port, f.Transport}] {
			continue
		}
		out = append(out, f)
	}
	return out
}

// listenerOn finds the destination's listener on a documented port,
// preferring an enabled one.
func listenerOn(t *topology.Topology, s *topology.Server, port int, transport string) (topology.Listener, bool) {
	var found topology.Listener
	ok := false
	for _, l := range t.Listeners(s) {
		if l.BasePort != port || l.Transport != transport {
			continue
		}
		if !ok || (!found.Enabled && l.Enabled) {
			found, ok = l, true
		}
	}
	return found, ok
}

// checkFor picks the protocol check of a listener.
func checkFor(l topology.Listener) Check {
	implicit := l.TLS == topology.TLSImplicit
	switch l.Protocol {
	case "smtp":
		if l.TLS == topology.TLSStartTLS {
			return CheckSMTPStartTLS
		}
		return CheckSMTP
	case "http":
		return CheckHTTP
	case "https":
		return CheckHTTPS
	case "imap":
		if implicit {
			return CheckIMAPS
		}
		return CheckIMAP
	case "pop3":
		if implicit {
			return CheckPOP3S
		}
		return CheckPOP3
	case "ldaps":
		return CheckLDAPS
	case "dns":
		return CheckDNS
	}
	return CheckTCP
}

// ---- Server selections and hop builders.

type selection func(*topology.Topology) []*topology.Server

func internetServers(t *topology.Topology) []*topology.Server {
	return t.ServersByRole(topology.RoleInternet)
}
func mailboxServers(t *topology.Topology) []*topology.Server {
	return t.ServersByRole(topology.RoleMailbox)
}
func dnsServers(t *topology.Topology) []*topology.Server { return t.ServersByRole(topology.RoleDNS) }
func allEdges(t *topology.Topology) []*topology.Server   { return t.ServersByRole(topology.RoleEdge) }
func subscribedEdges(t *topology.Topology) []*topology.Server {
	return t.SubscribedEdges()
}
func mailExchangers(t *topology.Topology) []*topology.Server { return t.MailExchangers() }
func edgeSyncParticipants(t *topology.Topology) []*topology.Server {
	return t.EdgeSyncParticipants()
}

// openProxyDetectors are the subscribed Edges that run open proxy detection
// (on unless the topology turns it off, as in Exchange).
func openProxyDetectors(t *topology.Topology) []*topology.Server {
	var out []*topology.Server
	for _, s := range t.SubscribedEdges() {
		if s.Edge.OpenProxyDetection == nil || *s.Edge.OpenProxyDetection {
			out = append(out, s)
		}
	}
	return out
}

func hasSubscribedEdge(t *topology.Topology) bool { return len(t.SubscribedEdges()) > 0 }
func noSubscribedEdge(t *topology.Topology) bool  { return !hasSubscribedEdge(t) }

// cross pairs every server of from with every server of to.
func cross(from, to selection) func(*topology.Topology) []hop {
	return func(t *topology.Topology) []hop {
		var out []hop
		for _, s := range from(t) {
			for _, d := range to(t) {
				if s != d {
					out = append(out, hop{src: s, dst: d})
				}
			}
		}
		return out
	}
}

// pairsWithin pairs the servers of a selection both ways.
func pairsWithin(sel selection) func(*topology.Topology) []hop { return cross(sel, sel) }

// sendConnectorHops yields the hops of the administrator's Send connectors:
// with DNS routing every internet server, with smart hosts the smart hosts
// that are servers of the topology. feProxy selects the connectors with
// FrontEndProxyEnabled; their mail leaves through the Front End Transport
// service of the source server itself (Outbound Proxy Frontend, tried
// first), so the hop to the internet starts at the same server.
func sendConnectorHops(feProxy bool) func(*topology.Topology) []hop {
	return func(t *topology.Topology) []hop {
		var out []hop
		for _, c := range t.SendConnectors {
			if c.FrontEndProxyEnabled != feProxy {
				continue
			}
			port := c.Port
			if port == 0 {
				port = 25
			}
			var dests []*topology.Server
			if c.DNSRouting() {
				dests = internetServers(t)
			} else {
				for _, h := range c.SmartHosts {
					if s := smartHost(t, h); s != nil {
						dests = append(dests, s)
					}
				}
			}
			for _, name := range c.SourceServers {
				src := t.Server(name)
				if src == nil {
					continue
				}
				for _, d := range dests {
					if d != src {
						out = append(out, hop{src: src, dst: d, port: port})
					}
				}
			}
		}
		return out
	}
}

// smartHost resolves a smart host (name, FQDN or address) to a server.
func smartHost(t *topology.Topology, h string) *topology.Server {
	if s := t.Server(h); s != nil {
		return s
	}
	if s := t.ServerByFQDN(h); s != nil {
		return s
	}
	for i := range t.Servers {
		if t.Servers[i].Address == h {
			return &t.Servers[i]
		}
	}
	return nil
}
