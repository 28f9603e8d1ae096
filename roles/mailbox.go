package roles

import (
	"context"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"sync"

	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// mailboxRole is an Exchange Mailbox server: Front End Transport (25, 587,
// 717), Transport (2525, 465), Mailbox Transport Delivery (475), the
// mailbox store, and Client Access (IMAP4, POP3, HTTP, HTTPS).
type mailboxRole struct {
	s      *Server
	t      *topology.Topology
	store  *store.Store
	tr     *transport.Transport
	logs   *transportLogs
	timers topology.TimerValues
	accts  accounts
	// feSender is Front End Transport's delivery agent (Outbound Proxy Frontend).
	feSender *transport.SMTPSender
	// ntlm completes NTLM logons for SMTP; ntlmHTTP for HTTP (per connection).
	ntlm     *ntlm.Server
	ntlmHTTP *ntlm.HTTPAuth
	// edgeSync is the EdgeSync push to each subscribed Edge.
	edgeSync []*edgeSyncState
	// upstreams are Front End Transport's idle sessions to Transport.
	upstreams upstreamPool
	// oof holds the mailboxes' automatic-reply settings.
	oof oofStore
	// proxies are the web front end's reverse proxies to each back end
	// (*httputil.ReverseProxy by server name and address).
	proxies sync.Map
}

func (r *mailboxRole) start(ctx context.Context, s *Server) error {
	r.s, r.t = s, s.rt.o.Topology
	r.timers = r.t.Timers.For(topology.RoleMailbox)
	r.accts = accounts{t: r.t}
	var err error
	if r.logs, err = openTransportLogs(s, "FrontEnd", "Hub", "Mailbox"); err != nil {
		return err
	}
	if r.store, err = s.openStore(ctx, store.Options{Logger: s.log}); err != nil {
		return err
	}
	r.oof.dir = filepath.Join(s.dir, "Mailbox", "OOF")
	r.tr, err = s.newTransport(transport.RouterFunc(r.route), r.logs, r.logs.send["Hub"], exchangePostmaster(r.t))
	if err != nil {
		return err
	}
	s.transport, s.store = r.tr, r.store
	r.feSender = s.smtpSender(r.logs.send["FrontEnd"])
	s.onClose(func(context.Context) error { r.upstreams.close(); return nil })
	r.ntlm = s.newNTLM()

	fe := r.logs.recv["FrontEnd"]
	hub := r.logs.recv["Hub"]
	mbx := r.logs.recv["Mailbox"]
	const viaFE, viaMailbox = "Frontend Transport", "Mailbox Transport"
	frontend := func(kind feKind) func(*transport.Ingress) smtpd.Backend {
		return func(in *transport.Ingress) smtpd.Backend { return r.frontend(kind, in) }
	}
	connectors := []struct {
		kind    topology.ListenerKind
		via     string // ends the connector's Received headers
		backend func(*transport.Ingress) smtpd.Backend
		persona smtpd.Persona
		log     *transport.ProtocolLog
		limits  func(*smtpd.Limits)
	}{
		{topology.SMTPDefaultFrontend, viaFE, frontend(feDefault), smtpd.PersonaFrontend, fe, nil},
		{topology.SMTPClientFrontend, viaFE, frontend(feClient), smtpd.PersonaFrontend, fe, nil},
		{topology.SMTPOutboundProxy, viaFE, r.outboundProxy, smtpd.PersonaFrontend, fe, nil},
		{topology.SMTPDefault, "", r.hub, smtpd.PersonaTransport, hub, func(l *smtpd.Limits) {
			// "Default <SERVER>": 5000 recipients, no per-source limit.
			l.MaxRecipientsPerMessage = 5000
			l.MaxInboundConnectionPerSource = 0
		}},
		{topology.SMTPClientProxy, "", r.hub, smtpd.PersonaTransport, hub, nil},
		{topology.SMTPMailboxDelivery, viaMailbox, r.delivery, smtpd.PersonaTransport, mbx, func(l *smtpd.Limits) {
			l.MaxInboundConnectionPerSource = 0
		}},
	}
	for _, c := range connectors {
		for _, l := range s.listenerOf(c.kind) {
			o := smtpd.Options{
				Persona:           c.persona,
				RequireTLSForAuth: true,
				Limits:            limits(r.timers, c.limits),
				ProtocolLog:       protoLog{c.log},
			}
			if err := s.receiveConnector(l, c.via, c.backend, o); err != nil {
				return err
			}
		}
	}
	if err := r.startClientAccess(ctx); err != nil {
		return err
	}
	return r.startEdgeSync(ctx)
}

// databaseName is the server's mailbox database, as Get-Queue's
// NextHopDomain shows it for SmtpDeliveryToMailbox ("mailbox database
// 0123456789": Exchange names it with ten digits).
func databaseName(server string) string {
	h := fnv.New32a()
	h.Write([]byte(server))
	return fmt.Sprintf("mailbox database %010d", h.Sum32())
}

// intraOrgConnector is the implicit, invisible Send connector between
// Exchange servers of the organization.
const intraOrgConnector = "Intra-Organization SMTP Send Connector"

// edgeToInternet and edgeInbound name the Send connectors an Edge
// Subscription creates.
func edgeToInternet(site string) string { return "EdgeSync - " + site + " to Internet" }
func edgeInbound(site string) string    { return "EdgeSync - Inbound to " + site }

// route is the Mailbox server's categorizer and router.
func (r *mailboxRole) route(ctx context.Context, m *transport.Message, rcpt string) transport.NextHop {
	domain := topology.Domain(rcpt)
	if r.t.IsAcceptedDomain(domain) {
		mb := r.t.Mailbox(rcpt)
		if mb == nil {
			return transport.NextHop{Fail: smtpd.ReplyRecipientNotFound.Error()}
		}
		home := r.t.Server(mb.Server)
		return transport.NextHop{
			Type: transport.DeliveryToMailbox, Domain: databaseName(home.Name), Connector: intraOrgConnector,
			Hosts: []string{home.FQDN}, Port: r.t.Port(475), ExchangeAuth: true,
			SendHeaders: transport.SendHeaders(transport.UsageInternal),
		}
	}
	return r.routeExternal(domain)
}

// routeExternal picks the Send connector for an external domain: the most
// specific address space wins, then the lowest cost (Exchange's routing).
// The Edge Subscription's "to Internet" connector (address space *, cost
// 100) is reached through the Edge on the intra-organization connector.
func (r *mailboxRole) routeExternal(domain string) transport.NextHop {
	type candidate struct {
		spec int
		cost int
		hop  transport.NextHop
	}
	var best *candidate
	consider := func(c candidate) {
		if best == nil || c.spec > best.spec || c.spec == best.spec && c.cost < best.cost {
			best = &c
		}
	}
	for i := range r.t.SendConnectors {
		c := &r.t.SendConnectors[i]
		if !containsFold(c.SourceServers, r.s.Config.Name) {
			continue
		}
		spec := addressSpaceMatch(c.AddressSpaces, domain)
		if spec < 0 {
			continue
		}
		// The topology's Send connectors are those an administrator creates
		// to reach the internet (New-SendConnector -Usage Internet): the
		// header firewall keeps organization and forest headers inside.
		hop := transport.NextHop{Connector: c.Name, Port: r.t.Port(c.Port), SendHeaders: transport.SendHeaders(transport.UsageInternet)}
		if c.DNSRouting() {
			hop.Type, hop.Domain, hop.MX = transport.DeliveryDNS, domain, true
		} else {
			hop.Type, hop.Domain, hop.Hosts = transport.DeliverySmartHost, c.Name, c.SmartHosts
		}
		if c.FrontEndProxyEnabled {
			// Proxy through the Front End Transport service of a Mailbox
			// server of the site (Outbound Proxy Frontend, 717), local first.
			// That hop is between Exchange servers; the Front End applies
			// the connector's header firewall as it relays.
			hop.Hosts, hop.MX, hop.Port, hop.ExchangeAuth = r.frontEndServers(), false, r.t.Port(717), true
			hop.SendHeaders = transport.SendHeaders(transport.UsageInternal)
		}
		consider(candidate{spec, c.Cost, hop})
	}
	if edges := r.t.SubscribedEdges(); len(edges) > 0 {
		var hosts []string
		for _, e := range edges {
			hosts = append(hosts, e.FQDN)
		}
		consider(candidate{0, 100, transport.NextHop{
			Type: transport.DeliveryRelayToEdge, Domain: edgeToInternet(r.t.Site), Connector: edgeToInternet(r.t.Site),
			Hosts: hosts, Port: r.t.Port(25), ExchangeAuth: true, LoadBalance: true,
			SendHeaders: transport.SendHeaders(transport.UsageInternal),
		}})
	}
	if best == nil {
		return transport.NextHop{Type: transport.DeliveryUnreachable, Unreachable: transport.ErrNoConnector}
	}
	return best.hop
}

// frontEndServers are the site's Mailbox servers, this one first.
func (r *mailboxRole) frontEndServers() []string {
	hosts := []string{r.s.Config.FQDN}
	for _, m := range r.t.ServersByRole(topology.RoleMailbox) {
		if m.Name != r.s.Config.Name {
			hosts = append(hosts, m.FQDN)
		}
	}
	return hosts
}

// addressSpaceMatch scores how specifically an address space list matches
// domain: -1 none, 0 "*", else the length of the matching space.
func addressSpaceMatch(spaces []string, domain string) int {
	best := -1
	for _, sp := range spaces {
		switch {
		case sp == "*":
			best = max(best, 0)
		case len(sp) > 2 && sp[:2] == "*.":
			if hasSuffixFold(domain, sp[1:]) || equalFold(domain, sp[2:]) {
				best = max(best, len(sp)-1)
			}
		case equalFold(sp, domain):
			best = max(best, len(sp)+1)
		}
	}
	return best
}

// openStore opens the mailbox store of this server (Mailbox/mailboxes.db),
// closed with s, and creates the topology's mailboxes it hosts that the
// store does not have yet.
func (s *Server) openStore(ctx context.Context, o store.Options) (*store.Store, error) {
	st, err := store.Open(filepath.Join(s.dir, "Mailbox", "mailboxes.db"), o)
	if err != nil {
		return nil, err
	}
	s.onClose(func(context.Context) error { return st.Close() })
	for _, m := range s.rt.o.Topology.MailboxesOn(s.Config.Name) {
		if _, err := st.Mailbox(m.Address); err != nil {
			if _, err := st.CreateMailbox(ctx, m.Address); err != nil {
				return nil, fmt.Errorf("mailbox %s: %w", m.Address, err)
			}
		}
	}
	return st, nil
}
