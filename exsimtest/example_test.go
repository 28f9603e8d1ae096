package exsimtest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/smtp"
	"strings"
	"testing"

	"github.com/exsim/exsim/exsimtest"
)

// Start in a test of your project: the lab stops when the test ends.
func ExampleStart() {
	_ = func(t *testing.T) {
		lab := exsimtest.Start(t)
		c, err := smtp.Dial(lab.Addr("EX01", 587))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.StartTLS(&tls.Config{ServerName: "ex01.contoso.com", RootCAs: lab.CA()}); err != nil {
			t.Fatal(err)
		}
		// ... AUTH as alice@contoso.com (P@ssw0rd), MAIL, RCPT, DATA ...
		lab.WaitDelivered(t, "bob@contoso.com", "Invoice 42")
	}
}

// Mail from the internet reaches alice through the Edge and EX01 on the
// first try: New (like Start) returns once EdgeSync is done.
func Example() {
	lab, err := exsimtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	ctx := context.Background()

	res, err := lab.Send(ctx, exsimtest.Message{
		From: "carol@fabrikam.com", To: []string{"alice@contoso.com"},
		Subject: "Hello from the internet", Body: "Hi Alice",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted:", res.Accepted)
	msg, err := lab.WaitMessage(ctx, "alice@contoso.com", "Hello from the internet")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("through the Edge:", bytes.Contains(msg, []byte("by edge01.contoso.com")))
	// Output:
	// accepted: true
	// through the Edge: true
}

// Addr maps a documented port to the lab's: the Edge's SMTP banner on
// the port documented as 25.
func ExampleLab_Addr() {
	lab, err := exsimtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	c, err := net.Dial("tcp", lab.Addr("EDGE01", 25))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	banner, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Join(strings.Fields(banner)[:6], " "))
	// Output: 220 edge01.contoso.com Microsoft ESMTP MAIL Service
}

// A fault that drops EX01's connections to the Edge's AD LDS port breaks
// the documented EdgeSync flow, and the probe says so.
func ExampleLab_Fault() {
	const flow = "edgesync-EX01-EDGE01-50636"
	ctx := context.Background()
	lab, err := exsimtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()

	remove, err := lab.Fault(exsimtest.Fault{From: "EX01", To: "EDGE01", Port: 50636, Action: "reset"})
	if err != nil {
		log.Fatal(err)
	}
	res, err := lab.Probe(ctx, flow)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res[0].Flow.ID, "passes:", res[0].Pass)

	remove()
	res, err = lab.Probe(ctx, flow)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res[0].Flow.ID, "passes:", res[0].Pass)
	// Output:
	// edgesync-EX01-EDGE01-50636 passes: false
	// edgesync-EX01-EDGE01-50636 passes: true
}
