package roles

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
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
	CalendarView    []string `json:"calendar_view"`
	BobCalendar     []string `json:"bob_calendar"` // subject/status/response
	MeetingStart    string   `json:"meeting_start"`
	FreeBusyBob     freeBusy `json:"freebusy_bob"`
	FreeBusyAlice   freeBusy `json:"freebusy_alice"`
	OOFState        string   `json:"oof_state"`
	OOFStateAfter   string   `json:"oof_state_after"`
	OOFReplies      []struct {
		Subject string `json:"subject"`
		Body    string `json:"body"`
	} `json:"oof_replies"`
	// Notifications and impersonation (the pinned run).
	PullEvents          []string `json:"pull_events"`
	PullNewMail         []string `json:"pull_new_mail"`
	StreamEvents        []string `json:"stream_events"`
	Impersonated        []string `json:"impersonated"`
	ImpersonationDenied string   `json:"impersonation_denied"`
}

// freeBusy is one FreeBusyView as exchangelib reads it.
type freeBusy struct {
	View   string `json:"view"`
	Merged string `json:"merged"`
	Events []struct {
		Start    string  `json:"start"`
		BusyType string  `json:"busy_type"`
		Subject  *string `json:"subject"`
	} `json:"events"`
}

// at is the status of the event that starts at start, "" if none.
func (f freeBusy) at(start string) (status string, subject *string) {
	for _, e := range f.Events {
		if e.Start == start {
			return e.BusyType, e.Subject
		}
	}
	return "", nil
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
			meetingSubject := "firewall review " + pin

			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/exchangelib_client.py")
			cmd.Env = append(os.Environ(),
				"EWS_URL="+fmt.Sprintf("https://%s.contoso.com:%d/EWS/Exchange.asmx", tc.server, 443+labtest.PortOffset),
				"EWS_HOSTS="+strings.Join(hosts, ","), `EWS_USER=CONTOSO\alice`, "EWS_PASSWORD=P@ssw0rd",
				"EWS_ADDRESS=alice@contoso.com", "EWS_PIN="+pin, "EWS_READ_SUBJECT="+readSubject,
				"EWS_SEND_SUBJECT="+sendSubject, "EWS_SEND_TO=bob@contoso.com", "REQUESTS_CA_BUNDLE="+ca,
				`EWS_BOB_USER=CONTOSO\bob`, "EWS_BOB_ADDRESS=bob@contoso.com", "EWS_MEETING_SUBJECT="+meetingSubject,
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
			checkCalendar(t, rt, got, meetingSubject)
			checkAutomaticReplies(t, rt, got, pin)
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

// checkCalendar checks the meeting alice created: in her CalendarView, as
// a request in bob's mailbox on EX02 and on his calendar, Busy in her
// free/busy with its subject, and in bob's free/busy (read across
// servers) without it.
// Bob has not answered the request: Exchange's calendar processing puts
// a new request on the attendee's calendar as Tentative
// (Set-CalendarProcessing AddNewRequestsTentatively, on by default), and
// so does exsim.
func checkCalendar(t *testing.T, rt *Runtime, got exchangelibResult, subject string) {
	t.Helper()
	if !slices.Contains(got.CalendarView, subject) {
		t.Errorf("calendar view = %q, want %q in it", got.CalendarView, subject)
	}
	req := waitMail(t, rt, "EX02", "bob@contoso.com", subject)
	if ev := httpd.MessageEvents([]byte(req)); !strings.Contains(req, "text/calendar; charset=utf-8; method=REQUEST") || len(ev) != 1 ||
		ev[0].Method != "REQUEST" || ev[0].Organizer != "alice@contoso.com" || len(ev[0].Attendees) != 1 || ev[0].Attendees[0].Address != "bob@contoso.com" {
		t.Errorf("bob's meeting request:\n%s", req)
	}
	if !slices.Contains(got.BobCalendar, subject+"/Tentative/NoResponseReceived") {
		t.Errorf("bob's calendar view = %q, want %q Tentative, not answered", got.BobCalendar, subject)
	}
	if status, subj := got.FreeBusyAlice.at(got.MeetingStart); status != "Busy" || subj == nil || *subj != subject || got.FreeBusyAlice.View != "DetailedMerged" {
		t.Errorf("alice's free/busy at %s = %q %v (%+v), want Busy with the subject", got.MeetingStart, status, subj, got.FreeBusyAlice)
	}
	if status, subj := got.FreeBusyBob.at(got.MeetingStart); status != "Tentative" || subj != nil || got.FreeBusyBob.View != "FreeBusyMerged" ||
		!strings.Contains(got.FreeBusyBob.Merged, "1") {
		t.Errorf("bob's free/busy at %s = %q %v (%+v), want Tentative without details", got.MeetingStart, status, subj, got.FreeBusyBob)
	}
}

// checkAutomaticReplies checks bob's OOF: on, one automatic reply to
// alice for her two messages (the transport of EX02 submitted exactly
// one), then off.
func checkAutomaticReplies(t *testing.T, rt *Runtime, got exchangelibResult, pin string) {
	t.Helper()
	if got.OOFState != "Enabled" || got.OOFStateAfter != "Disabled" {
		t.Errorf("bob's OOF state = %q then %q, want Enabled then Disabled", got.OOFState, got.OOFStateAfter)
	}
	if len(got.OOFReplies) != 1 || !strings.HasPrefix(got.OOFReplies[0].Subject, "Automatic reply: oof check "+pin+" #") ||
		!strings.Contains(got.OOFReplies[0].Body, "Bob is out of the office.") {
		t.Errorf("automatic replies alice got = %+v", got.OOFReplies)
	}
	// The reply is submitted while the message is delivered: once bob
	// has both, every reply there will be is in EX02's tracking log.
	for _, n := range []string{"1", "2"} {
		waitMail(t, rt, "EX02", "bob@contoso.com", "oof check "+pin+" #"+n)
	}
	evs, _, err := rt.Server("EX02").transport.Tracking().Search(transport.TrackingQuery{EventID: "SUBMIT", Subject: "Automatic reply: oof check " + pin + " #"})
	if err != nil || len(evs) != 1 {
		t.Errorf("EX02 submitted %d automatic replies to alice's two messages (%v), want one", len(evs), err)
	}
}

// TestAutomaticReplyExternal: bob's OOF answers a sender on the Internet
// with the external text, through the organization's Send connector,
// once, and never a message that asks for no automatic reply.
func TestAutomaticReplyExternal(t *testing.T) {
	rt := startLab(t, "contoso-noedge", nil)
	be := webBackend{r: rt.Server("EX02").role.(*mailboxRole)}
	if err := be.SetOOF(t.Context(), "bob@contoso.com", httpd.OOFSettings{State: "Enabled", ExternalAudience: "All",
		InternalReply: "internal text", ExternalReply: "Bob is away until Monday."}); err != nil {
		t.Fatal(err)
	}
	if s, err := be.OOF(t.Context(), "bob@contoso.com"); err != nil || s.State != "Enabled" {
		t.Fatalf("OOF = %+v, %v", s, err)
	}
	for _, subject := range []string{"question 1", "question 2"} {
		if res := sendFrom(t, rt, "INET01", "carol@fabrikam.com", subject, "bob@contoso.com"); res.Err != nil {
			t.Fatal(res.Err)
		}
		waitMail(t, rt, "EX02", "bob@contoso.com", subject)
	}
	reply := waitMail(t, rt, "INET01", "carol@fabrikam.com", "Automatic reply: question 1")
	for _, want := range []string{"Bob is away until Monday.", "Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All", "In-Reply-To: <"} {
		if !strings.Contains(reply, want) {
			t.Errorf("automatic reply lacks %q:\n%s", want, reply)
		}
	}
	// Replies are submitted during delivery: with both messages in bob's
	// mailbox, EX02's tracking log holds every reply there will be.
	evs, _, err := rt.Server("EX02").transport.Tracking().Search(transport.TrackingQuery{EventID: "SUBMIT", Subject: "Automatic reply: question"})
	if err != nil || len(evs) != 1 {
		t.Errorf("EX02 submitted %d automatic replies to carol's two messages (%v), want one", len(evs), err)
	}
}

// TestSuppressesReplies checks which messages get no automatic reply
// (RFC 3834 section 2, X-Auto-Response-Suppress) and that a null sender
// has no address to answer.
func TestSuppressesReplies(t *testing.T) {
	for _, tc := range []struct {
		headers string
		want    bool
	}{
		{"From: carol@fabrikam.com", false},
		{"From: carol@fabrikam.com\r\nAuto-Submitted: no", false},
		{"From: carol@fabrikam.com\r\nAuto-Submitted: auto-replied", true},
		{"From: carol@fabrikam.com\r\nPrecedence: bulk", true},
		{"From: carol@fabrikam.com\r\nX-Auto-Response-Suppress: DR, OOF", true},
		{"From: carol@fabrikam.com\r\nX-Auto-Response-Suppress: RN", false},
		{"From: carol@fabrikam.com\r\nList-Id: <lab.fabrikam.com>", true},
		{"From: MAILER-DAEMON@fabrikam.com", true},
		{"Return-Path: <>\r\nFrom: carol@fabrikam.com", false},
	} {
		m, err := mail.ReadMessage(strings.NewReader(tc.headers + "\r\n\r\nbody"))
		if err != nil {
			t.Fatal(err)
		}
		if got := suppressesReplies(m.Header); got != tc.want {
			t.Errorf("suppressesReplies(%q) = %v, want %v", tc.headers, got, tc.want)
		}
	}
	m, _ := mail.ReadMessage(strings.NewReader("Return-Path: <>\r\nFrom: carol@fabrikam.com\r\n\r\n"))
	if got := replyAddress(m.Header); got != "" {
		t.Errorf("replyAddress of a null sender = %q, want none", got)
	}
}

// TestAutodiscoverWithExchangelib: python3-exchangelib's own Autodiscover
// (POX, with its https://<domain>, https://autodiscover.<domain>
// sequence) finds alice's EWS URL from her address and password alone,
// then bob's with alice's credentials, as a script opening a colleague's
// mailbox does: bob is homed on EX02, so his settings name EX02's URLs.
func TestAutodiscoverWithExchangelib(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import exchangelib").Run() != nil {
		t.Skip("python3-exchangelib is not installed (apt-get install python3-exchangelib)")
	}
	rt := startLab(t, "contoso-noedge", nil)
	ca := labCAFile(t, rt)
	top := rt.o.Topology
	hosts := []string{"autodiscover.contoso.com=" + top.ClientAccessServer().Address}
	for _, s := range top.Servers {
		hosts = append(hosts, s.FQDN+"="+s.Address)
	}
	cmd := exec.CommandContext(t.Context(), "/usr/bin/python3", "testdata/exchangelib_autodiscover.py")
	cmd.Env = append(os.Environ(),
		"AD_HOSTS="+strings.Join(hosts, ","), "AD_PORT="+fmt.Sprint(443+labtest.PortOffset),
		`AD_USER=CONTOSO\alice`, "AD_PASSWORD=P@ssw0rd", "AD_ADDRESS=alice@contoso.com", "AD_OTHER=bob@contoso.com",
		"AD_DNS="+top.Endpoint(top.Server("DNS01"), 53).String(), "REQUESTS_CA_BUNDLE="+ca,
		// exchangelib caches Autodiscover answers in the temporary folder.
		"TMPDIR="+t.TempDir(),
	)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("exchangelib autodiscover: %v\n%s\n%s", err, out, stderr)
	}
	var got struct {
		EWSURL       string `json:"ews_url"`
		Inbox        string `json:"inbox"`
		OtherAddress string `json:"other_address"`
		OtherEWSURL  string `json:"other_ews_url"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("exchangelib output: %v\n%s", err, out)
	}
	ews := func(host string) string {
		return fmt.Sprintf("https://%s:%d/EWS/Exchange.asmx", host, 443+labtest.PortOffset)
	}
	if got.EWSURL != ews("ex01.contoso.com") || got.Inbox != "Inbox" {
		t.Errorf("alice: EWS %q inbox %q, want %q Inbox", got.EWSURL, got.Inbox, ews("ex01.contoso.com"))
	}
	if got.OtherAddress != "bob@contoso.com" || got.OtherEWSURL != ews("ex02.contoso.com") {
		t.Errorf("bob through alice's credentials: %q at %q, want bob@contoso.com at %q", got.OtherAddress, got.OtherEWSURL, ews("ex02.contoso.com"))
	}
}
