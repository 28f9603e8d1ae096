package httpd

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/mapi"
)

// mapiRaw is a hand-driven MAPI/HTTP client for the wire tests: every
// header and cookie is the test's.
type mapiRaw struct {
	t  *testing.T
	ts *testServer
	hc *http.Client
}

func newMAPIRaw(t *testing.T, ts *testServer) *mapiRaw {
	hc := ts.client(false)
	hc.Transport = ntlmssp.Negotiator{RoundTripper: hc.Transport}
	return &mapiRaw{t: t, ts: ts, hc: hc}
}

// post sends body to path with the request type and cookies given; hdr
// overrides headers ("" deletes one).
func (m *mapiRaw) post(method, path, typ string, body []byte, cookies []*http.Cookie, hdr map[string]string) (*http.Response, []byte) {
	m.t.Helper()
	req, err := http.NewRequestWithContext(m.t.Context(), method, m.ts.base+path, bytes.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	req.SetBasicAuth("alice@contoso.com", "P@ssw0rd")
	req.Header.Set("Content-Type", mapi.ContentType)
	req.Header.Set("X-RequestType", typ)
	req.Header.Set("X-RequestId", "{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1")
	req.Header.Set("X-ClientInfo", "{2F94A2BF-A2E6-4CCC-BF98-B5F22C542226}")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := m.hc.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		m.t.Fatal(err)
	}
	return res, b
}

// payload splits a successful answer into its meta lines and binary body.
func mapiPayload(t *testing.T, b []byte) (meta []string, body []byte) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("answer ends inside the meta-tags: %q", b)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			rest, _ := io.ReadAll(br)
			return meta, rest
		}
		meta = append(meta, line)
	}
}

func responseCode(res *http.Response) int {
	n, err := strconv.Atoi(res.Header.Get("X-ResponseCode"))
	if err != nil {
		return -1
	}
	return n
}

