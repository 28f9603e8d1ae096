package roles

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport/smtpclient"
)

// exchangelibResult is what testdata/exchangelib_client.py prints.
type exchangelibResult struct {
	Version       string   `json:"version"`
	APIVersion    string   `json:"api_version"`
	InboxName     string   `json:"inbox_name"`
	InboxSubjects []string `json:"inbox_subjects"`
	Read          struct {
		Subject     string `json:"subject"`
		Body        string `json:"body"`
		Sender      string `json:"sender"`
		Attachments []struct {
			Name    string `json:"name"`
			Content string `json:"content"`
		} `json:"attachments"`
	} `json:"read"`
	SentItems       []string `json:"sent_items"`
	SyncFirst       []string `json:"sync_first"`
	SyncFirstCount  int      `json:"sync_first_count"`
	SyncSecondCount int      `json:"sync_second_count"`
	SyncThird       []string `json:"sync_third"`
	ReadAfterUpdate bool     `json:"read_after_update"`
	Categories      []string `json:"categories"`
	Folders         []string `json:"folders"`
	Moved           []string `json:"moved"`
	Resolved        []string `json:"resolved"`
	FoldersAfter    []string `json:"folders_after_delete"`
	// Notifications and impersonation (the pinned run).
	PullEvents          []string `json:"pull_events"`
	PullNewMail         []string `json:"pull_new_mail"`
	StreamEvents        []string `json:"stream_events"`
	Impersonated        []string `json:"impersonated"`
	ImpersonationDenied string   `json:"impersonation_denied"`
}

