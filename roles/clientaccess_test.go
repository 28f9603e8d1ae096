package roles

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/topology"
)

// needTool is the path of an external client, or skips the test without it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// labCAFile writes the lab CA of rt for external clients and returns its path.
func labCAFile(t *testing.T, rt *Runtime) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, rt.ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return ca
}

// enableMailAccess starts IMAP4 and POP3 on every Mailbox server.
func enableMailAccess(top *topology.Topology) {
	for _, s := range top.ServersByRole(topology.RoleMailbox) {
		s.Mailbox.IMAP4, s.Mailbox.POP3 = true, true
	}
}

func TestIMAPThroughAnotherFrontEnd(t *testing.T) {
	rt := startLab(t, "contoso-noedge", enableMailAccess)
	sendFrom(t, rt, "INET01", "carol@fabrikam.com", "imap via ex02", "alice@contoso.com")
	waitMail(t, rt, "EX01", "alice@contoso.com", "imap via ex02")

	ex02 := rt.Server("EX02").Config
	c, err := imapclient.DialTLS(fmt.Sprintf("%s:%d", ex02.Address, 993+labtest.PortOffset), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: rt.ca.Pool(), ServerName: ex02.FQDN}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(`CONTOSO\alice`, "P@ssw0rd").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("SELECT INBOX = %+v, %v", sel, err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "imap via ex02" {
		t.Fatalf("FETCH = %+v, %v", msgs, err)
	}
}

func TestPOP3AndIMAPFromPython(t *testing.T) {
	py := needTool(t, "/usr/bin/python3")
	rt := startLab(t, "contoso-noedge", enableMailAccess)
	sendFrom(t, rt, "INET01", "carol@fabrikam.com", "python check", "bob@contoso.com")
	waitMail(t, rt, "EX02", "bob@contoso.com", "python check")
	ex01 := rt.Server("EX01").Config
	ca := labCAFile(t, rt)
	// bob (EX02) reads through EX01's frontends: POP3 with STLS, IMAP with STARTTLS.
	script := fmt.Sprintf(`
import poplib, imaplib, ssl
ctx = ssl.create_default_context(cafile=%q)
ctx.check_hostname = False
p = poplib.POP3(%q, %d)
assert p.getwelcome() == b'+OK The Microsoft Exchange POP3 service is ready.', p.getwelcome()
p.stls(context=ctx)
p.user('bob@contoso.com'); p.pass_('P@ssw0rd')
n, _ = p.stat()
assert n == 1, n
assert b'python check' in b'\n'.join(p.retr(1)[1])
p.quit()
m = imaplib.IMAP4(%q, %d)
assert 'LOGINDISABLED' in m.capabilities, m.capabilities
m.starttls(ssl_context=ctx)
m.login('CONTOSO\\bob', 'P@ssw0rd')
typ, data = m.select('INBOX')
assert data == [b'1'], data
typ, data = m.search(None, 'SUBJECT', '"python check"')
assert data == [b'1'], data
m.logout()
print('ok')
`, ca, ex01.Address, 110+labtest.PortOffset, ex01.Address, 143+labtest.PortOffset)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("python: %v\n%s", err, out)
	}
}