// TestMAPIWire checks the transport as MS-OXCMAPIHTTP 2.2 states it: the
// headers and framing of a success, the cookies of a Session Context, and
// the X-ResponseCode of each refusal.
func TestMAPIWire(t *testing.T) {
	ts, _ := mapiServer(t, Options{})
	m := newMAPIRaw(t, ts)
	connect := mapi.Marshal(&mapi.ConnectRequest{DefaultCodePage: 1252, LcidSort: 0x409, LcidString: 0x409})
	res, b := m.post("POST", "/mapi/emsmdb/", "Connect", connect, nil, nil)
	if res.StatusCode != 200 || responseCode(res) != 0 {
		t.Fatalf("Connect: %d, X-ResponseCode %q: %s", res.StatusCode, res.Header.Get("X-ResponseCode"), b)
	}
	for k, want := range map[string]string{"Content-Type": mapi.ContentType, "X-RequestType": "Connect",
		"X-RequestId": "{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1", "X-ClientInfo": "{2F94A2BF-A2E6-4CCC-BF98-B5F22C542226}",
		"X-ServerApplication": "Exchange/15.02.1258.012", "X-PendingPeriod": "15000", "X-ExpirationInfo": "900000"} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("Connect header %s = %q, want %q", k, got, want)
		}
	}
	meta, body := mapiPayload(t, b)
	if len(meta) != 4 || meta[0] != "PROCESSING" || meta[1] != "DONE" || !strings.HasPrefix(meta[2], "X-ElapsedTime: ") ||
		!strings.HasPrefix(meta[3], "X-StartTime: ") {
		t.Errorf("Connect meta-tags = %q", meta)
	}
	var cr mapi.ConnectResponse
	if err := mapi.Unmarshal(body, &cr); err != nil || cr.ErrorCode != 0 || cr.DisplayName != "Alice Wood" ||
		cr.MaxPollingInterval != 60000 || !strings.HasSuffix(cr.DNPrefix, "/cn=Configuration/cn=Servers/cn=") {
		t.Errorf("Connect body = %+v, %v", cr, err)
	}
	cookies := map[string]*http.Cookie{}
	for _, c := range res.Cookies() {
		cookies[c.Name] = c
		if c.Path != "/mapi/emsmdb/" {
			t.Errorf("cookie %s path %q, want /mapi/emsmdb/", c.Name, c.Path)
		}
	}
	ctxCookie, seq := cookies["MapiContext"], cookies["MapiSequence"]
	if ctxCookie == nil || seq == nil {
		t.Fatalf("Connect set cookies %v, want MapiContext and MapiSequence", res.Cookies())
	}
	session := []*http.Cookie{ctxCookie, seq}

	execute := func(rops []mapi.ROP, flags uint16) []byte {
		payload := (&mapi.ROPBuffer{ROPs: mapi.EncodeROPs(rops), Handles: []uint32{0xFFFFFFFF, 0xFFFFFFFF}}).Bytes()
		rb, _ := mapi.JoinExt(payload)
		rb[2] |= byte(flags)
		return mapi.Marshal(&mapi.ExecuteRequest{RopBuffer: rb, MaxRopOut: 0x10000})
	}
	// A private logon without OpenUsePerMDBReplIDMapping is refused with
	// ecInvalidParameter, as Exchange refuses it; a logon to another
	// mailbox fails; a ROP exsim does not serve fails with
	// MAPI_E_NO_SUPPORT and ends the buffer.
	res, b = m.post("POST", "/mapi/emsmdb/", "Execute", execute([]mapi.ROP{
		&mapi.LogonRequest{LogonFlags: mapi.LogonPrivate, OpenFlags: mapi.OpenHomeLogon},
		&mapi.LogonRequest{LogonFlags: mapi.LogonPrivate, OpenFlags: mapi.OpenUsePerMDBReplIDMapping, Essdn: "/o=Contoso/cn=Recipients/cn=bob"},
		&unknownROP{}}, 0), session, nil)
	if responseCode(res) != 0 {
		t.Fatalf("Execute: X-ResponseCode %s: %s", res.Header.Get("X-ResponseCode"), b)
	}
	_, body = mapiPayload(t, b)
	var er mapi.ExecuteResponse
	if err := mapi.Unmarshal(body, &er); err != nil {
		t.Fatal(err)
	}
	p, err := mapi.SplitExt(er.RopBuffer)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := mapi.ParseROPBuffer(p)
	if err != nil {
		t.Fatal(err)
	}
	noFlag, logon, unknown := &mapi.ErrorResponse{ID: mapi.RopIDLogon}, &mapi.ErrorResponse{ID: mapi.RopIDLogon}, &mapi.ErrorResponse{ID: 0x07}
	if err := mapi.DecodeResponses(rb.ROPs, []mapi.ROP{noFlag, logon, unknown}); err != nil || noFlag.ReturnValue != mapi.ErrInvalidParam ||
		logon.ReturnValue != mapi.ErrLoginFailure || unknown.ReturnValue != mapi.ErrNoSupport {
		t.Errorf("Execute responses: logon without the flag %+v, other mailbox %+v, unknown %+v, %v", noFlag, logon, unknown, err)
	}
	oldSeq := seq
	for _, c := range res.Cookies() {
		if c.Name == "MapiSequence" {
			seq = c
		}
	}
	if seq.Value == oldSeq.Value {
		t.Fatalf("MapiSequence %q did not change after an Execute", seq.Value)
	}
	session = []*http.Cookie{ctxCookie, seq}

	cases := []struct {
		name, method, path, typ string
		body                    []byte
		cookies                 []*http.Cookie
		hdr                     map[string]string
		code                    mapi.ResponseCode
		text                    string
	}{
		{name: "GET", method: "GET", path: "/mapi/emsmdb/", typ: "Connect", code: mapi.RespInvalidVerb},
		{name: "no request type", path: "/mapi/emsmdb/", hdr: map[string]string{"X-RequestType": ""}, code: mapi.RespMissingHeader},
		{name: "no request id", path: "/mapi/emsmdb/", typ: "Connect", body: connect, hdr: map[string]string{"X-RequestId": ""}, code: mapi.RespMissingHeader},
		{name: "nspi type on emsmdb", path: "/mapi/emsmdb/", typ: "Bind", code: mapi.RespInvalidRequestType},
		{name: "wrong content type", path: "/mapi/emsmdb/", typ: "Connect", hdr: map[string]string{"Content-Type": "text/plain"}, code: mapi.RespInvalidHeader},
		{name: "no cookie", path: "/mapi/emsmdb/", typ: "Execute", body: execute(nil, 0), code: mapi.RespMissingCookie},
		{name: "unknown context", path: "/mapi/emsmdb/", typ: "Execute", body: execute(nil, 0),
			cookies: []*http.Cookie{{Name: "MapiContext", Value: "nope"}, seq}, code: mapi.RespContextNotFound},
		{name: "emsmdb context on nspi", path: "/mapi/nspi/", typ: "GetProps", body: mapi.Marshal(&mapi.GetPropsRequest{}),
			cookies: session, code: mapi.RespContextNotFound},
		{name: "out of sequence", path: "/mapi/emsmdb/", typ: "Execute", body: execute(nil, 0),
			cookies: []*http.Cookie{ctxCookie, {Name: "MapiSequence", Value: "stale"}}, code: mapi.RespInvalidSequence},
		{name: "sequence used twice", path: "/mapi/emsmdb/", typ: "Execute", body: execute(nil, 0),
			cookies: []*http.Cookie{ctxCookie, oldSeq}, code: mapi.RespInvalidSequence},
		{name: "garbage Connect", path: "/mapi/emsmdb/", typ: "Connect", body: []byte("/o=x"), code: mapi.RespInvalidRequestBody},
		{name: "compressed ROP buffer", path: "/mapi/emsmdb/", typ: "Execute", body: execute(nil, mapi.HeaderCompressed),
			cookies: session, code: mapi.RespInvalidRequestBody, text: "compressed"},
	}
	for _, tc := range cases {
		method := tc.method
		if method == "" {
			method = "POST"
		}
		res, b := m.post(method, tc.path, tc.typ, tc.body, tc.cookies, tc.hdr)
		if res.StatusCode != 200 || responseCode(res) != int(tc.code) || !strings.Contains(string(b), tc.text) {
			t.Errorf("%s: HTTP %d, X-ResponseCode %q, body %q; want 200, %d (%s) with %q", tc.name, res.StatusCode,
				res.Header.Get("X-ResponseCode"), b, tc.code, tc.code, tc.text)
		}
	}
}

