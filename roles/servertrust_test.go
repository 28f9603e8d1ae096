package roles

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
)

// TestExchangeServerTrustNeedsACertificate: a process that binds an
// Exchange server's address but presents no certificate of that server is
// anonymous (issue: trust by certificate, never by source address). EX01's
// Default Frontend refuses to relay for it, its 2525 refuses it, while mail
// between the servers themselves (which authenticate with certificates)
// still flows.
func TestExchangeServerTrustNeedsACertificate(t *testing.T) {
	rt := startLab(t, "contoso", nil)
	ex01 := rt.Server("EX01").Config
	talk := func(port int, cmds ...string) []string {
		t.Helper()
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ex01.Address)}}
		c, err := d.Dial("tcp", net.JoinHostPort(ex01.Address, fmt.Sprint(port+labtest.PortOffset)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		reply := func() string {
			var last string
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("%d: %v", port, err)
				}
				last = strings.TrimRight(line, "\r\n")
				if len(last) < 4 || last[3] != '-' {
					return last
				}
			}
		}
		reply()
		var out []string
		for _, cmd := range cmds {
			fmt.Fprintf(c, "%s\r\n", cmd)
			out = append(out, reply())
		}
		return out
	}
	got := talk(25, "EHLO ex01.contoso.com", "MAIL FROM:<spam@example.net>", "RCPT TO:<carol@fabrikam.com>")
	if !strings.HasPrefix(got[2], "550 5.7.54 ") {
		t.Errorf("relay from EX01's own address without its certificate: RCPT = %q, want 550 5.7.54", got[2])
	}
	got = talk(2525, "EHLO ex01.contoso.com", "MAIL FROM:<spam@example.net>")
	if !strings.HasPrefix(got[1], "530 5.7.1 ") {
		t.Errorf("Transport (2525) from EX01's own address without its certificate: MAIL = %q, want 530 5.7.1", got[1])
	}
	// EX01's Front End, Transport and EX02's Mailbox Delivery authenticate
	// each other by certificate, so alice's mail to bob still flows.
	if res := submit(t, rt, "EX01", `CONTOSO\alice`, "alice@contoso.com", "between servers", "bob@contoso.com"); !res.Accepted {
		t.Fatalf("submit = %+v", res)
	}
	waitMail(t, rt, "EX02", "bob@contoso.com", "between servers")
}
