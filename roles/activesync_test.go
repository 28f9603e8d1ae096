package roles

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/easclient"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/internal/wbxml"
)

// recordHandler passes records to a test logger and signals the ones
// whose message is watched.
type recordHandler struct {
	slog.Handler
	watch string
	seen  chan struct{}
}

func (h recordHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.watch {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return recordHandler{Handler: h.Handler.WithAttrs(a), watch: h.watch, seen: h.seen}
}
func (h recordHandler) WithGroup(n string) slog.Handler {
	return recordHandler{Handler: h.Handler.WithGroup(n), watch: h.watch, seen: h.seen}
}

// easLab starts the contoso lab (with the Edge) and reports each Ping
// that starts waiting on pingWaiting.
func easLab(t *testing.T) (rt *Runtime, pingWaiting chan struct{}) {
	t.Helper()
	pingWaiting = make(chan struct{}, 1)
	top := labtest.Topology(t, "contoso", blocks.Next(t))
	fastEdgeSync(top)
	log := slog.New(recordHandler{Handler: testLogger(t).Handler(), watch: "activesync: ping waiting", seen: pingWaiting})
	rt, err := Start(context.Background(), Options{Topology: top, DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	labtest.CloseAtEnd(t, rt)
	waitSync(t, rt, "EDGE01") // mail to and from the internet crosses the Edge
	return rt, pingWaiting
}

func easDevice(t *testing.T, rt *Runtime, server, id string) *easclient.Client {
	return &easclient.Client{
		URL:  fmt.Sprintf("https://%s:%d/Microsoft-Server-ActiveSync", rt.o.Topology.Server(server).FQDN, 443+labtest.PortOffset),
		User: "alice@contoso.com", Password: "P@ssw0rd", DeviceID: id, DeviceType: "exsimTest",
		HTTP: webClient(t, rt),
	}
}

const easAttachmentMsg = "From: Carol <carol@fabrikam.com>\r\nTo: Alice Wood <alice@contoso.com>\r\nSubject: eas with attachment\r\n" +
	"Message-ID: <eas-att-1@fabrikam.com>\r\nDate: Sat, 05 Dec 2026 08:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
	"the body of the message\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgZXhzaW0=\r\n--b1--\r\n"

// TestActiveSyncDevice is a phone's life: provision, folders, the inbox
// with a body and an attachment, a Ping woken by mail that arrives over
// SMTP through the Edge, and SendMail out through the Edge to carol.
func TestActiveSyncDevice(t *testing.T) {
	rt, pingWaiting := easLab(t)
	ctx := context.Background()
	be := webBackend{r: rt.Server("EX01").role.(*mailboxRole)}
	if _, err := be.Append(ctx, "alice@contoso.com", "INBOX", []byte(easAttachmentMsg), nil); err != nil {
		t.Fatal(err)
	}
	// EX02 is the front end: alice's mailbox is on EX01, so every
	// command, the Ping long-poll too, goes through the Back End proxy.
	c := easDevice(t, rt, "EX02", "EXSIMDEVICE1")

	versions, commands, err := c.Options(ctx)
	if err != nil || !slices.Contains(versions, "14.1") || !slices.Contains(versions, "16.1") || !slices.Contains(commands, "Ping") {
		t.Fatalf("Options = %v %v %v", versions, commands, err)
	}
	// The first FolderSync meets Status 142 and provisions on its own.
	folders, err := c.FolderSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.PolicyKey() == "" {
		t.Error("no policy key after the first command")
	}
	inbox, ok := c.FolderOfType(easclient.TypeInbox)
	sent, ok2 := c.FolderOfType(easclient.TypeSent)
	if !ok || !ok2 || len(folders) < 10 {
		t.Fatalf("folders = %+v", folders)
	}

	res, err := c.Sync(ctx, inbox.ServerID, easclient.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Added) != 1 || res.Added[0].Value("Email:Subject") != "eas with attachment" ||
		!strings.Contains(res.Added[0].Body(), "the body of the message") {
		t.Fatalf("first inbox Sync = %+v", res)
	}
	item := res.Added[0]
	att := item.Data.Path("AirSyncBase:Attachments", "AirSyncBase:Attachment")
	if att.Value("AirSyncBase:DisplayName") != "report.pdf" {
		t.Fatalf("attachment = %v", att)
	}
	for _, multipart := range []bool{false, true} {
		ct, data, err := c.FetchAttachment(ctx, att.Value("AirSyncBase:FileReference"), multipart)
		if err != nil || ct != "application/pdf" || string(data) != "%PDF-1.4 exsim" {
			t.Errorf("FetchAttachment(multipart %v) = %q %q %v", multipart, ct, data, err)
		}
	}
	full, err := c.Fetch(ctx, inbox.ServerID, item.ServerID, 4)
	if err != nil || !strings.Contains(full.Body(), "Message-ID: <eas-att-1@fabrikam.com>") {
		t.Errorf("Fetch as MIME = %v, %v", full.Data, err)
	}
	if n, err := c.GetItemEstimate(ctx, inbox.ServerID); n != 0 || err != nil {
		t.Errorf("GetItemEstimate after Sync = %d, %v", n, err)
	}

	// Ping: wait until the server is waiting, then deliver over SMTP from
	// the internet (INET01 -> EDGE01 -> EX01).
	type pingResult struct {
		status  int
		folders []string
		err     error
		at      time.Time
	}
	done := make(chan pingResult, 1)
	go func() {
		st, fs, err := c.Ping(ctx, 600, "Email", inbox.ServerID)
		done <- pingResult{st, fs, err, time.Now()}
	}()
	select {
	case <-pingWaiting:
	case r := <-done:
		t.Fatalf("Ping returned before any mail arrived: %+v", r)
	case <-time.After(15 * time.Second):
		t.Fatal("the Ping never started waiting")
	}
	if r := sendFrom(t, rt, "INET01", "carol@fabrikam.com", "eas ping wake", "alice@contoso.com"); r.Err != nil {
		t.Fatal(r.Err)
	}
	accepted := time.Now() // EDGE01 said 250; EX01's transport still has to deliver it
	waitMail(t, rt, "EX01", "alice@contoso.com", "eas ping wake")
	delivered := time.Now()
	// The bar is "within a second of delivery"; the test allows
	// a generous 10 s so that a loaded machine does not fail it, and logs
	// the real figure.
	var r pingResult
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the Ping was not woken within 10 s of the delivery")
	}
	if r.err != nil || r.status != easclient.PingChanges || !slices.Equal(r.folders, []string{inbox.ServerID}) {
		t.Fatalf("Ping = %+v, want status 2 for the inbox", r)
	}
	t.Logf("Ping answered %v after the Edge accepted the message, %v after the delivery was seen (docs/PERFORMANCE.md)",
		r.at.Sub(accepted), max(0, r.at.Sub(delivered)))
	res, err = c.Sync(ctx, inbox.ServerID, easclient.SyncOptions{})
	if err != nil || len(res.Added) != 1 || res.Added[0].Value("Email:Subject") != "eas ping wake" {
		t.Fatalf("Sync after Ping = %+v, %v", res, err)
	}

	// SendMail leaves through EX01's transport, the Edge and reaches carol.
	mime := "From: alice@contoso.com\r\nTo: Carol <carol@fabrikam.com>\r\nBcc: bob@contoso.com\r\nSubject: eas sendmail\r\n" +
		"Message-ID: <eas-send-1@contoso.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsent from a phone\r\n"
	if err := c.SendMail(ctx, "client-1", []byte(mime), true); err != nil {
		t.Fatal(err)
	}
	got := waitMail(t, rt, "INET01", "carol@fabrikam.com", "eas sendmail")
	if !strings.Contains(got, "sent from a phone") || strings.Contains(got, "Bcc:") || !strings.Contains(got, "edge01.contoso.com") {
		t.Errorf("carol got:\n%s", got)
	}
	waitMail(t, rt, "EX02", "bob@contoso.com", "eas sendmail")
	res, err = c.Sync(ctx, sent.ServerID, easclient.SyncOptions{})
	if err != nil || len(res.Added) != 1 || res.Added[0].Value("Email:Subject") != "eas sendmail" {
		t.Errorf("Sent Items = %+v, %v", res, err)
	}
}

// TestActiveSyncItems covers the other commands on EX01 itself, in the
// base64 query form and protocol 16.1: changes and deletes both ways,
// calendar and contacts, MoveItems, SmartReply and SmartForward.
func TestActiveSyncItems(t *testing.T) {
	rt, _ := easLab(t)
	ctx := context.Background()
	be := webBackend{r: rt.Server("EX01").role.(*mailboxRole)}
	c := easDevice(t, rt, "EX01", "B64DEVICE")
	c.Base64Query, c.Version = true, "16.1"
	if _, err := c.FolderSync(ctx); err != nil {
		t.Fatal(err)
	}
	inbox, _ := c.FolderOfType(easclient.TypeInbox)
	cal, _ := c.FolderOfType(easclient.TypeCalendar)
	contacts, _ := c.FolderOfType(easclient.TypeContacts)
	deleted, _ := c.FolderOfType(easclient.TypeDeleted)
	for _, s := range []string{"first", "second"} {
		if _, err := be.Append(ctx, "alice@contoso.com", "INBOX", []byte("From: carol@fabrikam.com\r\nTo: alice@contoso.com\r\nSubject: "+s+"\r\nMessage-ID: <"+s+"@fabrikam.com>\r\n\r\n"+s+" body\r\n"), nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Sync(ctx, inbox.ServerID, easclient.SyncOptions{})
	if err != nil || len(res.Added) != 2 {
		t.Fatalf("inbox = %+v, %v", res, err)
	}
	ids := map[string]string{}
	for _, it := range res.Added {
		ids[it.Value("Email:Subject")] = it.ServerID
	}

	// The device reads "first"; the server sees \Seen.
	res, err = c.Sync(ctx, inbox.ServerID, easclient.SyncOptions{Commands: []*wbxml.Node{
		easclient.Change(ids["first"], wbxml.T("Email:Read", "1"))}})
	if err != nil || len(res.Added)+len(res.Changed)+len(res.Responses) != 0 {
		t.Fatalf("Sync with a read change = %+v, %v", res, err)
	}
	list, _ := be.ListFolder(ctx, "alice@contoso.com", "INBOX")
	for _, mi := range list {
		if mi.Subject == "first" && !mi.Read {
			t.Error("the read change did not reach the store")
		}
	}
	// The server flags "second" (as IMAP would): a Change to the device.
	for _, mi := range list {
		if mi.Subject == "second" {
			if err := be.SetFlags(ctx, "alice@contoso.com", "INBOX", mi.ID, []string{`\Flagged`}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err = c.Sync(ctx, inbox.ServerID, easclient.SyncOptions{})
	if err != nil || len(res.Changed) != 1 || res.Changed[0].ServerID != ids["second"] || res.Changed[0].Data.Path("Email:Flag").Value("Email:Status") != "2" {
		t.Fatalf("flag change = %+v, %v", res, err)
	}

	// MoveItems to Deleted Items, then the device deletes "second" too.
	moved, err := c.MoveItems(ctx, ids["first"], inbox.ServerID, deleted.ServerID)
	if err != nil || !strings.HasPrefix(moved, deleted.ServerID+":") {
		t.Fatalf("MoveItems = %q, %v", moved, err)
	}
	res, err = c.Sync(ctx, inbox.ServerID, easclient.SyncOptions{Commands: []*wbxml.Node{easclient.Delete(ids["second"])}})
	if err != nil || !slices.Equal(res.Deleted, []string{ids["first"]}) {
		t.Fatalf("Sync after a move and a delete = %+v, %v", res, err)
	}
	if list, _ := be.ListFolder(ctx, "alice@contoso.com", "Deleted Items"); len(list) != 2 {
		t.Errorf("Deleted Items holds %d messages, want 2", len(list))
	}

	// A calendar item and a contact added on the device, changed, deleted.
	for _, tc := range []struct {
		folder      easclient.Folder
		add, change []*wbxml.Node
		check       string
	}{
		{cal, []*wbxml.Node{wbxml.T("Calendar:Subject", "Lab review"), wbxml.T("Calendar:StartTime", "20261207T090000Z"),
			wbxml.T("Calendar:EndTime", "20261207T100000Z"), wbxml.T("Calendar:Location", "Room 1")},
			[]*wbxml.Node{wbxml.T("Calendar:Subject", "Lab review, moved"), wbxml.T("Calendar:StartTime", "20261208T090000Z"),
				wbxml.T("Calendar:EndTime", "20261208T100000Z")}, "Calendar:Subject"},
		{contacts, []*wbxml.Node{wbxml.T("Contacts:FirstName", "Don"), wbxml.T("Contacts:LastName", "Funk"),
			wbxml.T("Contacts:Email1Address", "don@fabrikam.com")},
			[]*wbxml.Node{wbxml.T("Contacts:FirstName", "Donald"), wbxml.T("Contacts:LastName", "Funk")}, "Contacts:FileAs"},
	} {
		if _, err := c.Sync(ctx, tc.folder.ServerID, easclient.SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		res, err := c.Sync(ctx, tc.folder.ServerID, easclient.SyncOptions{Commands: []*wbxml.Node{easclient.Add("c1", tc.add...)}})
		if err != nil || len(res.Responses) != 1 || res.Responses[0].Value("Status") != "1" {
			t.Fatalf("%s add = %+v, %v", tc.folder.DisplayName, res, err)
		}
		sid := res.Responses[0].Value("ServerId")
		other := easDevice(t, rt, "EX02", "OTHER"+tc.folder.ServerID)
		if _, err := other.FolderSync(ctx); err != nil {
			t.Fatal(err)
		}
		seen, err := other.Sync(ctx, tc.folder.ServerID, easclient.SyncOptions{})
		if err != nil || len(seen.Added) != 1 || seen.Added[0].ServerID != sid {
			t.Fatalf("%s on another device = %+v, %v", tc.folder.DisplayName, seen, err)
		}
		before := seen.Added[0].Value(tc.check)
		if _, err := c.Sync(ctx, tc.folder.ServerID, easclient.SyncOptions{Commands: []*wbxml.Node{easclient.Change(sid, tc.change...)}}); err != nil {
			t.Fatal(err)
		}
		seen, err = other.Sync(ctx, tc.folder.ServerID, easclient.SyncOptions{})
		if err != nil || len(seen.Changed) != 1 || seen.Changed[0].ServerID != sid || seen.Changed[0].Value(tc.check) == before {
			t.Fatalf("%s change on another device = %+v, %v (was %q)", tc.folder.DisplayName, seen, err, before)
		}
		if _, err := c.Sync(ctx, tc.folder.ServerID, easclient.SyncOptions{Commands: []*wbxml.Node{easclient.Delete(sid)}}); err != nil {
			t.Fatal(err)
		}
		seen, err = other.Sync(ctx, tc.folder.ServerID, easclient.SyncOptions{})
		if err != nil || !slices.Equal(seen.Deleted, []string{sid}) {
			t.Fatalf("%s delete on another device = %+v, %v", tc.folder.DisplayName, seen, err)
		}
	}

	// SmartReply and SmartForward of a message in the inbox.
	if _, err := be.Append(ctx, "alice@contoso.com", "INBOX", []byte("From: Carol <carol@fabrikam.com>\r\nTo: alice@contoso.com\r\nSubject: question\r\nMessage-ID: <q-1@fabrikam.com>\r\n\r\nthe original question\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	res, err = c.Sync(ctx, inbox.ServerID, easclient.SyncOptions{})
	if err != nil || len(res.Added) != 1 {
		t.Fatalf("inbox = %+v, %v", res, err)
	}
	q := res.Added[0].ServerID
	reply := "To: carol@fabrikam.com\r\nSubject: RE: question\r\nContent-Type: text/plain\r\n\r\nthe answer\r\n"
	if err := c.SmartReply(ctx, "r1", inbox.ServerID, q, []byte(reply), false); err != nil {
		t.Fatal(err)
	}
	got := waitMail(t, rt, "INET01", "carol@fabrikam.com", "RE: question")
	if !strings.Contains(got, "the answer") || !strings.Contains(got, "the original question") || !strings.Contains(got, "In-Reply-To: <q-1@fabrikam.com>") {
		t.Errorf("the reply carol got:\n%s", got)
	}
	fwd := "To: carol@fabrikam.com\r\nSubject: FW: question\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
	if err := c.SmartForward(ctx, "f1", inbox.ServerID, q, []byte(fwd), true); err != nil {
		t.Fatal(err)
	}
	got = waitMail(t, rt, "INET01", "carol@fabrikam.com", "FW: question")
	if !strings.Contains(got, "message/rfc822") || !strings.Contains(got, "the original question") {
		t.Errorf("the forward carol got:\n%s", got)
	}
	var st *easclient.StatusError
	if err := c.SmartReply(ctx, "r2", inbox.ServerID, inbox.ServerID+":9999", []byte(reply), false); !asStatus(err, &st) || st.Status != 150 {
		t.Errorf("SmartReply to a missing item = %v, want status 150", err)
	}
}

func asStatus(err error, st **easclient.StatusError) bool {
	e, ok := err.(*easclient.StatusError)
	*st = e
	return ok
}