// unknownROP is a ROP exsim does not serve (RopGetPropertiesSpecific).
type unknownROP struct{}

func (*unknownROP) RopID() uint8 { return 0x07 }
func (*unknownROP) Codec(c *mapi.Codec) {
	var logon, in uint8
	var size, n uint16
	c.U8(&logon)
	c.U8(&in)
	c.U16(&size)
	c.U16(&n)
}

// nspiCall sends one NSPI request with the session's cookies, keeps the
// cookies it gets back and decodes the answer into resp.
func (m *mapiRaw) nspiCall(jar map[string]*http.Cookie, typ string, req, resp mapi.Body) {
	m.t.Helper()
	var cookies []*http.Cookie
	for _, c := range jar {
		cookies = append(cookies, c)
	}
	res, b := m.post("POST", "/mapi/nspi/", typ, mapi.Marshal(req), cookies, nil)
	if responseCode(res) != 0 {
		m.t.Fatalf("%s: X-ResponseCode %s: %s", typ, res.Header.Get("X-ResponseCode"), b)
	}
	for _, c := range res.Cookies() {
		jar[c.Name] = c
	}
	_, body := mapiPayload(m.t, b)
	if err := mapi.Unmarshal(body, resp); err != nil {
		m.t.Fatalf("%s response: %v", typ, err)
	}
}

