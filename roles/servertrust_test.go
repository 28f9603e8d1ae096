package roles

import (
	"net/netip"
	"testing"
)

// TestExchangeServerTrustNeedsACertificate: a process that binds an
// Exchange server's address but presents no certificate of that server is
// anonymous (issue: trust by certificate, never by source address). EX01's
// Default Frontend refuses to relay for it, its 2525 refuses it, while mail
// between the servers themselves (which authenticate with certificates)
// still flows.
func TestExchangeServerTrustNeedsACertificate(t *testing.T) {
	rt := startLab(t, "contoso", nil)
	ex01 := netip.MustParseAddr(rt.Server("EX01").Config.Address)
	// Relay through the Default Frontend (25) from EX01's own address
	// without its certificate.
	c := smtpSession(t, rt, "EX01", 25, ex01)
	c.cmd("EHLO ex01.contoso.com", "")
	c.cmd("MAIL FROM:<spam@example.net>", "")
	c.cmd("RCPT TO:<carol@fabrikam.com>", "550 5.7.54 ")
	// Transport (2525) from EX01's own address without its certificate.
	c = smtpSession(t, rt, "EX01", 2525, ex01)
	c.cmd("EHLO ex01.contoso.com", "")
	c.cmd("MAIL FROM:<spam@example.net>", "530 5.7.1 ")
	// EX01's Front End, Transport and EX02's Mailbox Delivery authenticate
	// each other by certificate, so alice's mail to bob still flows.
	submit(t, rt, "EX01", `CONTOSO\alice`, "alice@contoso.com", "between servers", "bob@contoso.com")
	waitMail(t, rt, "EX02", "bob@contoso.com", "between servers")
}
