package roles

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/transport"
)

// TestFrontendUpstreamLostMidTransaction: the proxy session to Transport
// breaks after the first recipient was accepted. The client's transaction
// ends with it: later RCPT and DATA get 503 until the client starts over,
// so no recipient answered 250 is left out of a message that goes through
// a new upstream transaction.
func TestFrontendUpstreamLostMidTransaction(t *testing.T) {
	rt := startLab(t, "contoso-noedge", nil)
	ex01 := rt.Server("EX01").Config
	// The proxy session to EX01's Transport is cut once it has been quiet
	// for idle (a fresh lab: the Front End has no pooled session yet).
	const idle = time.Second
	f, err := rt.Faults().Add(labnet.Fault{From: "EX01", To: ex01.Address, Port: 2525 + labtest.PortOffset, Action: labnet.ActionIdle, Idle: idle})
	if err != nil {
		t.Fatal(err)
	}
	c := smtpSession(t, rt, "EX01", 25, netip.Addr{})
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<carol@fabrikam.com>", "250 2.1.0")
	c.cmd("RCPT TO:<alice@contoso.com>", "250 2.1.5")
	time.Sleep(2 * idle)
	c.cmd("RCPT TO:<bob@contoso.com>", "451 4.7.0")
	rt.Faults().Remove(f.ID)

	c.send("RCPT TO:<bob@contoso.com>")
	if r := c.expect(""); !strings.HasPrefix(r, "503 5.5.1") {
		// The proxy started a new upstream transaction for bob alone:
		// see where the message goes.
		c.cmd("DATA", "354")
		c.send("Subject: lost\r\n\r\nx\r\n.")
		c.expect("250 2.6.0")
		q := transport.TrackingQuery{Subject: "lost"}
		ev := trackUntil(t, rt, "EX01", q, func(ev []transport.TrackingEvent) bool { return hasEvent(ev, "RECEIVE", "") })
		var to []string
		for _, e := range ev {
			if e.EventID == "RECEIVE" {
				to = append(to, e.Recipients...)
			}
		}
		if !slices.Contains(to, "alice@contoso.com") {
			t.Fatalf("RCPT after the upstream broke = %q, and the message was queued for %v: alice@contoso.com, answered 250, is lost", r, to)
		}
		t.Fatalf("RCPT after the upstream broke = %q, want 503 5.5.1", r)
	}
	// smtpd answers DATA with 354 before the session sees it: the refusal
	// follows the message.
	c.cmd("DATA", "354")
	c.send("Subject: refused\r\n\r\nx\r\n.")
	c.expect("503 5.5.1")

	// Starting over works, through a new upstream session.
	c.cmd("RSET", "250")
	c.cmd("MAIL FROM:<carol@fabrikam.com>", "250 2.1.0")
	c.cmd("RCPT TO:<alice@contoso.com>", "250 2.1.5")
	c.cmd("RCPT TO:<bob@contoso.com>", "250 2.1.5")
	c.cmd("DATA", "354")
	c.send("Subject: again\r\n\r\nx\r\n.")
	c.expect("250 2.6.0")
	waitMail(t, rt, "EX01", "alice@contoso.com", "again")
	waitMail(t, rt, "EX02", "bob@contoso.com", "again")
}
