package httpd

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
	"github.com/exsim/exsim/internal/wbxml"
)

// FuzzEASQuery: any request line parses to a request or an error, and a
// request it accepts names a command and a device.
func FuzzEASQuery(f *testing.F) {
	for _, seed := range []string{"Cmd=Sync&User=alice&DeviceId=D1&DeviceType=iPhone",
		"jQAJBAIBqwQ5MAAACVNtYXJ0UGhvbgEBNQMDNTo3BwEDCAVhbGljZQ==", "%%%", ""} {
		fuzzseed.Add(f, seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := &http.Request{Method: "POST", Header: http.Header{}, URL: &url.URL{Path: "/Microsoft-Server-ActiveSync", RawQuery: query}}
		q, err := parseEASRequest(r)
		if err != nil {
			return
		}
		if q.Cmd == "" || q.DeviceID == "" || len(q.DeviceID) > 32 || q.DeviceType == "" {
			t.Fatalf("parseEASRequest(%q) accepted %+v", query, q)
		}
	})
}

// FuzzEASCommand runs every command but Ping on any WBXML a device could
// send, against the fake store: no panic, and every answer encodes.
func FuzzEASCommand(f *testing.F) {
	inbox := "f" + easFolderIDOf(FolderInbox)
	for _, n := range []*wbxml.Node{
		syncReq("0", inbox), syncReq("{00000000}1", inbox, wbxml.E("AirSync:Commands", wbxml.E("AirSync:Fetch", wbxml.T("AirSync:ServerId", inbox+":1")))),
		wbxml.E("FolderHierarchy:FolderSync", wbxml.T("FolderHierarchy:SyncKey", "0")), policyAsk(), policyAck("1"),
		wbxml.E("ItemOperations:ItemOperations", wbxml.E("ItemOperations:Fetch", wbxml.T("ItemOperations:Store", "Mailbox"),
			wbxml.T("AirSyncBase:FileReference", inbox+":1:0"))),
		wbxml.E("Move:MoveItems", wbxml.E("Move:Move", wbxml.T("Move:SrcMsgId", inbox+":1"), wbxml.T("Move:SrcFldId", inbox), wbxml.T("Move:DstFldId", "x"))),
		wbxml.E("ComposeMail:SendMail", wbxml.T("ComposeMail:ClientId", "1"), wbxml.O("ComposeMail:Mime", []byte("To: bob@contoso.com\r\n\r\nhi\r\n"))),
		wbxml.E("Settings:Settings", wbxml.E("Settings:Oof", wbxml.E("Settings:Get"))),
	} {
		b, err := wbxml.Encode(n)
		if err != nil {
			f.Fatal(err)
		}
		fuzzseed.Add(f, uint8(0), b)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range easCommands {
			if k != "Ping" && !yield(k) {
				return
			}
		}
	})
	fs := newEASStore()
	h := NewHandler(fs, testOptions())
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		n, err := wbxml.Decode(body)
		if err != nil {
			return
		}
		// A Sync that waits would wait for minutes.
		n.Children = slices.DeleteFunc(n.Children, func(c *wbxml.Node) bool { return c.Tag == "Wait" || c.Tag == "HeartbeatInterval" })
		name := names[int(which)%len(names)]
		c := &easCall{h: h, w: httptest.NewRecorder(), r: httptest.NewRequest("POST", "/Microsoft-Server-ActiveSync", strings.NewReader("")),
			q: &easRequest{Cmd: name, Version: "14.1", DeviceID: "FUZZ", DeviceType: "x"}, u: &fs.users[0].User,
			store: fs, body: n, raw: body, log: slog.New(slog.DiscardHandler)}
		c.dev = h.easDevices.device(c.u.Address, "FUZZ", h.cfg.Now())
		c.dev.mu.Lock()
		resp := easCommands[name](c)
		c.dev.mu.Unlock()
		if resp != nil {
			if _, err := wbxml.Encode(resp); err != nil {
				t.Fatalf("%s answer does not encode: %v\n%s", name, err, resp.XML())
			}
		}
	})
}