// ntlmWithCurl: curl logs on with NTLM to HTTPS and to SMTP AUTH (587).
// It runs in TestNTLMEverywhere's lab.
func ntlmWithCurl(t *testing.T, rt *Runtime) {
	curl := needTool(t, "curl")
	ca := labCAFile(t, rt)
	ex01, ex02 := rt.Server("EX01").Config, rt.Server("EX02").Config

	// HTTP: alice (EX01) through EX02's front end with NTLM; Autodiscover
	// answers from the back end as alice.
	req := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alice@contoso.com</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	out, err := exec.Command(curl, "-s", "--ntlm", "-u", `CONTOSO\alice:P@ssw0rd`, "--cacert", ca,
		"--resolve", fmt.Sprintf("ex02.contoso.com:%d:%s", 443+labtest.PortOffset, ex02.Address),
		"-H", "Content-Type: text/xml", "--data-binary", req, "-D", "-",
		fmt.Sprintf("https://ex02.contoso.com:%d/Autodiscover/Autodiscover.xml", 443+labtest.PortOffset)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "<DisplayName>Alice Wood</DisplayName>") || !strings.Contains(string(out), "X-BEServer: EX01") {
		t.Fatalf("curl --ntlm Autodiscover: %v\n%s", err, out)
	}

	// SMTP: AUTH NTLM on Client Frontend.
	msg := filepath.Join(t.TempDir(), "msg.txt")
	os.WriteFile(msg, []byte("From: alice@contoso.com\r\nTo: bob@contoso.com\r\nSubject: ntlm smtp\r\n\r\nhi\r\n"), 0o644)
	out, err = exec.Command(curl, "-s", "-v", "--ssl-reqd", "--cacert", ca, "--login-options", "AUTH=NTLM", "-u", `CONTOSO\alice:P@ssw0rd`,
		"--mail-from", "alice@contoso.com", "--mail-rcpt", "bob@contoso.com", "--upload-file", msg,
		"--resolve", fmt.Sprintf("ex01.contoso.com:%d:%s", 587+labtest.PortOffset, ex01.Address),
		fmt.Sprintf("smtp://ex01.contoso.com:%d", 587+labtest.PortOffset)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "235 2.7.0 Authentication successful") {
		t.Fatalf("curl smtp AUTH NTLM: %v\n%s", err, out)
	}
	waitMail(t, rt, "EX02", "bob@contoso.com", "ntlm smtp")
}

// exchangerScript is impacket's exchanger.py as Debian's python3-impacket
// installs it.
const exchangerScript = "/usr/share/doc/python3-impacket/examples/exchanger.py"

// TestExchangerNSPIOverRPCHTTP: impacket's exchanger.py binds to NSPI
// through Outlook Anywhere (RPC over HTTP v2 on /rpc/rpcproxy.dll, NTLM on
// HTTP and on the DCE/RPC bind at packet privacy) and reads the address
// book: the hierarchy table, then the Global Address List's rows.
func TestExchangerNSPIOverRPCHTTP(t *testing.T) {
	py := needTool(t, "/usr/bin/python3")
	src, err := os.ReadFile(exchangerScript)
	if err != nil {
		t.Skipf("impacket's exchanger.py is missing (apt-get install python3-impacket): %v", err)
	}
	// impacket reaches the RPC proxy on port 443 only; the test lab
	// listens on 443+PortOffset, so the copy of the script run here sends
	// its HTTPS connections there.
	const future = "from __future__ import print_function\n"
	if !strings.Contains(string(src), future) {
		t.Fatalf("%s changed: no %q line to put the port redirection after", exchangerScript, future)
	}
	redirect := fmt.Sprintf(`import http.client
_exsim_init = http.client.HTTPSConnection.__init__
def _exsim_lab_port(self, host, port=None, *args, **kwargs):
    _exsim_init(self, host, %d if port is None and ':' not in host else port, *args, **kwargs)
http.client.HTTPSConnection.__init__ = _exsim_lab_port
`, 443+labtest.PortOffset)
	script := filepath.Join(t.TempDir(), "exchanger.py")
	if err := os.WriteFile(script, []byte(strings.Replace(string(src), future, future+redirect, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	rt := startLab(t, "contoso-noedge", nil)
	ex02 := rt.Server("EX02").Config
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(py, append([]string{script, `contoso/alice:P@ssw0rd@` + ex02.Address}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "[-]") {
			t.Fatalf("exchanger.py %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("exchanger.py %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}

	out := run("-rpc-hostname", "EX02", "nspi", "list-tables", "-count")
	for _, want := range []string{"Default Global Address List", "TotalRecs: 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("list-tables: no %q in\n%s", want, out)
		}
	}

	out = run("-rpc-hostname", "EX02", "nspi", "dump-tables", "-name", "GAL")
	for _, want := range []string{"alice@contoso.com", "bob@contoso.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("dump-tables: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "carol@fabrikam.com") {
		t.Errorf("dump-tables lists an external user:\n%s", out)
	}

	// EXTENDED asks for names, entry ids and proxy addresses through an
	// explicit table of minimal entry ids.
	out = run("-rpc-hostname", "EX02", "nspi", "dump-tables", "-name", "GAL", "-lookup-type", "EXTENDED")
	for _, want := range []string{"Alice Wood", "SMTP:bob@contoso.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("dump-tables EXTENDED: no %q in\n%s", want, out)
		}
	}
}
