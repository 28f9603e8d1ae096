package probe

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/internal/labnet"
)

type outcomeCase struct {
	name    string
	flow    Flow
	want    Outcome
	detail  string // a substring the detail must hold
	wantErr bool
}

func runCases(t *testing.T, p *Prober, cases []outcomeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := p.Check(context.Background(), tc.flow)
			t.Logf("%s: %s %s", r.Outcome, r.Detail, r.Error)
			if tc.wantErr {
				if r.Error == "" || r.Pass {
					t.Fatalf("Check(%s) = %+v, want an error and a failure", tc.name, r)
				}
				return
			}
			if r.Error != "" {
				t.Fatalf("Check(%s) error = %s", tc.name, r.Error)
			}
			if r.Outcome != tc.want {
				t.Fatalf("Check(%s) = %s (%s), want %s", tc.name, r.Outcome, r.Detail, tc.want)
			}
			if !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("Check(%s) detail = %q, want it to contain %q", tc.name, r.Detail, tc.detail)
			}
			if r.Pass != tc.flow.Expect.Passes(tc.want) {
				t.Errorf("Check(%s) pass = %v with expect %s", tc.name, r.Pass, tc.flow.Expect)
			}
		})
	}
}

func TestOutcomesSMTP(t *testing.T) {
	e := newEnv(t)
	ex01 := e.certs["EX01"]
	ex02 := e.certs["EX02"]
	foreign := foreignCert(t, "ex01.contoso.com")
	good := serve(t, smtpFake{banner: exchangeGreeting("ex01.contoso.com"), host: "ex01.contoso.com", offerTLS: true, cert: &ex01}.handle)
	otherBanner := serve(t, smtpFake{banner: exchangeGreeting("ex02.contoso.com"), host: "ex02.contoso.com", offerTLS: true, cert: &ex02}.handle)
	postfix := serve(t, smtpFake{banner: "220 ex01.contoso.com ESMTP Postfix (Debian/GNU)", host: "ex01.contoso.com", offerTLS: true, cert: &ex01}.handle)
	stripped := serve(t, smtpFake{banner: exchangeGreeting("ex01.contoso.com"), host: "ex01.contoso.com", cert: &ex01}.handle)
	refusesTLS := serve(t, smtpFake{banner: exchangeGreeting("ex01.contoso.com"), host: "ex01.contoso.com", offerTLS: true}.handle)
	intercepted := serve(t, smtpFake{banner: exchangeGreeting("ex01.contoso.com"), host: "ex01.contoso.com", offerTLS: true, cert: &foreign}.handle)
	otherCert := serve(t, smtpFake{banner: exchangeGreeting("ex01.contoso.com"), host: "ex01.contoso.com", offerTLS: true, cert: &ex02}.handle)
	silent := serve(t, func(c net.Conn) { c.Read(make([]byte, 1)) })
	hangsUp := serve(t, func(c net.Conn) {})
	imapHere := serve(t, func(c net.Conn) { c.Write([]byte("* OK The Microsoft Exchange IMAP4 service is ready.\r\n")) })
	busy := serve(t, func(c net.Conn) { c.Write([]byte("421 4.3.2 Service not available\r\n")) })
	internet := serve(t, smtpFake{banner: "220 mx.fabrikam.com ESMTP Service Ready", host: "mx.fabrikam.com", offerTLS: true, cert: ptr(e.certs["INET01"])}.handle)

	smtp := func(port int, expect Expect) Flow {
		return flowTo(CheckSMTPStartTLS, "EDGE01", "EX01", port, "tcp", expect)
	}
	inet := flowTo(CheckSMTPStartTLS, "EDGE01", "INET01", internet, "tcp", ExpectOpen)
	inet.WantName = "mx.fabrikam.com"
	plain := flowTo(CheckSMTP, "EDGE01", "EX01", stripped, "tcp", ExpectOpen)
	runCases(t, e.prober(2*time.Second), []outcomeCase{
		{"exchange-open", smtp(good, ExpectOpen), OutcomeOpen, "STARTTLS cert ex01.contoso.com issued by Contoso Lab Root CA", false},
		{"exchange-open-fails-closed", smtp(good, ExpectClosed), OutcomeOpen, "Microsoft ESMTP MAIL Service ready", false},
		{"internet-mta-open", inet, OutcomeOpen, "220 mx.fabrikam.com ESMTP Service Ready", false},
		{"plain-smtp-check-needs-no-tls", plain, OutcomeOpen, "ex01.contoso.com", false},
		{"closed-port", smtp(closedPort(t), ExpectClosed), OutcomeRefused, "refused", false},
		{"another-servers-banner", smtp(otherBanner, ExpectOpen), OutcomeWrongPeer, "that is EX02", false},
		{"not-exchange", smtp(postfix, ExpectOpen), OutcomeWrongPeer, "not Exchange's greeting", false},
		{"no-starttls", smtp(stripped, ExpectOpen), OutcomeStartTLSStripped, "EHLO lacks STARTTLS", false},
		{"starttls-refused", smtp(refusesTLS, ExpectOpen), OutcomeStartTLSStripped, "454 4.7.0", false},
		{"foreign-certificate", smtp(intercepted, ExpectOpen), OutcomeTLSIntercepted, "not issued by the lab CA", false},
		{"lab-cert-of-another-server", smtp(otherCert, ExpectOpen), OutcomeWrongPeer, "that is EX02", false},
		{"silent", smtp(silent, ExpectOpen), OutcomeWrongPeer, "no SMTP greeting within", false},
		{"hangs-up", smtp(hangsUp, ExpectClosed), OutcomeWrongPeer, "closed before the SMTP greeting", false},
		{"imap-on-smtp-port", smtp(imapHere, ExpectOpen), OutcomeWrongPeer, "not an SMTP greeting", false},
		{"421", smtp(busy, ExpectOpen), OutcomeWrongPeer, "421 4.3.2", false},
	})
}

