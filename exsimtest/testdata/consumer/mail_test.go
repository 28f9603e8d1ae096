// Package consumer stands for an application whose integration tests need
// an Exchange server: it submits mail with the standard library's
// net/smtp, as the application would, and checks that it arrived.
package consumer

import (
	"crypto/tls"
	"net"
	"net/smtp"
	"testing"

	"github.com/exsim/exsim/exsimtest"
)

func TestInvoiceReachesAlice(t *testing.T) {
	lab := exsimtest.Start(t)

	addr := lab.Addr("EX01", 587) // the Client Frontend connector, wherever the lab put it
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{ServerName: "ex01.contoso.com", RootCAs: lab.CA()}); err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(addr)
	if err := c.Auth(smtp.PlainAuth("", "bob@contoso.com", "P@ssw0rd", host)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("bob@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@contoso.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: bob@contoso.com\r\nTo: alice@contoso.com\r\nSubject: Invoice 42\r\n\r\nPlease pay.\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	lab.WaitDelivered(t, "alice@contoso.com", "Invoice 42")
}
