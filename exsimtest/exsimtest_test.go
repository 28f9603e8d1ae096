package exsimtest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/exsimtest"
)

// TestFirstSendIsDelivered: right after Start, mail from the internet
// passes the Edge (no 451 "EdgeSync has not synchronized") and reaches
// alice's Inbox through every hop.
func TestFirstSendIsDelivered(t *testing.T) {
	t.Parallel()
	lab := exsimtest.Start(t)
	res, err := lab.Send(context.Background(), exsimtest.Message{From: "carol@fabrikam.com", To: []string{"alice@contoso.com"}, Subject: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Accepted || !strings.Contains(res.Reply, "Queued mail for delivery") {
		t.Fatalf("Send = %+v, want Exchange's queued reply", res)
	}
	msg := string(lab.WaitDelivered(t, "alice@contoso.com", "first"))
	for _, hop := range []string{"by edge01.contoso.com", "by ex01.contoso.com"} {
		if !strings.Contains(msg, hop) {
			t.Errorf("delivered message lacks a Received header %q:\n%s", hop, msg)
		}
	}
	// From the organization: alice's Mailbox server queues it, the Edge
	// sends it out by MX.
	res, err = lab.Send(context.Background(), exsimtest.Message{From: "alice@contoso.com", To: []string{"carol@fabrikam.com"}, Subject: "outbound"})
	if err != nil || !res.Accepted {
		t.Fatalf("Send outbound = %+v, %v", res, err)
	}
	lab.WaitDelivered(t, "carol@fabrikam.com", "outbound")
}

// TestSubmitWithARealClient: go-smtp submits as alice on the port
// documented as 587 with STARTTLS, trusting lab.CA(), to bob on EX02.
func TestSubmitWithARealClient(t *testing.T) {
	t.Parallel()
	lab := exsimtest.Start(t)
	addr := lab.Addr("EX01", 587)
	if host, port, _ := net.SplitHostPort(addr); host == "127.0.20.1" || port == "587" {
		t.Fatalf("Addr(EX01, 587) = %q, want a moved address and port", addr)
	}
	c, err := smtp.DialStartTLS(addr, &tls.Config{ServerName: "ex01.contoso.com", RootCAs: lab.CA()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice@contoso.com", "P@ssw0rd")); err != nil {
		t.Fatal(err)
	}
	body := "From: alice@contoso.com\r\nTo: bob@contoso.com\r\nSubject: real client\r\n\r\nhello bob\r\n"
	if err := c.SendMail("alice@contoso.com", []string{"bob@contoso.com"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if msg := lab.WaitDelivered(t, "bob@contoso.com", "real client"); !strings.Contains(string(msg), "hello bob") {
		t.Errorf("bob's message:\n%s", msg)
	}
}

// TestFaultAndProbe: a documented flow passes the probe; a fault on the
// Edge's port 25 fails exactly that flow until it is removed. (The whole
// catalogue is probed through exsimtest by the scenarios tests.)
func TestFaultAndProbe(t *testing.T) {
	t.Parallel()
	lab := exsimtest.Start(t)
	ctx := context.Background()
	const flow = "edge-inbound-INET01-EDGE01-25"
	passes := func() bool {
		t.Helper()
		rs, err := lab.Probe(ctx, flow)
		if err != nil || len(rs) != 1 || rs[0].Flow.ID != flow {
			t.Fatalf("Probe(%s) = %+v, %v; want its one result", flow, rs, err)
		}
		return rs[0].Pass
	}
	if !passes() {
		t.Fatalf("%s fails in a fresh lab", flow)
	}
	remove, err := lab.Fault(exsimtest.Fault{From: "INET01", To: "EDGE01", Port: 25, Action: "reset"})
	if err != nil {
		t.Fatal(err)
	}
	if passes() {
		t.Fatalf("%s passes with INET01 -> EDGE01:25 refused", flow)
	}
	remove()
	if !passes() {
		t.Fatalf("%s fails after the fault was removed", flow)
	}
	if _, err := lab.Probe(ctx, "no-such-flow"); err == nil {
		t.Error("Probe(no-such-flow) = nil error")
	}
	if _, err := lab.Fault(exsimtest.Fault{From: "NOPE", Action: "drop"}); err == nil {
		t.Error("Fault from an unknown server = nil error")
	}
	if _, err := lab.Fault(exsimtest.Fault{Action: "explode"}); err == nil {
		t.Error("Fault with action explode = nil error")
	}
}

// TestTwoLabsSideBySide: two labs of one test get different addresses,
// and each answers on its own.
func TestTwoLabsSideBySide(t *testing.T) {
	t.Parallel()
	a := exsimtest.Start(t)
	b := exsimtest.Start(t, exsimtest.WithTopology("contoso-noedge"))
	if a.Addr("EX01", 25) == b.Addr("EX01", 25) {
		t.Fatalf("both labs have EX01:25 at %s", a.Addr("EX01", 25))
	}
	for _, lab := range []*exsimtest.Lab{a, b} {
		c, err := net.DialTimeout("tcp", lab.Addr("EX01", 25), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

func TestWithTopologyErrors(t *testing.T) {
	for _, tc := range []struct{ topo, want string }{
		{"contosso", "no built-in topology"},
		{"organization: X\nservers: [\n", "WithTopology YAML"},
		{"organization: X\nzonez: []\n", "zonez"},
	} {
		_, err := exsimtest.New(exsimtest.WithTopology(tc.topo))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(WithTopology(%q)) = %v, want an error with %q", tc.topo, err, tc.want)
		}
	}
}

// TestWithTopologyYAML: a topology written as YAML (contoso-noedge with
// its own addresses) runs, moved into a block; its documented port 25
// answers as the Default Frontend of EX01.
func TestWithTopologyYAML(t *testing.T) {
	t.Parallel()
	yml := `organization: Fabrikam
accepted_domains: [fabrikam.net]
zones: [{name: lan}]
servers:
  - {name: MBX1, role: mailbox, fqdn: mbx1.fabrikam.net, address: 10.7.1.1, zone: lan}
  - {name: NS1, role: dns, fqdn: ns1.fabrikam.net, address: 10.7.1.53, zone: lan}
mailboxes:
  - {address: dave@fabrikam.net, display_name: Dave, password: pw, server: MBX1}
`
	lab := exsimtest.Start(t, exsimtest.WithTopology(yml))
	c, err := smtp.Dial(lab.Addr("MBX1", 25))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("x@example.org", []string{"dave@fabrikam.net"}, strings.NewReader("Subject: yaml lab\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	lab.WaitDelivered(t, "dave@fabrikam.net", "yaml lab")
}

// TestWaitMessageEnds: WaitMessage gives up with ErrNotDelivered when its
// context ends, and names an unknown mailbox.
func TestWaitMessageEnds(t *testing.T) {
	t.Parallel()
	lab := exsimtest.Start(t, exsimtest.WithTopology("contoso-noedge"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := lab.WaitMessage(ctx, "alice@contoso.com", "never sent"); !errors.Is(err, exsimtest.ErrNotDelivered) {
		t.Errorf("WaitMessage = %v, want ErrNotDelivered", err)
	}
	if _, err := lab.WaitMessage(ctx, "nobody@contoso.com", "x"); err == nil || !strings.Contains(err.Error(), "no mailbox") {
		t.Errorf("WaitMessage(nobody) = %v", err)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "no TCP listener documented on port 26") {
				t.Errorf("Addr(EX01, 26) outside a test: recovered %v", r)
			}
		}()
		l, err := exsimtest.New(exsimtest.WithTopology("contoso-noedge"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		l.Addr("EX01", 26)
	}()
}