func ptr[T any](v T) *T { return &v }

func TestOutcomesFaults(t *testing.T) {
	e := newEnv(t)
	ex01 := e.certs["EX01"]
	port := serve(t, smtpFake{banner: exchangeGreeting("ex01.contoso.com"), host: "ex01.contoso.com", offerTLS: true, cert: &ex01}.handle)
	// A fault on a port of its own for each action, from EDGE01 only.
	dropPort, resetPort := port, port
	if _, err := e.faults.Add(labnet.Fault{From: "EDGE01", Port: dropPort, Action: labnet.ActionDrop}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.faults.Add(labnet.Fault{From: "INET01", Port: resetPort, Action: labnet.ActionReset}); err != nil {
		t.Fatal(err)
	}
	p := e.prober(300 * time.Millisecond)
	drop := p.Check(context.Background(), flowTo(CheckSMTPStartTLS, "EDGE01", "EX01", dropPort, "tcp", ExpectClosed))
	if drop.Outcome != OutcomeFiltered || !drop.Pass {
		t.Errorf("Check(drop) = %s pass=%v (%s), want filtered and a pass for a closed flow", drop.Outcome, drop.Pass, drop.Detail)
	}
	if drop.Duration < 300*time.Millisecond || drop.Duration > 5*time.Second {
		t.Errorf("Check(drop) took %v, want about the 300ms timeout", drop.Duration)
	}
	reset := p.Check(context.Background(), flowTo(CheckSMTPStartTLS, "INET01", "EX01", resetPort, "tcp", ExpectOpen))
	if reset.Outcome != OutcomeRefused || reset.Pass {
		t.Errorf("Check(reset) = %s pass=%v, want refused and a failure for an open flow", reset.Outcome, reset.Pass)
	}
	// The fault matches its source only: from EX02 the listener answers.
	ok := p.Check(context.Background(), flowTo(CheckSMTPStartTLS, "EX02", "EX01", port, "tcp", ExpectUnrestricted))
	if ok.Outcome != OutcomeOpen || !ok.Pass {
		t.Errorf("Check(from EX02) = %s (%s), want open", ok.Outcome, ok.Detail)
	}
	// A reachable flow passes when refused and fails when filtered.
	reach := p.Check(context.Background(), flowTo(CheckTCP, "EDGE01", "INET01", dropPort, "tcp", ExpectReachable))
	if reach.Outcome != OutcomeFiltered || reach.Pass {
		t.Errorf("Check(reachable, dropped) = %s pass=%v, want filtered and a failure", reach.Outcome, reach.Pass)
	}
	refusedOK := p.Check(context.Background(), flowTo(CheckTCP, "EDGE01", "INET01", closedPort(t), "tcp", ExpectReachable))
	if refusedOK.Outcome != OutcomeRefused || !refusedOK.Pass {
		t.Errorf("Check(reachable, refused) = %s pass=%v, want refused and a pass", refusedOK.Outcome, refusedOK.Pass)
	}
}

func TestOutcomesHTTP(t *testing.T) {
	e := newEnv(t)
	ex01 := e.certs["EX01"]
	foreign := foreignCert(t, "ex01.contoso.com")
	wrongName := foreignCert(t, "proxy.example.net")
	labProxy, err := e.ca.Issue(certs.Identity{Name: "PROXY", FQDN: "proxy.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	labNamed := httpFake(t, "EX01", &labProxy)
	https := httpFake(t, "EX01", &ex01)
	httpsOther := httpFake(t, "EX02", &ex01)
	intercepted := httpFake(t, "EX01", &foreign)
	selfNamed := httpFake(t, "EX01", &wrongName)
	http := httpFake(t, "EX01", nil)
	notExchange := serve(t, func(c net.Conn) {
		c.Read(make([]byte, 512))
		c.Write([]byte("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	})
	smtpOn443 := serve(t, func(c net.Conn) { c.Write([]byte(exchangeGreeting("ex01.contoso.com") + "\r\n")) })
	runCases(t, e.prober(2*time.Second), []outcomeCase{
		{"https-open", clientFlow(CheckHTTPS, https), OutcomeOpen, "HTTP 302 Found, X-FEServer: EX01", false},
		{"https-other-frontend", clientFlow(CheckHTTPS, httpsOther), OutcomeWrongPeer, "that is EX02", false},
		{"https-intercepted", clientFlow(CheckHTTPS, intercepted), OutcomeTLSIntercepted, "issued by Fabrikam Inspection Lab Root CA", false},
		{"https-foreign-name", clientFlow(CheckHTTPS, selfNamed), OutcomeTLSIntercepted, "proxy.example.net", false},
		{"https-lab-cert-for-no-server", clientFlow(CheckHTTPS, labNamed), OutcomeTLSIntercepted, "not for ex01.contoso.com", false},
		{"https-plaintext-peer", clientFlow(CheckHTTPS, smtpOn443), OutcomeWrongPeer, "TLS handshake", false},
		{"http-open", clientFlow(CheckHTTP, http), OutcomeOpen, "X-FEServer: EX01", false},
		{"http-not-exchange", clientFlow(CheckHTTP, notExchange), OutcomeWrongPeer, "no X-FEServer", false},
		{"http-closed", clientFlow(CheckHTTP, closedPort(t)), OutcomeRefused, "", false},
	})
}

// TestBackEndSiteClientCert: the Exchange Back End site (444) requires an
// Exchange server's certificate. Without one the probe still identifies
// the site by its verified certificate; with ClientCert it reads the answer.
func TestBackEndSiteClientCert(t *testing.T) {
	e := newEnv(t)
	ex02 := e.certs["EX02"]
	port := httpFakeTLS(t, "EX02", &ex02, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: e.ca.Pool()})
	f := flowTo(CheckHTTPS, "EX01", "EX02", port, "tcp", ExpectUnrestricted)
	p := e.prober(2 * time.Second)
	r := p.Check(context.Background(), f)
	if r.Outcome != OutcomeOpen || !strings.Contains(r.Detail, "requires an Exchange server certificate") {
		t.Errorf("Check(444, no client cert) = %s (%s), want open on the certificate alone", r.Outcome, r.Detail)
	}
	var asked []string
	p.ClientCert = func(source string) *tls.Certificate {
		asked = append(asked, source)
		c := e.certs[source]
		return &c
	}
	r = p.Check(context.Background(), f)
	if r.Outcome != OutcomeOpen || !strings.Contains(r.Detail, "X-FEServer: EX02") {
		t.Errorf("Check(444, EX01's cert) = %s (%s), want open with X-FEServer: EX02", r.Outcome, r.Detail)
	}
	if len(asked) != 1 || asked[0] != "EX01" {
		t.Errorf("ClientCert asked for %v, want [EX01]", asked)
	}
	// A foreign client certificate is refused by the site: the check says so.
	foreign := foreignCert(t, "ex01.contoso.com")
	p.ClientCert = func(string) *tls.Certificate { return &foreign }
	r = p.Check(context.Background(), f)
	if r.Outcome != OutcomeOpen {
		t.Errorf("Check(444, foreign client cert) = %s (%s), want open (the site is there)", r.Outcome, r.Detail)
	}
}

func TestOutcomesIMAPPOP3(t *testing.T) {
	e := newEnv(t)
	ex01 := e.certs["EX01"]
	foreign := foreignCert(t, "ex01.contoso.com")
	const exCaps = "IMAP4 IMAP4rev1 LOGINDISABLED STARTTLS UIDPLUS MOVE ID CHILDREN IDLE NAMESPACE LITERAL+"
	imap := serve(t, imapFake{greeting: exchangeIMAPGreeting, caps: exCaps, cert: ex01}.handle)
	imapStripped := serve(t, imapFake{greeting: exchangeIMAPGreeting, caps: "IMAP4 IMAP4rev1 LOGINDISABLED UIDPLUS", cert: ex01}.handle)
	imapDovecot := serve(t, imapFake{greeting: "* OK [CAPABILITY IMAP4rev1] Dovecot ready.", caps: exCaps, cert: ex01}.handle)
	imaps := serve(t, imapFake{greeting: exchangeIMAPGreeting, cert: ex01, implicit: true}.handle)
	imapsIntercepted := serve(t, imapFake{greeting: exchangeIMAPGreeting, cert: foreign, implicit: true}.handle)
	pop3 := serve(t, pop3Fake{greeting: exchangePOP3Greeting, capa: []string{"TOP", "UIDL", "STLS"}, cert: ex01}.handle)
	pop3Stripped := serve(t, pop3Fake{greeting: exchangePOP3Greeting, capa: []string{"TOP", "UIDL", "USER"}, cert: ex01}.handle)
	pop3s := serve(t, pop3Fake{greeting: exchangePOP3Greeting, cert: ex01, implicit: true}.handle)
	pop3Wrong := serve(t, pop3Fake{greeting: "+OK Dovecot ready.", capa: []string{"STLS"}, cert: ex01}.handle)
	runCases(t, e.prober(2*time.Second), []outcomeCase{
		{"imap-open", clientFlow(CheckIMAP, imap), OutcomeOpen, "STARTTLS cert ex01.contoso.com", false},
		{"imap-stripped", clientFlow(CheckIMAP, imapStripped), OutcomeStartTLSStripped, "capabilities lack STARTTLS", false},
		{"imap-not-exchange", clientFlow(CheckIMAP, imapDovecot), OutcomeWrongPeer, "Dovecot", false},
		{"imaps-open", clientFlow(CheckIMAPS, imaps), OutcomeOpen, "The Microsoft Exchange IMAP4 service is ready.", false},
		{"imaps-intercepted", clientFlow(CheckIMAPS, imapsIntercepted), OutcomeTLSIntercepted, "not issued by the lab CA", false},
		{"pop3-open", clientFlow(CheckPOP3, pop3), OutcomeOpen, "STARTTLS cert ex01.contoso.com", false},
		{"pop3-stripped", clientFlow(CheckPOP3, pop3Stripped), OutcomeStartTLSStripped, "lack STARTTLS", false},
		{"pop3s-open", clientFlow(CheckPOP3S, pop3s), OutcomeOpen, "+OK The Microsoft Exchange POP3 service is ready.", false},
		{"pop3-not-exchange", clientFlow(CheckPOP3, pop3Wrong), OutcomeWrongPeer, "not Exchange's POP3 greeting", false},
		{"imap-on-pop3-port", clientFlow(CheckPOP3, imap), OutcomeWrongPeer, "not POP3: * OK", false},
	})
}

func TestOutcomesLDAPSAndDNS(t *testing.T) {
	e := newEnv(t)
	edge := e.certs["EDGE01"]
	ldaps := serve(t, ldapsFake(edge, adamCapability, "1.2.840.113556.1.4.1670"))
	notADLDS := serve(t, ldapsFake(edge, "1.2.840.113556.1.4.800"))
	ldapsForeign := serve(t, ldapsFake(foreignCert(t, "edge01.contoso.com"), adamCapability))
	udpAA, tcpAA := dnsFake(t, true)
	udpRes, _ := dnsFake(t, false)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udpClosed := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	ld := func(port int) Flow { return flowTo(CheckLDAPS, "EX01", "EDGE01", port, "tcp", ExpectOpen) }
	d := func(port int, transport string) Flow {
		return flowTo(CheckDNS, "EDGE01", "DNS01", port, transport, ExpectOpen)
	}
	runCases(t, e.prober(2*time.Second), []outcomeCase{
		{"ldaps-open", ld(ldaps), OutcomeOpen, "RootDSE namingContexts=CN=Configuration", false},
		{"ldaps-not-adlds", ld(notADLDS), OutcomeWrongPeer, "not AD LDS", false},
		{"ldaps-intercepted", ld(ldapsForeign), OutcomeTLSIntercepted, "", false},
		{"ldaps-closed", ld(closedPort(t)), OutcomeRefused, "", false},
		{"dns-udp-open", d(udpAA, "udp"), OutcomeOpen, "MX fabrikam.com: NOERROR aa, 10 mx.fabrikam.com", false},
		{"dns-tcp-open", d(tcpAA, "tcp"), OutcomeOpen, "NOERROR aa", false},
		{"dns-resolver", d(udpRes, "udp"), OutcomeWrongPeer, "not authoritative", false},
		{"dns-udp-closed", d(udpClosed, "udp"), OutcomeRefused, "unreachable", false},
		{"dns-tcp-closed", d(closedPort(t), "tcp"), OutcomeRefused, "", false},
	})
}

func TestCheckErrors(t *testing.T) {
	e := newEnv(t)
	p := e.prober(time.Second)
	runCases(t, p, []outcomeCase{
		{"unknown-server", flowTo(CheckTCP, "NOPE", "EX01", 25, "tcp", ExpectOpen), "", "", true},
		{"unknown-check", flowTo("gopher", "EX02", "EX01", 25, "tcp", ExpectOpen), "", "", true},
		{"bad-port", flowTo(CheckTCP, "EX02", "EX01", 70000, "tcp", ExpectOpen), "", "", true},
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.faults.Add(labnet.Fault{Action: labnet.ActionDrop}); err != nil {
		t.Fatal(err)
	}
	r := p.Check(ctx, flowTo(CheckTCP, "EX02", "EX01", 25, "tcp", ExpectClosed))
	if r.Error == "" || r.Pass {
		t.Errorf("Check(cancelled) = %+v, want an error, not a filtered pass", r)
	}
}

// TestDefaultDialerBindsSource checks that without DialerFor a flow starts
// from its source server's own address.
func TestDefaultDialerBindsSource(t *testing.T) {
	e := newEnv(t)
	e.topo.Server("EX02").Address = "127.0.0.2"
	seen := make(chan string, 1)
	port := serve(t, func(c net.Conn) { seen <- c.RemoteAddr().(*net.TCPAddr).IP.String() })
	p := &Prober{Topology: e.topo, CA: e.ca, Timeout: 2 * time.Second}
	r := p.Check(context.Background(), flowTo(CheckTCP, "EX02", "EX01", port, "tcp", ExpectOpen))
	if r.Outcome != OutcomeOpen {
		t.Fatalf("Check = %+v, want open", r)
	}
	if got := <-seen; got != "127.0.0.2" {
		t.Errorf("connection came from %s, want EX02's 127.0.0.2", got)
	}
}

func TestRunParallelAndOrdered(t *testing.T) {
	e := newEnv(t)
	if _, err := e.faults.Add(labnet.Fault{Action: labnet.ActionDrop}); err != nil {
		t.Fatal(err)
	}
	var asked sync.Map
	const timeout = 400 * time.Millisecond
	p := e.prober(timeout)
	inner := p.DialerFor
	p.DialerFor = func(source string) Dialer {
		asked.Store(source, true)
		return inner(source)
	}
	var flows []Flow
	sources := []string{"EDGE01", "EX01", "EX02", "INET01"}
	for i := range 60 {
		f := flowTo(CheckSMTPStartTLS, sources[i%len(sources)], "DNS01", 20000+i, "tcp", ExpectClosed)
		flows = append(flows, f)
	}
	var mu sync.Mutex
	calls := 0
	p.OnResult = func(Result) {
		mu.Lock()
		calls++
		mu.Unlock()
	}
	start := time.Now()
	results := p.Run(context.Background(), flows)
	elapsed := time.Since(start)
	if len(results) != len(flows) || calls != len(flows) {
		t.Fatalf("Run returned %d results and %d callbacks, want %d", len(results), calls, len(flows))
	}
	for i, r := range results {
		if r.Flow.ID != flows[i].ID {
			t.Fatalf("Run result %d is %s, want %s (catalogue order)", i, r.Flow.ID, flows[i].ID)
		}
		if r.Outcome != OutcomeFiltered || !r.Pass {
			t.Errorf("Run result %s = %s pass=%v, want filtered and a pass", r.Flow.ID, r.Outcome, r.Pass)
		}
	}
	// 60 dropped flows run one after another would take 60 timeouts (24 s);
	// in parallel they take about one.
	if elapsed > 10*timeout {
		t.Errorf("Run of %d dropped flows took %v, want about one timeout (%v)", len(flows), elapsed, timeout)
	}
	for _, s := range sources {
		if _, ok := asked.Load(s); !ok {
			t.Errorf("DialerFor was never asked for %s", s)
		}
	}
	// Concurrency 1 still returns every result, in order.
	p.Concurrency = 1
	few := p.Run(context.Background(), flows[:3])
	for i, r := range few {
		if r.Flow.ID != flows[i].ID {
			t.Errorf("Run(concurrency 1) result %d = %s, want %s", i, r.Flow.ID, flows[i].ID)
		}
	}
}

func TestRunDefaultsToCatalogue(t *testing.T) {
	e := newEnv(t)
	// Every flow is dropped: the run shows the whole catalogue, closed flows
	// pass, open ones fail.
	if _, err := e.faults.Add(labnet.Fault{Action: labnet.ActionReset}); err != nil {
		t.Fatal(err)
	}
	p := e.prober(time.Second)
	results := p.Run(context.Background(), nil)
	flows := Flows(e.topo)
	if len(results) != len(flows) {
		t.Fatalf("Run(nil) = %d results, want %d", len(results), len(flows))
	}
	for _, r := range results {
		if r.Outcome != OutcomeRefused {
			t.Errorf("Run(nil) %s = %s (%s %s), want refused", r.Flow.ID, r.Outcome, r.Detail, r.Error)
		}
		want := r.Flow.Expect != ExpectOpen
		if r.Pass != want {
			t.Errorf("Run(nil) %s (%s) pass = %v, want %v", r.Flow.ID, r.Flow.Expect, r.Pass, want)
		}
	}
	s := Summarize(results)
	if s.Flows != len(results) || s.Passed+s.Failed != s.Flows || s.Failed == 0 {
		t.Errorf("Summarize = %+v", s)
	}
}

func TestOutsideTopologyIsAnError(t *testing.T) {
	e := newEnv(t)
	port := closedPort(t)
	// A dialer whose guard allows nothing: the check cannot run, which is
	// an error (the flow fails), never a "refused" pass.
	p := e.prober(time.Second)
	p.DialerFor = func(source string) Dialer {
		return &labnet.Dialer{Server: source, Source: netip.MustParseAddr("127.0.0.1"), Guard: &labnet.AllowList{}}
	}
	r := p.Check(context.Background(), flowTo(CheckTCP, "EX02", "EX01", port, "tcp", ExpectClosed))
	if r.Error == "" || r.Pass {
		t.Errorf("Check(outside topology) = %+v, want an error and a failure", r)
	}
}
