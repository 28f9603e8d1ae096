package roles

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/exsim/exsim/roles/edgesync"
	"github.com/exsim/exsim/roles/senderrep"
	"github.com/exsim/exsim/servers/smtpd"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// edgeDirectory is what the Edge knows from EdgeSync: the organization's
// accepted domains, its recipients (as hashes) and the Mailbox servers of
// the subscribed site. Until the first synchronisation it knows nothing.
type edgeDirectory interface {
	// Synchronized reports whether configuration has arrived at least once.
	Synchronized() bool
	IsAcceptedDomain(domain string) bool
	// KnownRecipient says whether addr is a recipient; haveData is false
	// before recipients were synchronized (then nothing is rejected).
	KnownRecipient(addr string) (known, haveData bool)
	// MailboxServers are the FQDNs of the site's Mailbox servers that take
	// part in the subscription (EdgeSync - Inbound's smart hosts).
	MailboxServers() []string
	// SiteServers are every Mailbox server of the site EdgeSync named
	// (they may relay outbound through the Edge).
	SiteServers() []string
}

// edgeRole is an Edge Transport server: the Default internal Receive
// connector on 25, the Send connectors of the Edge Subscription, recipient
// validation on EdgeSync data, AD LDS for EdgeSync, and sender
// reputation's open proxy detection.
type edgeRole struct {
	s      *Server
	t      *topology.Topology
	tr     *transport.Transport
	logs   *transportLogs
	timers topology.TimerValues
	dir    edgeDirectory
	edge   *edgesync.Edge

	proxyTest  *senderrep.Cache
	reputation *senderrep.Reputation
}

// replyNotSynchronized answers recipients while the Edge has no EdgeSync
// configuration yet: a temporary refusal, so senders retry and nothing is
// lost or bounced (exsim's wording; Exchange has no accepted domains then).
var replyNotSynchronized = &smtpd.Reply{Code: 451, Enhanced: "4.4.0", Text: "EdgeSync has not synchronized the organization's configuration to this Edge Transport server yet; try again later"}

func (r *edgeRole) start(ctx context.Context, s *Server) error {
	r.s, r.t = s, s.rt.o.Topology
	r.timers = r.t.Timers.For(topology.RoleEdge)
	var err error
	if r.logs, err = openTransportLogs(s, "Edge"); err != nil {
		return err
	}
	if err := r.startDirectory(ctx); err != nil {
		return err
	}
	r.tr, err = s.newTransport(transport.RouterFunc(r.route), r.logs, r.logs.send["Edge"], exchangePostmaster(r.t))
	if err != nil {
		return err
	}
	s.transport = r.tr
	wctx, stop := context.WithCancel(context.Background())
	s.onClose(func(context.Context) error { stop(); return nil })
	go r.watchEdgeSync(wctx)
	if err := r.startOpenProxyDetection(); err != nil {
		return err
	}
	for _, l := range s.listenerOf(topology.SMTPEdgeReceive) {
		o := smtpd.Options{
			Persona:           smtpd.PersonaEdge,
			RequireTLSForAuth: true,
			Limits: limits(r.timers, func(l *smtpd.Limits) {
				// The Edge's connector: 5 min session, 1 min inactivity.
				l.ConnectionTimeout = 5 * time.Minute
				l.ConnectionInactivityTimeout = time.Minute
				l.MessageRateLimit = s.Config.Edge.MessageRateLimit
			}),
			ProtocolLog: protoLog{r.logs.recv["Edge"]},
		}
		backend := func(in *transport.Ingress) smtpd.Backend {
			return smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
				return &edgeSession{r: r, c: c, in: in}, nil
			})
		}
		if err := s.receiveConnector(l, "", backend, o); err != nil {
			return err
		}
	}
	return nil
}