// TestMAPINSPI reads the address book over MAPI/HTTP: the hierarchy, the
// rows of the Global Address List, one entry's properties, a DN's
// minimal id.
func TestMAPINSPI(t *testing.T) {
	ts, _ := mapiServer(t, Options{})
	m := newMAPIRaw(t, ts)
	jar := map[string]*http.Cookie{}
	var bind mapi.BindResponse
	m.nspiCall(jar, "Bind", &mapi.BindRequest{State: &mapi.Stat{CodePage: 1252}}, &bind)
	if bind.ErrorCode != 0 || bind.ServerGUID == ([16]byte{}) || jar["MapiContext"] == nil {
		t.Fatalf("Bind = %+v, cookies %v", bind, jar)
	}
	var st mapi.GetSpecialTableResponse
	m.nspiCall(jar, "GetSpecialTable", &mapi.GetSpecialTableRequest{State: &mapi.Stat{CodePage: 1252}}, &st)
	if len(st.Rows) != 1 {
		t.Errorf("GetSpecialTable rows = %+v, want the Global Address List", st.Rows)
	}
	cols := []mapi.PropTag{mapi.PidTagDisplayName, mapi.PidTagEmailAddress, mapi.PidTagSMTPAddress}
	var qr mapi.ABQueryRowsResponse
	m.nspiCall(jar, "QueryRows", &mapi.ABQueryRowsRequest{State: &mapi.Stat{CodePage: 1252}, RowCount: 10, Columns: cols}, &qr)
	if len(qr.Rows) != 2 || qr.Rows[0][0].String() != "Alice Wood" || qr.Rows[1][2].String() != "bob@contoso.com" ||
		qr.State == nil || qr.State.TotalRecs != 2 || qr.State.CurrentRec != 2 /* MID_END_OF_TABLE */ {
		t.Fatalf("QueryRows = %+v, state %+v", qr.Rows, qr.State)
	}
	aliceDN := qr.Rows[0][1].String()
	var dm mapi.DNToMIdResponse
	m.nspiCall(jar, "DNToMId", &mapi.DNToMIdRequest{Names: []string{aliceDN, "/o=Nowhere/cn=nobody"}}, &dm)
	if len(dm.MIDs) != 2 || dm.MIDs[0] < 0x10 || dm.MIDs[1] != 0 {
		t.Fatalf("DNToMId = %+v", dm.MIDs)
	}
	var gp mapi.GetPropsResponse
	m.nspiCall(jar, "GetProps", &mapi.GetPropsRequest{State: &mapi.Stat{CurrentRec: dm.MIDs[0], CodePage: 1252},
		Tags: []mapi.PropTag{mapi.PidTagSMTPAddress, mapi.PidTagSubject}}, &gp)
	if gp.ErrorCode != mapi.ErrorsReturned || len(gp.Values) != 2 || gp.Values[0].String() != "alice@contoso.com" {
		t.Fatalf("GetProps = %v, %+v; want ErrorsReturned and the SMTP address", gp.ErrorCode, gp.Values)
	}
	if code, ok := gp.Values[1].ErrorValue(); !ok || code != mapi.ErrNotFound {
		t.Errorf("GetProps of a property entries lack = %+v, want MAPI_E_NOT_FOUND", gp.Values[1])
	}
	var ub mapi.StatusResponse
	m.nspiCall(jar, "Unbind", &mapi.UnbindRequest{}, &ub)
	res, _ := m.post("POST", "/mapi/nspi/", "GetProps", mapi.Marshal(&mapi.GetPropsRequest{}), []*http.Cookie{jar["MapiContext"], jar["MapiSequence"]}, nil)
	if responseCode(res) != int(mapi.RespContextNotFound) {
		t.Errorf("GetProps after Unbind: X-ResponseCode %s, want 10", res.Header.Get("X-ResponseCode"))
	}
}

// TestMAPISessionCap: the Session Context table is bounded by
// MaxSessions; a Connect beyond it ends the context idle the longest.
func TestMAPISessionCap(t *testing.T) {
	clock := newFakeClock()
	ts, _ := mapiServer(t, Options{MaxSessions: 2, Now: clock.Now})
	m := newMAPIRaw(t, ts)
	connect := mapi.Marshal(&mapi.ConnectRequest{})
	var first []*http.Cookie
	for i := range 3 {
		res, b := m.post("POST", "/mapi/emsmdb/", "Connect", connect, nil, nil)
		if responseCode(res) != 0 {
			t.Fatalf("Connect %d: %s", i, b)
		}
		if i == 0 {
			first = res.Cookies()
		}
		clock.Advance(time.Second)
	}
	res, _ := m.post("POST", "/mapi/emsmdb/", "PING", nil, first, nil)
	if responseCode(res) != int(mapi.RespContextNotFound) {
		t.Fatalf("PING of the oldest of 3 contexts with MaxSessions 2: X-ResponseCode %s, want 10", res.Header.Get("X-ResponseCode"))
	}
}
