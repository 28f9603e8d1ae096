package roles

import (
	"encoding/base64"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/clienttest"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/topology"
)

// TestNTLMEverywhere runs real NTLM clients against one lab (address
// blocks are scarce): EX01 requires NTLMv2 (mailbox.ntlm.require_v2), EX02
// keeps the default, NTLMv1 and NTLMv2.
func TestNTLMEverywhere(t *testing.T) {
	on := true
	rt := startLab(t, "contoso-noedge", func(top *topology.Topology) {
		enableMailAccess(top)
		top.Server("EX01").Mailbox.NTLM = &topology.NTLMOptions{RequireV2: &on}
	})
	t.Run("curl HTTP and SMTP", func(t *testing.T) { ntlmWithCurl(t, rt) })
	t.Run("mail access", func(t *testing.T) { mailAccessNTLM(t, rt) })
	t.Run("swaks NTLMv1", func(t *testing.T) { submissionNTLMv1(t, rt) })
}

// mailAccessNTLM: real clients log on with NTLM to the IMAP4 and POP3
// frontends of EX02 and read alice's mailbox, which lives on EX01: curl
// (NTLMv2) on IMAP4 and POP3, fetchmail with its default authentication
// (it picks NTLM when CAPA lists it, and sends NTLMv1).
func mailAccessNTLM(t *testing.T, rt *Runtime) {
	sendFrom(t, rt, "INET01", "carol@fabrikam.com", "ntlm read", "alice@contoso.com")
	waitMail(t, rt, "EX01", "alice@contoso.com", "ntlm read")
	ca := labCAFile(t, rt)
	ex02 := rt.Server("EX02").Config
	imaps, pop3s := 993+labtest.PortOffset, 995+labtest.PortOffset

	t.Run("curl IMAP4", func(t *testing.T) {
		curl := needTool(t, "curl")
		out, err := exec.Command(curl, "-sS", "--cacert", ca, "--login-options", "AUTH=NTLM", "-u", `CONTOSO\alice:P@ssw0rd`,
			"--resolve", fmt.Sprintf("%s:%d:%s", ex02.FQDN, imaps, ex02.Address),
			"-X", "SEARCH SUBJECT \"ntlm read\"", fmt.Sprintf("imaps://%s:%d/INBOX", ex02.FQDN, imaps)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "* SEARCH 1") {
			t.Errorf("curl imaps AUTH=NTLM SEARCH: %v\n%s", err, out)
		}
		out, err = exec.Command(curl, "-sS", "--cacert", ca, "--login-options", "AUTH=NTLM", "-u", `CONTOSO\alice:wrong`,
			"--resolve", fmt.Sprintf("%s:%d:%s", ex02.FQDN, imaps, ex02.Address),
			fmt.Sprintf("imaps://%s:%d/INBOX", ex02.FQDN, imaps)).CombinedOutput()
		if err == nil {
			t.Errorf("curl imaps AUTH=NTLM with a wrong password succeeded:\n%s", out)
		}
	})
	t.Run("curl POP3", func(t *testing.T) {
		curl := needTool(t, "curl")
		out, err := exec.Command(curl, "-sS", "--cacert", ca, "--login-options", "AUTH=NTLM", "-u", `CONTOSO\alice:P@ssw0rd`,
			"--resolve", fmt.Sprintf("%s:%d:%s", ex02.FQDN, pop3s, ex02.Address),
			fmt.Sprintf("pop3s://%s:%d/1", ex02.FQDN, pop3s)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Subject: ntlm read") {
			t.Errorf("curl pop3s AUTH=NTLM RETR 1: %v\n%s", err, out)
		}
	})
	t.Run("fetchmail", func(t *testing.T) {
		// No "auth" keyword: fetchmail's default, "any".
		out, got := clienttest.Fetchmail(t, fmt.Sprintf(`poll %s via %s service %d protocol pop3
  user 'CONTOSO\\alice' there with password 'P@ssw0rd' is root here
  ssl sslcertck sslcertfile %q sslcommonname %s keep`, ex02.FQDN, ex02.Address, pop3s, ca, ex02.FQDN))
		if !strings.Contains(out, "POP3> AUTH NTLM") || !strings.Contains(out, "POP3< +OK User successfully logged on.") {
			t.Errorf("fetchmail did not log on with NTLM:\n%s", out)
		}
		// fetchmail's NTLM is NTLMv1: a 24-byte NtChallengeResponse.
		if am := lastNTLMMessage(out, "POP3> "); len(am) < 24 || int(am[20])|int(am[21])<<8 != 24 {
			t.Errorf("fetchmail's AUTHENTICATE_MESSAGE %x is not NTLMv1", am)
		}
		if !strings.Contains(got, "Subject: ntlm read") {
			t.Errorf("fetchmail delivered %q, want the message\n%s", got, out)
		}
	})
}

// lastNTLMMessage decodes the last base64 NTLM message a client trace
// shows after prefix.
func lastNTLMMessage(trace, prefix string) []byte {
	var last []byte
	for _, line := range strings.Split(trace, "\n") {
		_, b, ok := strings.Cut(line, prefix+"TlRMTVNT")
		if !ok {
			continue
		}
		if m, err := base64.StdEncoding.DecodeString("TlRMTVNT" + strings.TrimSpace(b)); err == nil {
			last = m
		}
	}
	return last
}

// submissionNTLMv1: swaks with Perl's Authen::NTLM, which sends only
// NTLMv1, submits on EX02's Client Frontend (587) after STARTTLS, as Windows
// at its default LAN Manager authentication level lets it; EX01, with
// require_v2, refuses the same logon with 535 5.7.3.
func submissionNTLMv1(t *testing.T, rt *Runtime) {
	bin := needTool(t, "swaks")
	if err := exec.Command("perl", "-MAuthen::NTLM", "-e", "1").Run(); err != nil {
		t.Skip("Perl's Authen::NTLM not installed (apt-get install libauthen-ntlm-perl; .ci/run installs it)")
	}
	for _, server := range []string{"EX02", "EX01"} {
		requireV2 := server == "EX01"
		cfg := rt.Server(server).Config
		subject := "swaks ntlm via " + server
		out, _ := exec.Command(bin, "--server", cfg.Address, "--port", fmt.Sprint(587+labtest.PortOffset),
			"--tls", "--auth", "NTLM", "--auth-user", "alice", "--auth-password", "P@ssw0rd", "--auth-extra", "domain=CONTOSO",
			"--from", "alice@contoso.com", "--to", "bob@contoso.com", "--header", "Subject: "+subject,
			"--timeout", "20").CombinedOutput()
		trace := string(out)
		if !strings.Contains(trace, "<-  220 2.0.0 SMTP server ready") {
			t.Fatalf("swaks did not STARTTLS on %s:\n%s", server, trace)
		}
		if am := lastNTLMMessage(trace, "~> "); len(am) < 24 || int(am[20])|int(am[21])<<8 != 24 {
			t.Errorf("swaks's AUTHENTICATE_MESSAGE %x is not NTLMv1\n%s", am, trace)
		}
		if requireV2 {
			if !strings.Contains(trace, "<~* 535 5.7.3 Authentication unsuccessful") {
				t.Errorf("NTLMv1 to %s with require_v2: want 535 5.7.3\n%s", server, trace)
			}
			continue
		}
		if !strings.Contains(trace, "<~  235 2.7.0 Authentication successful") {
			t.Fatalf("swaks -a NTLM to %s: want 235\n%s", server, trace)
		}
		waitMail(t, rt, "EX02", "bob@contoso.com", subject)
	}
}