// route is the Edge's router: accepted domains go to the subscribed
// site's Mailbox servers (EdgeSync - Inbound to <site>, port 25 to Default
// Frontend), everything else to the internet by MX (EdgeSync - <site> to
// Internet). Before EdgeSync arrived nothing is routable.
func (r *edgeRole) route(ctx context.Context, m *transport.Message, rcpt string) transport.NextHop {
	if !r.dir.Synchronized() {
		return transport.NextHop{Type: transport.DeliveryUnreachable, Unreachable: "EdgeSync has not synchronized the organization's configuration yet"}
	}
	domain := topology.Domain(rcpt)
	if r.dir.IsAcceptedDomain(domain) {
		hosts := r.dir.MailboxServers()
		if len(hosts) == 0 {
			return transport.NextHop{Type: transport.DeliveryUnreachable, Unreachable: transport.ErrNoConnector}
		}
		return transport.NextHop{
			Type: transport.DeliveryToServers, Domain: edgeInbound(r.t.Site), Connector: edgeInbound(r.t.Site),
			Hosts: hosts, Port: r.t.Port(25), ExchangeAuth: true, LoadBalance: true,
			SendHeaders: transport.SendHeaders(transport.UsageInternal),
		}
	}
	// The internet connector: organization and forest headers stay
	// inside; Received and Resent-* leave (Internet usage grants the
	// anonymous account Ms-Exch-Send-Headers-Routing).
	return transport.NextHop{
		Type: transport.DeliveryDNS, Domain: domain, Connector: edgeToInternet(r.t.Site), MX: true, Port: r.t.Port(25),
		SendHeaders: transport.SendHeaders(transport.UsageInternet),
	}
}

// startOpenProxyDetection sets up sender reputation's open proxy test.
func (r *edgeRole) startOpenProxyDetection() error {
	eo := r.s.Config.Edge
	if eo.OpenProxyDetection != nil && !*eo.OpenProxyDetection {
		return nil
	}
	rep, err := senderrep.NewReputation(senderrep.ReputationOptions{
		Path: filepath.Join(r.s.dir, "SenderReputation.json"), Logger: r.s.log,
	})
	if err != nil {
		return err
	}
	r.reputation = rep
	o := senderrep.Options{
		Dial: r.s.dialer.DialContext, Target: r.t.Endpoint(r.s.Config, 25), ExpectBanner: senderrep.MatchBanner(r.s.Config.FQDN),
		Ports: senderrep.LabPorts(r.t), Timeout: 3 * time.Second, Logger: r.s.log,
	}
	if via := eo.OpenProxyVia; via != "" {
		pc, err := proxyConfig(via)
		if err != nil {
			return err
		}
		o.OutboundProxy = pc
	}
	tester, err := senderrep.NewTester(o)
	if err != nil {
		return err
	}
	r.proxyTest = senderrep.NewCache(tester, senderrep.CacheOptions{})
	return nil
}

// proxyConfig parses open_proxy_via ("socks5://host:port", "http://host:port").
func proxyConfig(via string) (*senderrep.ProxyConfig, error) {
	scheme, hostport, _ := strings.Cut(via, "://")
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return nil, err
	}
	var t senderrep.ProxyType
	switch scheme {
	case "socks5":
		t, err = senderrep.ParseProxyType("Socks5")
	case "http":
		t, err = senderrep.ParseProxyType("HttpConnect")
	}
	if err != nil {
		return nil, err
	}
	return &senderrep.ProxyConfig{Type: t, Name: ap.Addr().String(), Port: ap.Port()}, nil
}

// edgeSession is one session on the Default internal Receive connector.
type edgeSession struct {
	r        *edgeRole
	c        *smtpd.Conn
	in       *transport.Ingress
	exchange *topology.Server // a Mailbox server authenticated by mutual TLS
	env      transport.Envelope
}

var _ smtpd.TLSSession = (*edgeSession)(nil)

// TLSEstablished authenticates Mailbox servers of the subscribed site by
// their lab certificate (Exchange server authentication).
func (e *edgeSession) TLSEstablished(cs *tls.ConnectionState) error {
	name := e.r.s.rt.ca.PeerName(cs)
	if name == "" {
		return nil
	}
	for _, fqdn := range e.r.dir.SiteServers() {
		if strings.EqualFold(fqdn, name) {
			e.exchange = e.r.t.ServerByFQDN(name)
			e.c.SetAuthIdentity(name)
			return nil
		}
	}
	return nil
}

