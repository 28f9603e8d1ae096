package imapd

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/clienttest"
	"github.com/exsim/exsim/servers/internal/servertest"
)

// Python's imaplib against EX02's frontend relaying to EX01's backend.
func TestPythonImaplib(t *testing.T) {
	py := servertest.NeedTool(t, "python3")
	l := newLab(t, labOptions{})
	for _, s := range []string{"one", "two", "three"} {
		l.deliver(t, "alice@contoso.com", "message "+s)
	}
	host, port, _ := net.SplitHostPort(l.fe143)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-u", "testdata/imaplib_client.py", host, port, l.caFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type step struct {
		Step        string `json:"step"`
		Typ         string `json:"typ"`
		Data        any    `json:"data"`
		UIDValidity any    `json:"uidvalidity"`
	}
	got := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var s step
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("bad output %q: %v", sc.Text(), err)
		}
		b, _ := json.Marshal(s.Data)
		got[s.Step] = s.Typ + " " + string(b)
		if s.Step == "select" {
			u, _ := json.Marshal(s.UIDValidity)
			got["uidvalidity"] = string(u)
		}
		if s.Step == "idling" {
			l.deliver(t, "alice@contoso.com", "while idle")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("imaplib_client.py: %v\n%s", err, stderr.String())
	}

	inbox, _ := l.st.Mailbox("alice@contoso.com")
	f, _ := inbox.Folder("INBOX")
	st, _ := f.Status()
	checks := []struct{ step, want string }{
		{"greeting", "The Microsoft Exchange IMAP4 service is ready."},
		{"capability-cleartext", "LOGINDISABLED STARTTLS"},
		{"starttls", "OK"},
		{"login", `OK ["LOGIN completed."]`},
		{"select", `OK ["3"]`},
		{"uidvalidity", `["` + itoa(st.UIDValidity) + `"]`},
		{"fetch-header", "Subject: message one"},
		{"fetch-body", "Hello, this is message one."},
		{"fetch-flags", `\\Seen`},
		{"search-unseen", `OK ["2 3"]`},
		{"uid-search-subject", `OK ["2"]`},
		{"store", `\\Flagged`},
		{"copy", "[COPYUID "},
		{"move", "OK"},
		{"append Sent Items", "[APPENDUID "},
		{"append Drafts", "[APPENDUID "},
		{"append Deleted Items", "[APPENDUID "},
		{"expunge", `"1"]`}, // imaplib also returns MOVE's earlier "* 3 EXPUNGE"
		{"list", `(\\HasNoChildren \\Sent) \"/\" \"Sent Items\"`},
		{"status", "MESSAGES 1"},
		{"idling", "+ IDLE accepted, awaiting DONE command."},
		{"idle-exists", "* 2 EXISTS"},
		{"idle-done", "OK IDLE completed."},
		{"logout", `BYE ["Microsoft Exchange Server IMAP4 server signing off."]`},
	}
	for _, c := range checks {
		if !strings.Contains(got[c.step], c.want) {
			t.Errorf("imaplib %s = %s, want it to contain %s", c.step, got[c.step], c.want)
		}
	}
	for box, n := range map[string]uint32{"Sent Items": 1, "Drafts": 1, "Deleted Items": 2, "Archive": 2, "INBOX": 2} {
		f, err := inbox.Folder(box)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := f.Status(); st.Messages != n {
			t.Errorf("%s holds %d messages, want %d", box, st.Messages, n)
		}
	}
}

func itoa(v uint32) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// curl lists the mailboxes and fetches a message over implicit TLS (993)
// and over STARTTLS (143). curl prefers NTLM when offered, which exsim
// announces (as Exchange does) but does not implement: AUTH=PLAIN is asked
// for explicitly.
func TestCurl(t *testing.T) {
	curl := servertest.NeedTool(t, "curl")
	l := newLab(t, labOptions{})
	l.deliver(t, "alice@contoso.com", "for curl")
	run := func(url string, extra ...string) string {
		t.Helper()
		args := append([]string{"-sS", "--max-time", "20", "--cacert", l.caFile, "--user", "alice@contoso.com:" + password, "--login-options", "AUTH=PLAIN"}, extra...)
		out, err := exec.Command(curl, append(args, url)...).CombinedOutput()
		if err != nil {
			t.Errorf("curl %s: %v\n%s", url, err, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		name, url string
		extra     []string
		want      []string
	}{
		{"list 993", "imaps://" + l.fe993 + "/", nil, []string{`"Sent Items"`, `\Trash`, "INBOX"}},
		{"fetch 993", "imaps://" + l.fe993 + "/INBOX;UID=1", nil, []string{"Subject: for curl", "Hello, this is for curl."}},
		{"list 143 STARTTLS", "imap://" + l.fe143 + "/", []string{"--ssl-reqd"}, []string{`"Deleted Items"`}},
		{"examine 143", "imap://" + l.fe143 + "/INBOX", []string{"--ssl-reqd", "-X", "EXAMINE INBOX"}, []string{"1 EXISTS", "UIDVALIDITY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := run(tc.url, tc.extra...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("curl %s = %q, want it to contain %q", tc.url, out, w)
				}
			}
		})
	}
}

// openssl s_client negotiates STARTTLS on 143 and sees Exchange's post-TLS
// capabilities.
func TestOpenSSLStartTLS(t *testing.T) {
	openssl := servertest.NeedTool(t, "openssl")
	l := newLab(t, labOptions{})
	cmd := exec.Command(openssl, "s_client", "-starttls", "imap", "-connect", l.fe143, "-CAfile", l.caFile,
		"-verify_return_error", "-servername", "ex02.contoso.com", "-ign_eof")
	cmd.Stdin = strings.NewReader("a1 CAPABILITY\r\na2 LOGOUT\r\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s", err, out)
	}
	for _, w := range []string{
		"Verify return code: 0 (ok)",
		textCapsTLS,
		"a1 OK CAPABILITY completed.",
		textBye,
	} {
		if !strings.Contains(string(out), w) {
			t.Errorf("s_client output lacks %q:\n%s", w, out)
		}
	}
	// The greeting itself, as s_client -starttls reads it before STARTTLS.
	c := dialText(t, l.fe143, nil)
	if g := c.recv(); g != textGreeting {
		t.Errorf("greeting = %q, want %q", g, textGreeting)
	}
}

// fetchmail logs on over 993, selects INBOX, fetches every message with
// FETCH BODY.PEEK[] and marks it seen, reading Exchange's words throughout.
func TestFetchmail(t *testing.T) {
	l := newLab(t, labOptions{})
	l.deliver(t, "alice@contoso.com", "for fetchmail one")
	l.deliver(t, "alice@contoso.com", "for fetchmail two")
	host, port, _ := net.SplitHostPort(l.fe993)
	log, mbox := clienttest.Fetchmail(t, "poll "+host+" service "+port+" protocol IMAP auth password timeout 20\n"+
		"  user \"alice@contoso.com\" password \""+password+"\" ssl sslcertck sslcertfile \""+l.caFile+"\"\n"+
		"  sslcommonname ex02.contoso.com keep fetchall")
	for _, w := range []string{"Subject: for fetchmail one", "Subject: for fetchmail two"} {
		if !strings.Contains(mbox, w) {
			t.Errorf("fetchmail's mbox lacks %q:\n%s", w, mbox)
		}
	}
	for _, w := range []string{"OK [READ-WRITE] SELECT completed.", textBye} {
		if !strings.Contains(log, w) {
			t.Errorf("fetchmail's log lacks %q:\n%s", w, log)
		}
	}
}