// TestEWSWithExchangelib drives EWS with python3-exchangelib (the Debian
// package) over NTLM: on EX01 with the version pinned to Exchange 2016 and
// with exchangelib's own version detection, and through EX02's front end.
func TestEWSWithExchangelib(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import exchangelib").Run() != nil {
		t.Skip("python3-exchangelib is not installed (apt-get install python3-exchangelib)")
	}
	// A service account with the ApplicationImpersonation role, on EX01.
	rt := startLab(t, "contoso-noedge", func(top *topology.Topology) {
		top.Mailboxes = append(top.Mailboxes, topology.Mailbox{Address: "ews-svc@contoso.com", DisplayName: "EWS Service",
			Password: "P@ssw0rd", Server: "EX01", Roles: []string{topology.RoleApplicationImpersonation}})
	})
	ca := labCAFile(t, rt)
	var hosts []string
	for _, s := range rt.o.Topology.Servers {
		hosts = append(hosts, s.FQDN+"="+s.Address)
	}
	// pin "1" pins Exchange2016; the others let exchangelib detect the
	// version. EX02 proxies alice's requests to her server, EX01. pin also
	// keeps each run's subjects and folder apart.
	for _, tc := range []struct{ name, pin, server string }{
		{"pinned", "1", "ex01"}, {"detected", "0", "ex01"}, {"through EX02", "2", "ex02"},
	} {
		pin := tc.pin
		t.Run(tc.name, func(t *testing.T) {
			readSubject := "ews attachment test " + pin
			sendWithAttachment(t, rt, "INET01", "carol@fabrikam.com", "alice@contoso.com", readSubject, "report.txt", "the attached numbers")
			waitMail(t, rt, "EX01", "alice@contoso.com", readSubject)
			sendSubject := "sent with exchangelib " + pin

			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/exchangelib_client.py")
			cmd.Env = append(os.Environ(),
				"EWS_URL="+fmt.Sprintf("https://%s.contoso.com:%d/EWS/Exchange.asmx", tc.server, 443+labtest.PortOffset),
				"EWS_HOSTS="+strings.Join(hosts, ","), `EWS_USER=CONTOSO\alice`, "EWS_PASSWORD=P@ssw0rd",
				"EWS_ADDRESS=alice@contoso.com", "EWS_PIN="+pin, "EWS_READ_SUBJECT="+readSubject,
				"EWS_SEND_SUBJECT="+sendSubject, "EWS_SEND_TO=bob@contoso.com", "REQUESTS_CA_BUNDLE="+ca,
			)
			// The pinned run also subscribes to notifications and tries
			// impersonation.
			dir := t.TempDir()
			ready, goAhead := filepath.Join(dir, "ready"), filepath.Join(dir, "go")
			notifySubject := "ews notification " + pin
			bobSubject := "for bob's eyes " + pin
			if pin == "1" {
				cmd.Env = append(cmd.Env, "EWS_NOTIFY_READY="+ready, "EWS_NOTIFY_GO="+goAhead, "EWS_IMPERSONATOR=ews-svc@contoso.com")
				if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", bobSubject, "bob@contoso.com"); res.Err != nil {
					t.Fatalf("send %q: %v", bobSubject, res.Err)
				}
				waitMail(t, rt, "EX02", "bob@contoso.com", bobSubject)
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if pin == "1" {
				// Delivered by SMTP from the internet once the
				// subscriptions exist: the events come from transport.
				for _, err := os.Stat(ready); err != nil && ctx.Err() == nil; _, err = os.Stat(ready) {
					time.Sleep(50 * time.Millisecond)
				}
				if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", notifySubject, "alice@contoso.com"); res.Err != nil {
					t.Fatalf("send %q: %v", notifySubject, res.Err)
				}
				waitMail(t, rt, "EX01", "alice@contoso.com", notifySubject)
				if err := os.WriteFile(goAhead, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exchangelib: %v\n%s", err, stderr.String())
			}
			t.Logf("exchangelib saw: %s", stdout.String())
			var got exchangelibResult
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("exchangelib output: %v\n%s\n%s", err, stdout.String(), stderr.String())
			}
			// Unpinned, exchangelib reads the build from ServerVersionInfo.
			if want := rt.o.Topology.BuildNumber(); pin != "1" && got.Version != want {
				t.Errorf("detected version = %q, want the persona's build %q", got.Version, want)
			}
			if got.InboxName != "Inbox" || !slices.Contains(got.InboxSubjects, readSubject) {
				t.Errorf("inbox %q subjects = %q, want %q among them", got.InboxName, got.InboxSubjects, readSubject)
			}
			if got.Read.Subject != readSubject || !strings.Contains(got.Read.Body, "see the attachment") || got.Read.Sender != "carol@fabrikam.com" {
				t.Errorf("read = %+v", got.Read)
			}
			if len(got.Read.Attachments) != 1 || got.Read.Attachments[0].Name != "report.txt" || got.Read.Attachments[0].Content != "the attached numbers" {
				t.Errorf("attachments = %+v", got.Read.Attachments)
			}
			if !slices.Contains(got.SentItems, sendSubject) {
				t.Errorf("Sent Items = %q, want %q", got.SentItems, sendSubject)
			}
			if got.SyncFirstCount == 0 || got.SyncFirstCount != len(got.SyncFirst) || got.SyncSecondCount != 0 {
				t.Errorf("sync_items: first %d (%v), second %d; want the inbox, then nothing", got.SyncFirstCount, got.SyncFirst, got.SyncSecondCount)
			}
			if !slices.Equal(got.Categories, []string{"Red category"}) {
				t.Errorf("categories after update = %q", got.Categories)
			}
			project := "Projects " + pin
			if !got.ReadAfterUpdate || !slices.Contains(got.Folders, project) || slices.Contains(got.FoldersAfter, project) ||
				!slices.Equal(got.Moved, []string{readSubject}) || !slices.Equal(got.Resolved, []string{"bob@contoso.com"}) {
				t.Errorf("changes: read %v, folders %q then %q, moved %q, resolved %q", got.ReadAfterUpdate, got.Folders, got.FoldersAfter, got.Moved, got.Resolved)
			}
			// After the read flag and the move out of the Inbox, sync says
			// the item is gone (a read flag change on an item that left is
			// folded into its deletion).
			if !slices.Equal(got.SyncThird, []string{"delete"}) {
				t.Errorf("sync_items after the changes = %q, want [delete]", got.SyncThird)
			}
			if pin == "1" {
				if !slices.Contains(got.PullEvents, "NewMailEvent") || !slices.Equal(got.PullNewMail, []string{notifySubject}) ||
					!slices.Contains(got.StreamEvents, "NewMailEvent") {
					t.Errorf("notifications: pull %q (new mail %q), streaming %q; want NewMailEvent for %q in both",
						got.PullEvents, got.PullNewMail, got.StreamEvents, notifySubject)
				}
				if !slices.Contains(got.Impersonated, bobSubject) || got.ImpersonationDenied != "ErrorImpersonateUserDenied" {
					t.Errorf("impersonation: ews-svc read bob's inbox %q (want %q in it); alice got %q, want ErrorImpersonateUserDenied",
						got.Impersonated, bobSubject, got.ImpersonationDenied)
				}
			}
			// The message went through transport to bob on EX02, with its
			// attachment.
			got2 := waitMail(t, rt, "EX02", "bob@contoso.com", sendSubject)
			if !strings.Contains(got2, "notes.txt") || !strings.Contains(got2, "c2VlIHlvdSBhdCBub29u") {
				t.Errorf("bob's copy lacks the attachment:\n%s", got2)
			}
		})
	}
}

// sendWithAttachment delivers a multipart message with one text
// attachment from a server's position, as sendFrom does.
func sendWithAttachment(t *testing.T, rt *Runtime, server, from, to, subject, name, content string) {
	t.Helper()
	s := rt.Server(server)
	snd := &smtpclient.Sender{Helo: s.Config.FQDN, Dial: s.dialer.DialContext, Resolver: s.resolver(), Timeout: 5 * time.Second}
	m := &smtpclient.Message{From: from, To: []string{to}, Subject: subject}
	body := fmt.Sprintf("From: Carol <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@%s>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Alice, see the attachment.\r\n"+
		"--b1\r\nContent-Type: text/plain; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n%s\r\n--b1--\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), s.Config.FQDN, name, name, content)
	res := snd.Send(context.Background(), smtpclient.Target{Port: 25 + labtest.PortOffset, TLS: smtpclient.TLSOpportunistic,
		TLSConfig: func(name string) *tls.Config { return rt.ca.ClientTLS(name, nil) }}, m, []byte(body))
	if res.Err != nil {
		t.Fatalf("send %q: %v", subject, res.Err)
	}
}
