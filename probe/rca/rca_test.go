package rca_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/probe/rca"
	"github.com/exsim/exsim/roles"
)

var blocks = labtest.NewBlocks(205, 209)

func startLab(t *testing.T) *roles.Runtime {
	t.Helper()
	top := labtest.Topology(t, "contoso", blocks.Next(t))
	rt, err := roles.Start(context.Background(), roles.Options{Topology: top, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	labtest.CloseAtEnd(t, rt)
	// The Edge accepts mail once EdgeSync has run, as on a new Edge.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, _ := rt.EdgeSync("EDGE01"); !st.LastSuccess.IsZero() && st.RecipientEntries > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("EdgeSync did not run within 30 s")
		}
	}
	return rt
}

func runRCA(t *testing.T, rt *roles.Runtime, req control.RCARequest) []rca.Result {
	t.Helper()
	resp, err := rt.RCA(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var rs []rca.Result
	if err := json.Unmarshal(resp.Results, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

func dump(t *testing.T, rs []rca.Result) string {
	var b strings.Builder
	rca.Write(&b, "table", "INET01", rs)
	return b.String()
}

// stepOf is the step of r whose name has the prefix, or a failed test.
func stepOf(t *testing.T, r rca.Result, prefix string) rca.Step {
	t.Helper()
	for _, s := range r.Steps {
		if strings.HasPrefix(s.Name, prefix) {
			return s
		}
	}
	t.Fatalf("%s: no step %q in %+v", r.ID, prefix, r.Steps)
	return rca.Step{}
}

func TestEveryTestPassesFromTheInternet(t *testing.T) {
	rt := startLab(t)
	rs := runRCA(t, rt, control.RCARequest{FromServer: "INET01"})
	if len(rs) != len(rca.Tests) {
		t.Fatalf("%d results, want %d", len(rs), len(rca.Tests))
	}
	for _, r := range rs {
		if r.Status != rca.Pass {
			t.Errorf("%s: %s, want pass\n%s", r.ID, r.Status, dump(t, rs))
		}
		for _, s := range r.Steps {
			if s.Status != rca.Pass {
				t.Errorf("%s: step %q %s: %s", r.ID, s.Name, s.Status, s.Detail)
			}
		}
	}
	t.Log("\n" + dump(t, rs))
	byID := map[string]rca.Result{}
	for _, r := range rs {
		byID[r.ID] = r
	}
	// ActiveSync: the policy, the folders, the Inbox, and a Ping woken
	// by the test's own SendMail (Status 2, not the 60 s heartbeat).
	eas := byID["activesync"]
	for prefix, want := range map[string]string{
		"Provision":                  "final policy key ",
		"FolderSync":                 "Inbox is ServerId ",
		"Sync the Inbox":             " items in the Inbox",
		"SendMail a test message to": "accepted: ",
		"Ping the Inbox":             "Status 2: the Inbox changed",
	} {
		if s := stepOf(t, eas, prefix); s.Status != rca.Pass || !strings.Contains(s.Detail, want) {
			t.Errorf("activesync step %q: %s %q, want pass with %q", s.Name, s.Status, s.Detail, want)
		}
	}
	// Outlook: the Offline Address Book; MAPI over HTTP (a second
	// Autodiscover as a MAPI/HTTP client, the address book, the mailbox,
	// the Inbox); RPC over HTTP (the channels, NSPI, EMSMDB on 6001).
	out := byID["outlook"]
	for prefix, want := range map[string][]string{
		"Download oab.xml": {"alice@contoso.com among them as \"Alice"},
		"Send the Outlook Autodiscover POX request for alice@contoso.com with X-MapiHttpCapability: 1": {"protocols ", "mapiHttp"},
		"MAPI over HTTP: NSPI Bind to the address book and resolve alice@contoso.com":                  {"Bind; ResolveNames: alice@contoso.com is \"Alice", "/cn=Recipients/cn="},
		"MAPI over HTTP: Connect to the mailbox (emsmdb) and log on":                                   {"Connect as \"Alice", "; RopLogon; ", "folders under the Top of Information Store (", "Inbox", "Sent Items"},
		"MAPI over HTTP: read the Inbox":                                                               {" in the Inbox"},
		"MAPI over HTTP: Disconnect and Unbind":                                                        {"Disconnect; Unbind"},
		"RPC over HTTP: establish":                                                                     {"CONN/C2 received"},
		"RPC over HTTP: bind the address":                                                              {"Global Address List holds "},
		"RPC over HTTP: bind the mailbox (EMSMDB)": {":6001; NTLM bind to EMSMDB 0.81 as alice@contoso.com; EcDoConnectEx as \"Alice",
			"; RopLogon; ", " folders under the Top of Information Store; EcDoDisconnect"},
	} {
		s := stepOf(t, out, prefix)
		for _, w := range want {
			if s.Status != rca.Pass || !strings.Contains(s.Detail, w) {
				t.Errorf("outlook step %q: %s %q, want pass with %q", s.Name, s.Status, s.Detail, w)
			}
		}
	}
	// The Inbound SMTP test's message may still be on its way: any count.
	if s := stepOf(t, out, "MAPI over HTTP: read the Inbox"); !regexp.MustCompile(`^(1 message|[0-9]+ messages) in the Inbox$`).MatchString(s.Detail) {
		t.Errorf("Inbox step: %q, want the count of the Inbox's messages", s.Detail)
	}
	// The Inbound SMTP test message reaches alice through the Edge.
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, err := rt.MailboxMessages("EX01", "alice@contoso.com", "Inbox")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range msgs {
			found = found || m.Subject == "exsim rca Inbound SMTP test message"
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Inbound SMTP test message did not reach alice: %+v", msgs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBlocked443FailsAtTheConnectStep(t *testing.T) {
	rt := startLab(t)
	if _, err := rt.Faults().Add(labnet.Fault{From: "INET01", Port: 443 + labtest.PortOffset, Action: labnet.ActionReset, Note: "firewall blocks 443"}); err != nil {
		t.Fatal(err)
	}
	rs := runRCA(t, rt, control.RCARequest{FromServer: "INET01", Tests: []string{"ews", "outlook", "activesync", "imap"}})
	for _, r := range rs[:3] {
		if r.Status != rca.Fail {
			t.Fatalf("%s: %s, want fail\n%s", r.ID, r.Status, dump(t, rs))
		}
		last := r.Steps[len(r.Steps)-1]
		if !strings.HasPrefix(last.Name, "Connect to ") || !strings.HasSuffix(last.Name, " on port 443") || !strings.Contains(last.Detail, "connection refused") {
			t.Errorf("%s failed at %q (%s), want the connect step on port 443 refused", r.ID, last.Name, last.Detail)
		}
	}
	if imap := rs[3]; imap.Status != rca.Pass {
		t.Errorf("imap: %s, want pass (993 is not blocked)\n%s", imap.Status, dump(t, rs))
	}
}

func TestUnknownTestIsAnError(t *testing.T) {
	rt := startLab(t)
	_, err := rt.RCA(context.Background(), control.RCARequest{FromServer: "INET01", Tests: []string{"smtp"}})
	if err == nil || !strings.Contains(err.Error(), "inbound-smtp") {
		t.Fatalf("err = %v, want the list of tests", err)
	}
}
