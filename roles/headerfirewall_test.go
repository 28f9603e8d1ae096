package roles

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/transport"
	"github.com/exsim/exsim/transport/smtpclient"
)

// forged are the header fields a sender outside the organization (or a
// user) forges to pass as internal: the header firewall must not let them
// in.
var forged = []string{
	transport.OrgPrefix + "SCL: -1",
	transport.HeaderAuthAs + ": Internal",
	transport.HeaderAuthSource + ": forged.example",
	transport.ForestPrefix + "RulesExecuted: forged",
}

// headerValues returns every value of a field of msg (case-insensitive
// name), unfolded.
func headerValues(msg, name string) []string {
	hdr, _, _ := strings.Cut(unfoldAll(msg), "\r\n\r\n")
	var out []string
	for _, line := range strings.Split(hdr, "\r\n") {
		n, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(n, name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// assertNoExchangeHeaders fails when msg carries an organization or
// forest X-header: what leaves the organization through an Internet Send
// connector (header firewall, Ms-Exch-Send-Headers-Organization/-Forest).
func assertNoExchangeHeaders(t *testing.T, where, msg string) {
	t.Helper()
	hdr, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(hdr, "\r\n") {
		l := strings.ToLower(line)
		if strings.HasPrefix(l, "x-ms-exchange-organization-") || strings.HasPrefix(l, "x-ms-exchange-forest-") {
			t.Errorf("%s carries %q: the header firewall lets it leave the organization\n%s", where, line, hdr)
		}
	}
	if !strings.Contains(hdr, "Received: from ") {
		t.Errorf("%s has no Received header; the Internet usage keeps Ms-Exch-Send-Headers-Routing\n%s", where, hdr)
	}
}

// sendForged sends a message with the forged fields to port on server
// (25 anonymously from the sender's own address; 587 as user).
func sendForged(t *testing.T, rt *Runtime, from, to, subject string, tgt smtpclient.Target, fromServer string) {
	t.Helper()
	snd := &smtpclient.Sender{Helo: "client.example", Dial: (&net.Dialer{}).DialContext, Timeout: 5 * time.Second}
	if fromServer != "" {
		s := rt.Server(fromServer)
		snd = &smtpclient.Sender{Helo: s.Config.FQDN, Dial: s.dialer.DialContext, Resolver: s.resolver(), Timeout: 5 * time.Second}
	}
	m := &smtpclient.Message{From: from, To: []string{to}, Subject: subject, Body: "forged", Headers: append([]string{
		"Received: from forged.example (192.0.2.99) by forged.example; Fri, 5 Aug 2016 16:24:41 -0700",
	}, forged...)}
	body, err := smtpclient.Build(m, time.Now(), "client.example")
	if err != nil {
		t.Fatal(err)
	}
	if res := snd.Send(context.Background(), tgt, m, body); !res.Accepted {
		t.Fatalf("send %q = %+v", subject, res)
	}
}

// assertNotForged checks that a delivered message carries the
// organization's own stamps, not the forged ones.
func assertNotForged(t *testing.T, msg, authAs, authSource string) {
	t.Helper()
	if v := headerValues(msg, transport.HeaderAuthAs); strings.Join(v, ",") != authAs {
		t.Errorf("AuthAs = %q, want only %q", v, authAs)
	}
	if v := headerValues(msg, transport.HeaderAuthSource); strings.Join(v, ",") != authSource {
		t.Errorf("AuthSource = %q, want only %q", v, authSource)
	}
	for _, f := range []string{transport.OrgPrefix + "SCL", transport.ForestPrefix + "RulesExecuted"} {
		if v := headerValues(msg, f); len(v) > 0 {
			t.Errorf("%s = %q: the forged field got in", f, v)
		}
	}
}

// TestHeaderFirewallWithEdge: contoso with EDGE01 (Microsoft's "Header
// firewall" page, its Receive connector and Send connector tables).
func TestHeaderFirewallWithEdge(t *testing.T) {
	rt := startLab(t, "contoso", fastEdgeSync)
	waitSync(t, rt, "EDGE01")
	ex01 := rt.Server("EX01").Config

	t.Run("alice to carol through EDGE01 leaves without organization headers", func(t *testing.T) {
		submit(t, rt, "EX01", "alice@contoso.com", "alice@contoso.com", "fw out edge", "carol@fabrikam.com")
		msg := waitMail(t, rt, "INET01", "carol@fabrikam.com", "fw out edge")
		assertNoExchangeHeaders(t, "carol's copy", msg)
		if !strings.Contains(unfoldAll(msg), "by edge01.contoso.com") {
			t.Errorf("carol's copy did not come through EDGE01:\n%s", msg)
		}
	})

	t.Run("alice to bob on EX02 keeps them", func(t *testing.T) {
		submit(t, rt, "EX01", "alice@contoso.com", "alice@contoso.com", "fw internal", "bob@contoso.com")
		msg := waitMail(t, rt, "EX02", "bob@contoso.com", "fw internal")
		// EX01's Front End stamped them; EX01's Transport service and
		// EX02's Mailbox Transport Delivery (ExchangeServers) kept them.
		for f, want := range map[string]string{
			transport.HeaderAuthAs: "Internal", transport.HeaderAuthSource: ex01.FQDN, transport.HeaderAuthMechanism: "06",
		} {
			if v := headerValues(msg, f); strings.Join(v, ",") != want {
				t.Errorf("bob's copy: %s = %q, want %q", f, v, want)
			}
		}
		if len(headerValues(msg, transport.HeaderNetworkMessageID)) != 1 || len(headerValues(msg, transport.HeaderOriginalArrival)) != 1 {
			t.Errorf("bob's copy lacks Network-Message-Id or OriginalArrivalTime:\n%s", msg)
		}
	})

	t.Run("forged headers from the internet do not reach alice", func(t *testing.T) {
		sendForged(t, rt, "carol@fabrikam.com", "alice@contoso.com", "fw forged inbound",
			smtpclient.Target{Port: 25 + labtest.PortOffset, TLS: smtpclient.TLSOpportunistic,
				TLSConfig: func(name string) *tls.Config { return rt.ca.ClientTLS(name, nil) }}, "INET01")
		msg := waitMail(t, rt, "EX01", "alice@contoso.com", "fw forged inbound")
		assertNotForged(t, msg, "Anonymous", "edge01.contoso.com")
		// AnonymousUsers hold Ms-Exch-Accept-Headers-Routing: the sender's
		// Received header stays.
		if !strings.Contains(msg, "by forged.example") {
			t.Errorf("the sender's Received header was removed:\n%s", msg)
		}
	})

	t.Run("forged headers from an authenticated user do not reach bob", func(t *testing.T) {
		sendForged(t, rt, "alice@contoso.com", "bob@contoso.com", "fw forged user", smtpclient.Target{
			SMTP: net.JoinHostPort(ex01.Address, fmt.Sprint(587+labtest.PortOffset)), TLS: smtpclient.TLSRequired,
			TLSConfig: func(string) *tls.Config { return rt.ca.ClientTLS(ex01.FQDN, nil) },
			User:      "alice@contoso.com", Password: "P@ssw0rd",
		}, "")
		msg := waitMail(t, rt, "EX02", "bob@contoso.com", "fw forged user")
		assertNotForged(t, msg, "Internal", ex01.FQDN)
	})
}

// TestHeaderFirewallNoEdge: without an Edge, EX01's own Send connector to
// the internet applies it, and so does the Front End that proxies EX02's
// outbound mail (Outbound Proxy Frontend, 717).
func TestHeaderFirewallNoEdge(t *testing.T) {
	rt := startLab(t, "contoso-noedge", nil)
	for _, tc := range []struct{ server, user, from string }{
		{"EX01", "alice@contoso.com", "alice@contoso.com"},
		{"EX02", `CONTOSO\bob`, "bob@contoso.com"},
	} {
		subject := "fw out noedge " + tc.server
		submit(t, rt, tc.server, tc.user, tc.from, subject, "carol@fabrikam.com")
		assertNoExchangeHeaders(t, "carol's copy from "+tc.server, waitMail(t, rt, "INET01", "carol@fabrikam.com", subject))
	}
	// The Default Frontend strips what the internet forged, with no Edge.
	c := smtpSession(t, rt, "EX01", 25, netip.Addr{})
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<carol@fabrikam.com>", "250")
	c.cmd("RCPT TO:<alice@contoso.com>", "250")
	c.cmd("DATA", "354")
	c.send("Subject: fw forged noedge\r\n" + strings.Join(forged, "\r\n") + "\r\n\r\nforged\r\n.")
	c.expect("250 2.6.0 ")
	c.cmd("QUIT", "221")
	assertNotForged(t, waitMail(t, rt, "EX01", "alice@contoso.com", "fw forged noedge"), "Anonymous", rt.Server("EX01").Config.FQDN)

	// Mailbox Transport Submission (OWA, EWS) removes organization,
	// forest and routing headers from what a mailbox sends.
	be := webBackend{r: rt.Server("EX01").role.(*mailboxRole)}
	u, err := be.Authenticate(context.Background(), "alice", "P@ssw0rd")
	if err != nil {
		t.Fatal(err)
	}
	msg := "Received: from forged.example by forged.example; Fri, 5 Aug 2016 16:24:41 -0700\r\n" + strings.Join(forged, "\r\n") +
		"\r\nFrom: alice@contoso.com\r\nTo: bob@contoso.com\r\nSubject: fw forged owa\r\n\r\nhi\r\n"
	if err := be.Submit(context.Background(), u, []string{"bob@contoso.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := waitMail(t, rt, "EX02", "bob@contoso.com", "fw forged owa")
	assertNotForged(t, got, "Internal", rt.Server("EX01").Config.FQDN)
	if strings.Contains(got, "forged.example") {
		t.Errorf("a routing header the client wrote was submitted:\n%s", got)
	}
}