func (e *edgeSession) Mail(from string, o *smtpd.MailOptions) error {
	if e.exchange == nil && e.r.reputation != nil {
		ip, err := netip.ParseAddrPort(e.c.RemoteAddr().String())
		if err == nil {
			addr := ip.Addr().Unmap()
			if rej := e.r.reputation.Reject(addr, time.Now()); rej != nil {
				return replyFromLastError(rej.Error())
			}
			e.r.testSender(addr, e.c.SessionID(), e.in.Connector)
		}
	}
	e.env = transport.Envelope{From: from, Mail: o}
	return nil
}

// testSender runs the open proxy test of an external sender in the
// background (as Exchange does: the test connects back to this very
// connector, so it must not hold the session) and records the result.
func (r *edgeRole) testSender(addr netip.Addr, session, connector string) {
	if _, ok := r.proxyTest.Cached(addr); ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, _ := r.proxyTest.Test(ctx, addr)
		rec, err := r.reputation.Record(addr, res)
		if err != nil {
			r.s.log.Error("sender reputation", "err", err)
		}
		var probes []string
		reachable := 0
		for _, p := range res.Probes {
			probes = append(probes, p.String())
			switch p.Outcome {
			case senderrep.OpenProxy, senderrep.NotProxy, senderrep.Closed:
				reachable++ // an answer came back: the path to the internet is open
			}
		}
		verdict := "not an open proxy"
		if res.OpenProxy {
			verdict = "OPEN PROXY, sender blocked: " + res.Reason()
			r.s.log.Warn("sender is an open proxy; blocked", "remote", addr, "code", res.Reason())
		}
		r.logs.recv["Edge"].Write(transport.ProtocolLine{Connector: connector, Session: session, Remote: addr.String(), Event: "*",
			Data: "Protocol Analysis: open proxy test of " + addr.String() + ": " + verdict, Context: strings.Join(probes, "; ")})
		r.logs.tracking.Write(transport.LogTransport, &transport.TrackingEvent{
			ClientIP: addr.String(), ServerHostname: r.s.Config.FQDN, Source: transport.SourceAgent,
			EventID:    transport.EventAgentInfo,
			CustomData: fmt.Sprintf("S:PA=OpenProxy=%v;SRL=%d;reachable=%d/%d;%s", res.OpenProxy, rec.SRL, reachable, len(res.Probes), strings.Join(probes, ";")),
		})
	}()
}

func (e *edgeSession) Rcpt(to string, o *smtpd.RcptOptions) error {
	if e.exchange != nil {
		// Outbound from the organization: anything goes.
		e.env.AddRcpt(to, o)
		return nil
	}
	if !e.r.dir.Synchronized() {
		return replyNotSynchronized
	}
	domain := topology.Domain(to)
	if !e.r.dir.IsAcceptedDomain(domain) {
		return smtpd.ReplyRelayDenied
	}
	if rv := e.r.s.Config.Edge.RecipientValidation; rv == nil || *rv {
		if known, have := e.r.dir.KnownRecipient(to); have && !known {
			e.r.s.rt.metrics.recipientRejects.WithLabelValues(e.r.s.Config.Name).Inc()
			return smtpd.ReplyUserUnknown
		}
	}
	e.env.AddRcpt(to, o)
	return nil
}

// Data queues the message. The header firewall removes the organization
// and forest headers of anonymous senders (AnonymousUsers holds only
// Ms-Exch-Accept-Headers-Routing) and this first Exchange hop stamps its
// own; Mailbox servers of the site (ExchangeServers) keep theirs.
func (e *edgeSession) Data(rd io.Reader) (*smtpd.Reply, error) {
	st := transport.Stamp{Accept: transport.AcceptHeaders(transport.ExchangeServers), Org: transport.OrgFill}
	if e.exchange == nil {
		st = transport.Stamp{Accept: transport.AcceptHeaders(transport.AnonymousUsers), Org: transport.OrgStamp, AuthAs: "Anonymous"}
	}
	return e.in.Receive(e.c, &e.env, st, rd, e.r.tr)
}

func (e *edgeSession) Reset()  { e.env.Reset() }
func (e *edgeSession) Logout() {}
