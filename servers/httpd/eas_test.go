package httpd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/easclient"
	"github.com/exsim/exsim/internal/golden"
	"github.com/exsim/exsim/internal/wbxml"
)

// easStore is the fake store that says when a watch starts (a Ping or
// a Sync begins to wait).
type easStore struct {
	*fakeStore
	watching chan struct{}
}

var _ ActiveSyncStore = (*easStore)(nil)

func newEASStore() *easStore {
	return &easStore{fakeStore: newFakeStore(), watching: make(chan struct{}, 8)}
}

func (s *easStore) WatchMail(address string) (MailWatch, error) {
	w, err := s.fakeStore.WatchMail(address)
	select {
	case s.watching <- struct{}{}:
	default:
	}
	return w, err
}

// easSession sends raw ActiveSync requests in the plain query form and
// keeps what a device keeps: the policy keys and the last SyncKeys.
type easSession struct {
	t       *testing.T
	ts      *testServer
	c       *http.Client
	policy  string
	temp    string
	syncKey string
	out     strings.Builder
}

// step sends cmd with body (nil: none) and records both in the transcript.
func (s *easSession) step(cmd, version string, body *wbxml.Node) *wbxml.Node {
	s.t.Helper()
	if body != nil {
		fmt.Fprintf(&s.out, "C: %s %s\n%s", cmd, version, body.XML())
	} else {
		fmt.Fprintf(&s.out, "C: %s %s (no body)\n", cmd, version)
	}
	resp, n, err := s.send(cmd, version, body)
	if err != nil {
		s.t.Fatal(err)
	}
	fmt.Fprintf(&s.out, "S: %d %s\n", resp.StatusCode, resp.Header.Get("Content-Type"))
	if n == nil {
		return nil
	}
	s.out.WriteString(n.XML())
	if k := n.Path("Policies", "Policy").Value("PolicyKey"); k != "" {
		if n.Path("Policies", "Policy").Has("Data") {
			s.temp = k
		} else {
			s.policy = k
		}
	}
	if col := n.Path("Collections", "Collection"); col.Value("Status") == "1" {
		s.syncKey = col.Value("SyncKey")
	}
	return n
}

