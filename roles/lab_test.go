package roles

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
	"github.com/exsim/exsim/transport/smtpclient"
)

var blocks = labtest.NewBlocks(210, 249)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("EXSIM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startLab runs a built-in topology in its own address block.
func startLab(t *testing.T, name string, edit func(*topology.Topology)) *Runtime {
	t.Helper()
	return startLabIn(t, blocks, name, edit)
}

// startLabIn is startLab with the address block taken from in.
func startLabIn(t *testing.T, in *labtest.Blocks, name string, edit func(*topology.Topology)) *Runtime {
	t.Helper()
	top := labtest.Topology(t, name, in.Next(t))
	if edit != nil {
		edit(top)
	}
	rt, err := Start(context.Background(), Options{Topology: top, DataDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	labtest.CloseAtEnd(t, rt)
	return rt
}

// sendFrom sends a message from a server's position: MX routing through
// the lab DNS, the server's own address.
func sendFrom(t *testing.T, rt *Runtime, server, from, subject string, to ...string) smtpclient.Result {
	t.Helper()
	s := rt.Server(server)
	snd := &smtpclient.Sender{Helo: s.Config.FQDN, Dial: s.dialer.DialContext, Resolver: s.resolver(), Timeout: 5 * time.Second}
	m := &smtpclient.Message{From: from, To: to, Subject: subject, Body: "hello from " + server}
	body, err := smtpclient.Build(m, time.Now(), s.Config.FQDN)
	if err != nil {
		t.Fatal(err)
	}
	return snd.Send(context.Background(), smtpclient.Target{Port: 25 + labtest.PortOffset, TLS: smtpclient.TLSOpportunistic,
		TLSConfig: func(name string) *tls.Config { return rt.ca.ClientTLS(name, nil) }}, m, body)
}

// submit sends as an authenticated client to a server's Client Frontend
// and fails the test unless the message is accepted.
func submit(t *testing.T, rt *Runtime, server, user, from, subject string, to ...string) {
	t.Helper()
	s := rt.Server(server)
	snd := &smtpclient.Sender{Helo: "client.example", Dial: (&net.Dialer{}).DialContext, Timeout: 5 * time.Second}
	m := &smtpclient.Message{From: from, To: to, Subject: subject, Body: "submitted by " + user}
	body, err := smtpclient.Build(m, time.Now(), "client.example")
	if err != nil {
		t.Fatal(err)
	}
	res := snd.Send(context.Background(), smtpclient.Target{
		SMTP: net.JoinHostPort(s.Config.Address, fmt.Sprint(587+labtest.PortOffset)), TLS: smtpclient.TLSRequired,
		TLSConfig: func(string) *tls.Config { return rt.ca.ClientTLS(s.Config.FQDN, nil) },
		User:      user, Password: "P@ssw0rd",
	}, m, body)
	if !res.Accepted {
		t.Fatalf("submit = %+v", res)
	}
}

// waitMail waits for a message with subject in a mailbox and returns it.
func waitMail(t *testing.T, rt *Runtime, server, address, subject string) string {
	t.Helper()
	s := rt.Server(server)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		mb, err := s.store.Mailbox(address)
		if err != nil {
			t.Fatal(err)
		}
		inbox, _ := mb.Folder("INBOX")
		msgs, _ := inbox.Messages()
		for _, m := range msgs {
			if m.Subject == subject {
				b, err := inbox.Body(m.UID)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no message %q reached %s on %s", subject, address, server)
	return ""
}

func track(t *testing.T, rt *Runtime, server string, q transport.TrackingQuery) []transport.TrackingEvent {
	t.Helper()
	s := rt.Server(server)
	ev, _, err := s.transport.Tracking().Search(q)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// trackUntil polls server's tracking log until ok holds for the events
// of q (a hop logs SEND once the next hop's 250 is back, which may be just
// after the next hop stored the message) and returns the last events read.
func trackUntil(t *testing.T, rt *Runtime, server string, q transport.TrackingQuery, ok func([]transport.TrackingEvent) bool) []transport.TrackingEvent {
	t.Helper()
	ev := track(t, rt, server, q)
	for deadline := time.Now().Add(10 * time.Second); !ok(ev) && time.Now().Before(deadline); ev = track(t, rt, server, q) {
		time.Sleep(20 * time.Millisecond)
	}
	return ev
}

func hasEvent(evs []transport.TrackingEvent, id, connector string) bool {
	for _, e := range evs {
		if e.EventID == id && (connector == "" || e.ConnectorID == connector) {
			return true
		}
	}
	return false
}

func TestNoEdgeMailFlow(t *testing.T) {
	rt := startLab(t, "contoso-noedge", nil)

	t.Run("inbound from the internet by MX to EX01", func(t *testing.T) {
		res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "inbound noedge", "alice@contoso.com")
		if !res.Accepted {
			t.Fatalf("send = %+v", res)
		}
		if !strings.Contains(res.Reply, "Queued mail for delivery") || !strings.Contains(res.Reply, "Hostname=ex01.contoso.com") {
			t.Errorf("final reply %q, want Exchange's queued reply from ex01", res.Reply)
		}
		msg := waitMail(t, rt, "EX01", "alice@contoso.com", "inbound noedge")
		for _, want := range []string{
			"via Frontend Transport", "via Mailbox Transport", "X-MS-Exchange-Organization-AuthAs: Anonymous",
			"X-MS-Exchange-Organization-Network-Message-Id:", "X-MS-Exchange-Organization-MessageLatency:",
			"Received: from mx.fabrikam.com (" + rt.Server("INET01").Config.Address + ") by ex01.contoso.com",
		} {
			if !strings.Contains(unfoldAll(msg), want) {
				t.Errorf("delivered message lacks %q:\n%s", want, msg)
			}
		}
		complete := func(ev []transport.TrackingEvent) bool {
			return hasEvent(ev, "RECEIVE", `EX01\Default EX01`) && hasEvent(ev, "SEND", intraOrgConnector) && hasEvent(ev, "DELIVER", "")
		}
		if ev := trackUntil(t, rt, "EX01", transport.TrackingQuery{Subject: "inbound noedge"}, complete); !complete(ev) {
			t.Errorf("EX01 tracking = %v", ev)
		}
	})

	t.Run("outbound from EX01 through To Internet", func(t *testing.T) {
		submit(t, rt, "EX01", "alice@contoso.com", "alice@contoso.com", "out via ex01", "carol@fabrikam.com")
		msg := waitMail(t, rt, "INET01", "carol@fabrikam.com", "out via ex01")
		if !strings.Contains(msg, "X-ClientProxiedBy: ex01.contoso.com") || !strings.Contains(msg, "X-Originating-IP: [") {
			t.Errorf("client submission lacks X-ClientProxiedBy/X-Originating-IP:\n%s", msg)
		}
		sent := func(ev []transport.TrackingEvent) bool { return hasEvent(ev, "SEND", "To Internet") }
		if ev := trackUntil(t, rt, "EX01", transport.TrackingQuery{Subject: "out via ex01"}, sent); !sent(ev) {
			t.Errorf("EX01 did not send through To Internet: %v", ev)
		}
	})

	t.Run("outbound from EX02 proxied through Outbound Proxy Frontend", func(t *testing.T) {
		submit(t, rt, "EX02", `CONTOSO\bob`, "bob@contoso.com", "out via 717", "carol@fabrikam.com")
		msg := unfoldAll(waitMail(t, rt, "INET01", "carol@fabrikam.com", "out via 717"))
		if !strings.Contains(msg, "by ex02.contoso.com ("+rt.Server("EX02").Config.Address+") with Microsoft SMTP Server") {
			t.Errorf("no Front End hop on EX02:\n%s", msg)
		}
		sent := func(ev []transport.TrackingEvent) bool { return hasEvent(ev, "SEND", "To Internet via Frontend") }
		if ev := trackUntil(t, rt, "EX02", transport.TrackingQuery{Subject: "out via 717"}, sent); !sent(ev) {
			t.Errorf("EX02 did not send through the proxying connector: %v", ev)
		}
	})

	t.Run("mailbox to mailbox across servers", func(t *testing.T) {
		submit(t, rt, "EX01", "alice", "alice@contoso.com", "to bob", "bob@contoso.com")
		waitMail(t, rt, "EX02", "bob@contoso.com", "to bob")
		ev := trackUntil(t, rt, "EX01", transport.TrackingQuery{Subject: "to bob", EventID: "SEND"},
			func(ev []transport.TrackingEvent) bool { return len(ev) > 0 })
		var send *transport.TrackingEvent
		if len(ev) > 0 {
			send = &ev[len(ev)-1]
		}
		if send == nil || send.ServerHostname != "ex02.contoso.com" || send.SourceContext != string(transport.DeliveryToMailbox) {
			t.Errorf("EX01 SEND = %+v, want to ex02's Mailbox Transport Delivery", send)
		}
	})
}

func unfoldAll(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n ", " "), "\r\n\t", " ")
}

func TestBlockedHopRetriesThenDelivers(t *testing.T) {
	rt := startLab(t, "contoso-noedge", nil)
	inet := rt.Server("INET01").Config
	f, err := rt.Faults().Add(labnet.Fault{From: "EX01", To: inet.Address, Port: 25 + labtest.PortOffset, Action: labnet.ActionDrop})
	if err != nil {
		t.Fatal(err)
	}
	rt.Server("EX01").dialer.Timeout = 300 * time.Millisecond
	for i := range 3 {
		submit(t, rt, "EX01", "alice", "alice@contoso.com", fmt.Sprintf("blocked %d", i), "carol@fabrikam.com")
	}
	tr := rt.Server("EX01").transport
	var q transport.QueueInfo
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, qi := range tr.Queues() {
			if qi.NextHopDomain == "fabrikam.com" && qi.Status == transport.QueueRetry && qi.MessageCount == 3 {
				q = qi
			}
		}
		if q.Identity != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if q.Identity == "" {
		t.Fatalf("no queue in Retry: %+v", tr.Queues())
	}
	if !strings.HasPrefix(q.LastError, `441 4.4.1 Error encountered while communicating with primary target IP address: "Failed to connect. Winsock error code: 10060`) || q.DeliveryType != transport.DeliveryDNS || q.NextHopConnector != "To Internet" {
		t.Errorf("queue = %+v", q)
	}
	rt.Faults().Remove(f.ID)
	if err := tr.RetryQueue(q.Identity); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		waitMail(t, rt, "INET01", "carol@fabrikam.com", fmt.Sprintf("blocked %d", i))
	}
}

func TestNoSendConnectorMeansUnreachable(t *testing.T) {
	rt := startLab(t, "contoso-noedge", func(top *topology.Topology) { top.SendConnectors = nil })
	submit(t, rt, "EX01", "alice", "alice@contoso.com", "nowhere", "carol@fabrikam.com")
	tr := rt.Server("EX01").transport
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, q := range tr.Queues() {
			if q.Identity == `EX01\Unreachable` && q.MessageCount == 1 {
				if q.LastError != transport.ErrNoConnector {
					t.Errorf("Unreachable LastError = %q", q.LastError)
				}
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the message is not in EX01\\Unreachable: %+v", tr.Queues())
}

// smtpSession opens a plain session to a server's connector from addr.
func smtpSession(t *testing.T, rt *Runtime, server string, port int, from netip.Addr) *smtpConn {
	t.Helper()
	s := rt.Server(server)
	d := net.Dialer{Timeout: 5 * time.Second}
	if from.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: from.AsSlice()}
	}
	c, err := d.Dial("tcp", net.JoinHostPort(s.Config.Address, fmt.Sprint(port+labtest.PortOffset)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc := &smtpConn{t: t, c: c, r: bufioReader(c)}
	sc.expect("220 ")
	return sc
}

func TestFrontendRules(t *testing.T) {
	rt := startLab(t, "contoso-noedge", nil)
	c := smtpSession(t, rt, "EX01", 25, netip.Addr{})
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<x@example.org>", "250 2.1.0 Sender OK")
	c.cmd("RCPT TO:<someone@fabrikam.com>", "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain")
	c.cmd("RCPT TO:<nobody@contoso.com>", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup")
	c.cmd("RCPT TO:<alice@contoso.com>", "250 2.1.5 Recipient OK")
	c.cmd("DATA", "354")
	c.send("Subject: firewall\r\nX-MS-Exchange-Organization-AuthAs: Internal\r\nX-MS-Exchange-Organization-SCL: -1\r\n\r\nspoof\r\n.")
	c.expect("250 2.6.0 ")
	c.cmd("QUIT", "221 2.0.0 Service closing transmission channel")
	msg := waitMail(t, rt, "EX01", "alice@contoso.com", "firewall")
	if strings.Contains(msg, "AuthAs: Internal") || strings.Contains(msg, "SCL: -1") || !strings.Contains(msg, "AuthAs: Anonymous") {
		t.Errorf("the header firewall let organization headers through:\n%s", msg)
	}

	// Client Frontend: nothing before authentication.
	c = smtpSession(t, rt, "EX01", 587, netip.Addr{})
	c.cmd("EHLO client.example", "250")
	c.cmd("AUTH LOGIN", "530 5.7.0 Must issue a STARTTLS command first")
	c.cmd("MAIL FROM:<alice@contoso.com>", "530 5.7.1 Client was not authenticated")

	// Transport (2525) and delivery (475) take only Exchange servers.
	for _, port := range []int{2525, 475, 717, 465} {
		c = smtpSession(t, rt, "EX01", port, netip.MustParseAddr("127.0.0.1"))
		c.cmd("EHLO client.example", "250")
		c.cmd("MAIL FROM:<x@example.org>", "530 5.7.1 Client was not authenticated")
	}

	// A message that looped: 60 Received headers.
	c = smtpSession(t, rt, "EX01", 25, netip.Addr{})
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<x@example.org>", "250")
	c.cmd("RCPT TO:<alice@contoso.com>", "250")
	c.cmd("DATA", "354")
	c.send(strings.Repeat("Received: from a by b; Fri, 5 Aug 2016 16:24:41 -0700\r\n", transport.MaxHopCount) + "Subject: loop\r\n\r\nx\r\n.")
	c.expect("554 5.4.6 Hop count exceeded - possible mail loop")
}

// TestFrontendFailsOverToAnotherTransport: with EX01's own Transport
// service (2525) unreachable, its Front End proxies inbound mail to EX02's,
// as Front End Transport picks any Mailbox server of the site.
func TestFrontendFailsOverToAnotherTransport(t *testing.T) {
	rt := startLab(t, "contoso-noedge", nil)
	ex01 := rt.Server("EX01").Config
	if _, err := rt.Faults().Add(labnet.Fault{From: "EX01", To: ex01.Address, Port: 2525 + labtest.PortOffset, Action: labnet.ActionReset}); err != nil {
		t.Fatal(err)
	}
	res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "failover", "alice@contoso.com")
	if !res.Accepted || !strings.Contains(res.Reply, "Hostname=ex02.contoso.com") {
		t.Fatalf("send = %+v, want the queued reply of EX02's Transport", res)
	}
	msg := unfoldAll(waitMail(t, rt, "EX01", "alice@contoso.com", "failover"))
	if !strings.Contains(msg, "by ex02.contoso.com") || !strings.Contains(msg, "via Frontend Transport") {
		t.Errorf("no hop through EX02's Transport:\n%s", msg)
	}
	if ev := track(t, rt, "EX02", transport.TrackingQuery{Subject: "failover"}); !hasEvent(ev, "RECEIVE", `EX02\Default EX02`) {
		t.Errorf("EX02 tracking = %v", ev)
	}

	// With every Transport service unreachable the Front End refuses
	// temporarily: the sender keeps the message. (A fresh lab: a pooled
	// proxy session, like an established connection through a stateful
	// firewall, outlives a new rule.)
	rt = startLab(t, "contoso-noedge", nil)
	for _, name := range []string{"EX01", "EX02"} {
		to := rt.Server(name).Config.Address
		rt.Faults().Add(labnet.Fault{From: "EX01", To: to, Port: 2525 + labtest.PortOffset, Action: labnet.ActionReset})
	}
	res = sendFrom(t, rt, "INET01", "carol@fabrikam.com", "nowhere", "alice@contoso.com")
	if res.Accepted || !strings.HasPrefix(res.Reply, "4") {
		t.Errorf("no Transport reachable: %+v, want a 4xx", res)
	}
	t.Logf("no Transport reachable: %s", res.Reply)
}

// TestBindAnyAddresses: with BindAny (a Kubernetes pod behind its
// Service's ClusterIP) every listener binds the unspecified address of
// its family on its own port, loopback-only ones stay on loopback; without
// it each binds the topology's address.
func TestBindAnyAddresses(t *testing.T) {
	top, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	edge := *top.Server("EDGE01")
	edge.Address = "10.96.2.1" // a ClusterIP
	for _, tc := range []struct {
		bindAny bool
		bind    string
		port    int
		want    string
	}{
		{true, "10.96.2.1", 25, "0.0.0.0:25"},
		{true, "fd00::1", 443, "[::]:443"},
		{true, "127.0.0.1", 50389, "127.0.0.1:50389"},
		{false, "10.96.2.1", 25, "10.96.2.1:25"},
	} {
		s := &Server{Config: &edge, rt: &Runtime{o: Options{BindAny: tc.bindAny}}}
		l := topology.Listener{Bind: netip.MustParseAddr(tc.bind), Port: tc.port}
		if got := s.bindAddr(l).String(); got != tc.want {
			t.Errorf("BindAny=%v bindAddr(%s:%d) = %s, want %s", tc.bindAny, tc.bind, tc.port, got, tc.want)
		}
	}
}

// TestProbeWithNoFlowOfItsOwn: the process of a server no flow starts at
// (DNS01 alone, as `exsim serve` runs it in a container or pod) answers a
// probe request for "every flow that starts here" with none, instead of
// probing the whole catalogue from servers it does not run.
func TestProbeWithNoFlowOfItsOwn(t *testing.T) {
	top := labtest.Topology(t, "contoso", blocks.Next(t))
	rt, err := Start(context.Background(), Options{Topology: top, DataDir: t.TempDir(), Servers: []string{"DNS01"}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	labtest.CloseAtEnd(t, rt)
	res, err := rt.Probe(context.Background(), control.ProbeRequest{})
	if err != nil || string(res.Results) != "[]" {
		t.Fatalf("Probe() = %s, %v; want [] and no error", res.Results, err)
	}
}
