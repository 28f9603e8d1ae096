package smtpd

import (
	"strings"
	"testing"

	"github.com/exsim/exsim/servers/internal/servertest"
)

// TestNmapServiceDetection: nmap -sV must take the connector for Exchange.
func TestNmapServiceDetection(t *testing.T) {
	nmap := servertest.NeedTool(t, "nmap")
	if testing.Short() {
		t.Skip("nmap -sV takes seconds")
	}
	srv := clientServer(t)
	out := servertest.CombinedOutput(t, "", nmap, "-sV", "-Pn", "-n", "-p", srv.port, "127.0.0.1")
	t.Log(out)
	if !strings.Contains(out, "Microsoft Exchange smtpd") {
		t.Errorf("nmap -sV did not see Microsoft Exchange smtpd:\n%s", out)
	}
}