// send posts one command and decodes the answer (nil for an empty one).
func (s *easSession) send(cmd, version string, body *wbxml.Node) (*http.Response, *wbxml.Node, error) {
	var data []byte
	if body != nil {
		var err error
		if data, err = wbxml.Encode(body); err != nil {
			return nil, nil, err
		}
	}
	u := s.ts.base + "/Microsoft-Server-ActiveSync?Cmd=" + cmd + "&User=alice&DeviceId=GOLDEN1&DeviceType=SmartPhone"
	req := basicRequest("POST", u, "alice@contoso.com", "P@ssw0rd", bytes.NewReader(data))
	req.Header.Set("MS-ASProtocolVersion", version)
	req.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	if s.policy != "" {
		req.Header.Set("X-MS-PolicyKey", s.policy)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || len(raw) == 0 {
		return resp, nil, err
	}
	n, err := wbxml.Decode(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: response does not decode: %v", cmd, err)
	}
	return resp, n, nil
}

var (
	easKeyRE     = regexp.MustCompile(`<PolicyKey>\d+</PolicyKey>`)
	easSyncKeyRE = regexp.MustCompile(`\{[0-9A-F]{8}\}`)
)

func policyAsk() *wbxml.Node {
	return wbxml.E("Provision:Provision", wbxml.E("Provision:Policies",
		wbxml.E("Provision:Policy", wbxml.T("Provision:PolicyType", "MS-EAS-Provisioning-WBXML"))))
}

func policyAck(key string) *wbxml.Node {
	return wbxml.E("Provision:Provision", wbxml.E("Provision:Policies", wbxml.E("Provision:Policy",
		wbxml.T("Provision:PolicyType", "MS-EAS-Provisioning-WBXML"), wbxml.T("Provision:PolicyKey", key), wbxml.T("Provision:Status", "1"))))
}

func syncReq(key, collection string, extra ...*wbxml.Node) *wbxml.Node {
	col := wbxml.E("AirSync:Collection", wbxml.T("AirSync:SyncKey", key), wbxml.T("AirSync:CollectionId", collection))
	return wbxml.E("AirSync:Sync", wbxml.E("AirSync:Collections", col.Add(extra...)))
}

// TestEASGolden replays a device's session against the fake store and
// compares every request and answer with testdata/eas/session.txt.
func TestEASGolden(t *testing.T) {
	fs := newEASStore()
	o := testOptions()
	o.Now = func() time.Time { return fakeNow }
	ts := newTestServerWith(t, o, fs, fs.fakeBackend)
	s := &easSession{t: t, ts: ts, c: ts.client(false)}
	inbox := "f" + easFolderIDOf(FolderInbox)
	deleted := "f" + easFolderIDOf(FolderDeletedItems)

	s.step("FolderSync", "14.1", wbxml.E("FolderHierarchy:FolderSync", wbxml.T("FolderHierarchy:SyncKey", "0")))
	s.step("FolderSync", "12.1", wbxml.E("FolderHierarchy:FolderSync", wbxml.T("FolderHierarchy:SyncKey", "0")))
	s.step("Provision", "14.1", policyAsk())
	s.step("Provision", "14.1", policyAck("12345"))
	s.step("Provision", "14.1", policyAck(s.temp))
	s.step("FolderSync", "14.1", wbxml.E("FolderHierarchy:FolderSync", wbxml.T("FolderHierarchy:SyncKey", "0")))
	s.step("FolderSync", "14.1", wbxml.E("FolderHierarchy:FolderSync", wbxml.T("FolderHierarchy:SyncKey", "1")))
	s.step("FolderSync", "14.1", wbxml.E("FolderHierarchy:FolderSync", wbxml.T("FolderHierarchy:SyncKey", "77")))
	s.step("Sync", "14.1", syncReq("0", inbox))
	opts := wbxml.E("AirSync:Options", wbxml.E("AirSyncBase:BodyPreference", wbxml.T("AirSyncBase:Type", "1"),
		wbxml.T("AirSyncBase:TruncationSize", "20"), wbxml.T("AirSyncBase:Preview", "12")))
	s.step("Sync", "14.1", syncReq(s.syncKey, inbox, wbxml.T("AirSync:WindowSize", "2"), opts))
	first := s.syncKey
	s.step("Sync", "14.1", syncReq(s.syncKey, inbox, wbxml.T("AirSync:WindowSize", "2")))
	s.step("Sync", "14.1", syncReq(first, inbox, wbxml.T("AirSync:WindowSize", "2"))) // a retry of the last request
	s.step("Sync", "14.1", syncReq("{00000000}9", inbox))
	s.step("Sync", "14.1", syncReq("0", "nope"))
	s.step("GetItemEstimate", "14.1", wbxml.E("GetItemEstimate:GetItemEstimate", wbxml.E("GetItemEstimate:Collections",
		wbxml.E("GetItemEstimate:Collection", wbxml.T("AirSync:SyncKey", s.syncKey), wbxml.T("GetItemEstimate:CollectionId", inbox)))))
	s.step("ItemOperations", "14.1", wbxml.E("ItemOperations:ItemOperations", wbxml.E("ItemOperations:Fetch",
		wbxml.T("ItemOperations:Store", "Mailbox"), wbxml.T("AirSync:CollectionId", inbox), wbxml.T("AirSync:ServerId", inbox+":3"),
		wbxml.E("ItemOperations:Options", wbxml.E("AirSyncBase:BodyPreference", wbxml.T("AirSyncBase:Type", "2")))),
		wbxml.E("ItemOperations:Fetch", wbxml.T("ItemOperations:Store", "Mailbox"), wbxml.T("AirSyncBase:FileReference", inbox+":1:0"))))
	s.step("MoveItems", "14.1", wbxml.E("Move:MoveItems",
		wbxml.E("Move:Move", wbxml.T("Move:SrcMsgId", inbox+":1"), wbxml.T("Move:SrcFldId", inbox), wbxml.T("Move:DstFldId", deleted)),
		wbxml.E("Move:Move", wbxml.T("Move:SrcMsgId", inbox+":99"), wbxml.T("Move:SrcFldId", inbox), wbxml.T("Move:DstFldId", deleted))))
	s.step("Sync", "14.1", syncReq(s.syncKey, inbox))
	ping := func(interval string, ids ...string) *wbxml.Node {
		f := wbxml.E("Ping:Folders")
		for _, id := range ids {
			f.Add(wbxml.E("Ping:Folder", wbxml.T("Ping:Id", id), wbxml.T("Ping:Class", "Email")))
		}
		return wbxml.E("Ping:Ping", wbxml.T("Ping:HeartbeatInterval", interval), f)
	}
	s.step("Ping", "14.1", nil)
	s.step("Ping", "14.1", ping("10", inbox))
	s.step("Ping", "14.1", ping("300", "nope"))
	if _, err := fs.Append(t.Context(), "alice@contoso.com", FolderInbox, []byte("From: bob@contoso.com\r\nTo: alice@contoso.com\r\nSubject: arrived before the Ping\r\n\r\nhi\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	s.step("Ping", "14.1", ping("300", inbox))
	s.step("SendMail", "14.1", wbxml.E("ComposeMail:SendMail", wbxml.T("ComposeMail:ClientId", "1"), wbxml.E("ComposeMail:SaveInSentItems"),
		wbxml.O("ComposeMail:Mime", []byte("To: bob@contoso.com\r\nBcc: carol@fabrikam.com\r\nSubject: from the phone\r\n\r\nhello\r\n"))))
	s.step("SendMail", "14.1", wbxml.E("ComposeMail:SendMail", wbxml.T("ComposeMail:ClientId", "2"),
		wbxml.O("ComposeMail:Mime", []byte("Subject: nobody\r\n\r\nhello\r\n"))))
	s.step("SmartReply", "14.1", wbxml.E("ComposeMail:SmartReply", wbxml.T("ComposeMail:ClientId", "3"),
		wbxml.E("ComposeMail:Source", wbxml.T("ComposeMail:FolderId", inbox), wbxml.T("ComposeMail:ItemId", inbox+":42")),
		wbxml.O("ComposeMail:Mime", []byte("To: bob@contoso.com\r\nSubject: RE\r\n\r\nok\r\n"))))

	fh := func(cmd string, kids ...*wbxml.Node) *wbxml.Node {
		return s.step(cmd, "14.1", wbxml.E("FolderHierarchy:"+cmd, kids...))
	}
	created := fh("FolderCreate", wbxml.T("FolderHierarchy:SyncKey", "1"), wbxml.T("FolderHierarchy:ParentId", inbox),
		wbxml.T("FolderHierarchy:DisplayName", "Projects"), wbxml.T("FolderHierarchy:Type", "12")).Value("ServerId")
	fh("FolderCreate", wbxml.T("FolderHierarchy:SyncKey", "2"), wbxml.T("FolderHierarchy:ParentId", inbox),
		wbxml.T("FolderHierarchy:DisplayName", "Projects"), wbxml.T("FolderHierarchy:Type", "12"))
	fh("FolderUpdate", wbxml.T("FolderHierarchy:SyncKey", "2"), wbxml.T("FolderHierarchy:ServerId", created),
		wbxml.T("FolderHierarchy:ParentId", "0"), wbxml.T("FolderHierarchy:DisplayName", "Projects 2026"))
	fh("FolderSync", wbxml.T("FolderHierarchy:SyncKey", "3"))
	fh("FolderDelete", wbxml.T("FolderHierarchy:SyncKey", "3"), wbxml.T("FolderHierarchy:ServerId", inbox))
	fh("FolderDelete", wbxml.T("FolderHierarchy:SyncKey", "3"), wbxml.T("FolderHierarchy:ServerId", "f"+easFolderIDOf("Projects 2026")))
	fh("FolderSync", wbxml.T("FolderHierarchy:SyncKey", "4"))
	fh("FolderSync", wbxml.T("FolderHierarchy:SyncKey", "2")) // a key from before: the device must start over

	s.step("Settings", "14.1", wbxml.E("Settings:Settings",
		wbxml.E("Settings:Oof", wbxml.E("Settings:Set", wbxml.T("Settings:OofState", "1"), wbxml.E("Settings:OofMessage",
			wbxml.E("Settings:AppliesToInternal"), wbxml.T("Settings:Enabled", "1"), wbxml.T("Settings:ReplyMessage", "Away until Monday"),
			wbxml.T("Settings:BodyType", "Text")))),
		wbxml.E("Settings:DeviceInformation", wbxml.E("Settings:Set", wbxml.T("Settings:Model", "Golden"))),
		wbxml.E("Settings:UserInformation", wbxml.E("Settings:Get"))))
	s.step("Settings", "14.1", wbxml.E("Settings:Settings", wbxml.E("Settings:Oof", wbxml.E("Settings:Get", wbxml.T("Settings:BodyType", "Text")))))

	transcript := easSyncKeyRE.ReplaceAllString(easKeyRE.ReplaceAllString(s.out.String(), "<PolicyKey>KEY</PolicyKey>"), "{GEN}")
	golden.Check(t, filepath.Join("testdata", "eas", "session.txt"), transcript)

	if o, err := fs.OOF(t.Context(), "alice@contoso.com"); err != nil || o.State != "Enabled" || o.InternalReply != "Away until Monday" {
		t.Errorf("OOF after Settings Set = %+v, %v", o, err)
	}
	sent := fs.sent
	if len(sent) != 1 || strings.Join(sent[0].rcpts, ",") != "bob@contoso.com,carol@fabrikam.com" ||
		bytes.Contains(sent[0].msg, []byte("Bcc:")) || !bytes.Contains(sent[0].msg, []byte("From: \"Alice Wood\" <alice@contoso.com>")) {
		t.Errorf("submissions = %+v", sent)
	}
}

// easFolderIDOf is the id the fake store's folders get (no store ids).
func easFolderIDOf(name string) string { return nameFolderID(name) }

// TestEASRequestErrors: what is not ActiveSync gets HTTP errors.
func TestEASRequestErrors(t *testing.T) {
	fs := newEASStore()
	ts := newTestServerWith(t, testOptions(), fs, fs.fakeBackend)
	c := ts.client(false)
	for _, tc := range []struct {
		name, query, version string
		body                 []byte
		want                 int
	}{
		{"no device id", "Cmd=Sync&User=alice&DeviceType=x", "14.1", nil, 400},
		{"protocol 2.5", "Cmd=Sync&User=alice&DeviceId=D1&DeviceType=x", "2.5", nil, 400},
		{"a command not simulated", "Cmd=Search&User=alice&DeviceId=D1&DeviceType=x", "14.1", nil, 501},
		{"bad base64", "%%%", "", nil, 400},
		{"unknown base64 command", base64.StdEncoding.EncodeToString([]byte{141, 99, 9, 4, 2, 'D', '1', 0, 1, 'x'}), "", nil, 400},
		{"invalid WBXML", "Cmd=FolderSync&User=alice&DeviceId=D1&DeviceType=x", "14.1", []byte{3, 1, 0x6a, 0, 0x7f}, 200},
	} {
		req := basicRequest("POST", ts.base+"/Microsoft-Server-ActiveSync?"+tc.query, "alice", "P@ssw0rd", bytes.NewReader(tc.body))
		req.Header.Set("MS-ASProtocolVersion", tc.version)
		req.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
		resp, body := do(t, c, req)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if tc.body != nil {
			n, err := wbxml.Decode([]byte(body))
			if err != nil || n.Value("Status") != "102" {
				t.Errorf("%s: answer %v %v, want Status 102", tc.name, n, err)
			}
		}
	}
}

// TestEASBase64Query reads the base64 encoded query as MS-ASHTTP
// 2.2.1.1.1.1 lays it out, field by field.
func TestEASBase64Query(t *testing.T) {
	b := []byte{161, 19}                                          // protocol 16.1, ItemOperations
	b = append(b, 0x09, 0x04)                                     // locale en-US
	b = append(b, 4, 0x01, 0xAB, 0x02, 0xCD)                      // a binary device id
	b = append(b, 4, 0x39, 0x30, 0, 0)                            // policy key 12345
	b = append(b, 9, 'S', 'm', 'a', 'r', 't', 'P', 'h', 'o', 'n') // device type
	b = append(b, 1, 1, '5', 3, 3, '5', ':', '7', 7, 1, 0x03)     // CollectionId, ItemId, Options
	b = append(b, 8, 5, 'a', 'l', 'i', 'c', 'e')                  // User
	r, _ := http.NewRequest("POST", "https://x/Microsoft-Server-ActiveSync?"+strings.ReplaceAll(base64.StdEncoding.EncodeToString(b), "+", "%2B"), nil)
	q, err := parseEASRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	want := easRequest{Cmd: "ItemOperations", User: "alice", DeviceID: "01AB02CD", DeviceType: "SmartPhon", Version: "16.1",
		PolicyKey: "12345", Locale: 0x0409, CollectionID: "5", ItemID: "5:7", SaveInSent: true, AcceptMultiPart: true}
	if *q != want {
		t.Errorf("parseEASRequest = %+v\nwant %+v", *q, want)
	}
	b[len(b)-6] = 9 // User's length runs past the end
	r.URL.RawQuery = base64.StdEncoding.EncodeToString(b)
	if _, err := parseEASRequest(r); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated query: %v", err)
	}
}

// TestEASPingWakes: a waiting Ping answers Status 2 when mail arrives,
// and the exsim client reads the new item in the base64 query form.
func TestEASPingWakes(t *testing.T) {
	fs := newEASStore()
	ts := newTestServerWith(t, testOptions(), fs, fs.fakeBackend)
	c := &easclient.Client{URL: ts.base + "/Microsoft-Server-ActiveSync", User: "alice", Password: "P@ssw0rd",
		DeviceID: "PINGDEV", DeviceType: "SmartPhone", Version: "16.1", Base64Query: true, HTTP: ts.client(false)}
	ctx := t.Context()
	if _, err := c.FolderSync(ctx); err != nil {
		t.Fatal(err)
	}
	inbox, _ := c.FolderOfType(easclient.TypeInbox)
	if res, err := c.Sync(ctx, inbox.ServerID, easclient.SyncOptions{}); err != nil || len(res.Added) != 3 {
		t.Fatalf("Sync = %+v, %v", res, err)
	}
	type result struct {
		st  int
		ids []string
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, ids, err := c.Ping(ctx, 120, "Email", inbox.ServerID)
		done <- result{st, ids, err}
	}()
	select {
	case <-fs.watching:
	case r := <-done:
		t.Fatalf("Ping returned before mail arrived: %+v", r)
	}
	if _, err := fs.Append(ctx, "alice@contoso.com", FolderInbox, []byte("Subject: wake up\r\n\r\n.\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.st != easclient.PingChanges || len(r.ids) != 1 || r.ids[0] != inbox.ServerID {
		t.Fatalf("Ping = %+v", r)
	}
	res, err := c.Sync(ctx, inbox.ServerID, easclient.SyncOptions{})
	if err != nil || len(res.Added) != 1 || res.Added[0].Value("Email:Subject") != "wake up" {
		t.Errorf("Sync after the Ping = %+v, %v", res, err)
	}
}

// TestEASSyncWaits: a Sync with HeartbeatInterval and nothing to bring
// waits until mail arrives and then brings it; out-of-range waits get
// Status 14 with the limit.
func TestEASSyncWaits(t *testing.T) {
	fs := newEASStore()
	ts := newTestServerWith(t, testOptions(), fs, fs.fakeBackend)
	s := &easSession{t: t, ts: ts, c: ts.client(false)}
	inbox := "f" + easFolderIDOf(FolderInbox)
	s.step("Provision", "14.1", policyAsk())
	s.step("Provision", "14.1", policyAck(s.temp))
	s.step("FolderSync", "14.1", wbxml.E("FolderHierarchy:FolderSync", wbxml.T("FolderHierarchy:SyncKey", "0")))
	s.step("Sync", "14.1", syncReq("0", inbox))
	s.step("Sync", "14.1", syncReq(s.syncKey, inbox))
	for _, tc := range []struct{ el, v, limit string }{{"Wait", "0", "1"}, {"HeartbeatInterval", "4000", "3540"}} {
		req := syncReq(s.syncKey, inbox)
		req.Add(wbxml.T("AirSync:"+tc.el, tc.v))
		if n := s.step("Sync", "14.1", req); n.Value("Status") != "14" || n.Value("Limit") != tc.limit {
			t.Errorf("Sync with %s %s = %s", tc.el, tc.v, n.XML())
		}
	}
	req := syncReq(s.syncKey, inbox)
	req.Add(wbxml.T("AirSync:HeartbeatInterval", "120"))
	type result struct {
		n   *wbxml.Node
		err error
	}
	done := make(chan result, 1)
	go func() {
		_, n, err := s.send("Sync", "14.1", req)
		done <- result{n, err}
	}()
	select {
	case <-fs.watching:
	case r := <-done:
		t.Fatalf("the Sync returned before mail arrived: %v %v", r.n, r.err)
	}
	if _, err := fs.Append(t.Context(), "alice@contoso.com", FolderInbox, []byte("Subject: while you waited\r\n\r\n.\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	r := <-done
	add := r.n.Path("Collections", "Collection", "Commands", "Add")
	if r.err != nil || add.Path("ApplicationData").Value("Email:Subject") != "while you waited" {
		t.Fatalf("the waiting Sync = %v, %v", r.n, r.err)
	}
}
