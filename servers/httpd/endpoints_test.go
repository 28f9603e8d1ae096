package httpd

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// checkIISHeaders asserts the headers every response of EXCHANGE.md
// section 6 carries.
func checkIISHeaders(t *testing.T, name string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Server":           "Microsoft-IIS/10.0",
		"X-Powered-By":     "ASP.NET",
		"X-AspNet-Version": "4.0.30319",
		"X-FEServer":       "EX01",
	} {
		if got := h.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s: header %s = %q, want [%q]", name, k, got, want)
		}
	}
	if id := h.Get("request-id"); !guidRE.MatchString(id) {
		t.Errorf("%s: request-id = %q, want a GUID", name, id)
	}
}

// TestEndpoints is EXCHANGE.md section 6's table, row by row: the exact
// status and headers of every endpoint without credentials.
func TestEndpoints(t *testing.T) {
	ts := newTestServer(t, testOptions())
	c := ts.client(false)
	host := ts.host
	hostEnc := strings.ReplaceAll(host, ":", "%3a")
	basicRealm := `Basic realm="` + host + `"`
	tests := []struct {
		name, method, path string
		auth               [2]string // Basic login and password, if any
		status             int
		headers            map[string][]string // exact values
		body               string              // exact body, if set
		bodyHas            string
	}{
		{name: "root", method: "GET", path: "/", status: 302,
			headers: map[string][]string{"Location": {"https://" + host + "/owa/"}}},
		{name: "owa", method: "GET", path: "/owa/", status: 302,
			headers: map[string][]string{
				"Location":      {"https://" + host + "/owa/auth/logon.aspx?url=https%3a%2f%2f" + hostEnc + "%2fowa%2f&reason=0"},
				"X-OWA-Version": {"15.2.1258.12"},
			}},
		{name: "owa without slash", method: "GET", path: "/owa", status: 301,
			headers: map[string][]string{"Location": {"https://" + host + "/owa/"}}},
		{name: "owa case-insensitive", method: "GET", path: "/OWA/", status: 302,
			headers: map[string][]string{"Location": {"https://" + host + "/owa/auth/logon.aspx?url=https%3a%2f%2f" + hostEnc + "%2fOWA%2f&reason=0"}}},
		{name: "logon page", method: "GET", path: "/owa/auth/logon.aspx?url=https%3a%2f%2f" + hostEnc + "%2fowa%2f&reason=0", status: 200,
			headers: map[string][]string{"X-OWA-Version": {"15.2.1258.12"}, "Content-Type": {"text/html; charset=utf-8"}},
			bodyHas: "<title>Outlook</title>"},
		{name: "ecp", method: "GET", path: "/ecp/", status: 302,
			headers: map[string][]string{"Location": {"https://" + host + "/owa/auth/logon.aspx?url=https%3a%2f%2f" + hostEnc + "%2fecp%2f&reason=0"}}},
		{name: "ews", method: "POST", path: "/EWS/Exchange.asmx", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {"Negotiate", "NTLM"}, "Content-Length": {"0"}}},
		{name: "ews lower case", method: "POST", path: "/ews/exchange.asmx", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {"Negotiate", "NTLM"}}},
		{name: "ews basic refused when disabled", method: "POST", path: "/EWS/Exchange.asmx", auth: [2]string{"alice", "P@ssw0rd"}, status: 401,
			headers: map[string][]string{"WWW-Authenticate": {"Negotiate", "NTLM"}}},
		{name: "autodiscover", method: "GET", path: "/Autodiscover/Autodiscover.xml", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {"Negotiate", "NTLM", basicRealm}}},
		{name: "autodiscover post", method: "POST", path: "/autodiscover/autodiscover.xml", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {"Negotiate", "NTLM", basicRealm}}},
		{name: "autodiscover wrong password", method: "POST", path: "/autodiscover/autodiscover.xml", auth: [2]string{"alice", "wrong"}, status: 401,
			headers: map[string][]string{"WWW-Authenticate": {"Negotiate", "NTLM", basicRealm}}},
		{name: "autodiscover.json ews", method: "GET", path: "/autodiscover/autodiscover.json/v1.0/alice@contoso.com?Protocol=EWS", status: 200,
			headers: map[string][]string{"Content-Type": {"application/json; charset=utf-8"}},
			body:    `{"Protocol":"EWS","Url":"https://` + labFQDN + `/EWS/Exchange.asmx"}`},
		{name: "autodiscover.json activesync", method: "GET", path: "/autodiscover/autodiscover.json/v1.0/alice@contoso.com?Protocol=ActiveSync", status: 200,
			body: `{"Protocol":"ActiveSync","Url":"https://` + labFQDN + `/Microsoft-Server-ActiveSync"}`},
		{name: "autodiscover.json email query", method: "GET", path: "/autodiscover/autodiscover.json?Email=alice@contoso.com&Protocol=AutodiscoverV1", status: 200,
			body: `{"Protocol":"AutodiscoverV1","Url":"https://` + labFQDN + `/Autodiscover/Autodiscover.xml"}`},
		{name: "autodiscover.json unknown protocol", method: "GET", path: "/autodiscover/autodiscover.json/v1.0/alice@contoso.com?Protocol=Gopher", status: 400,
			body: `{"ErrorCode":"InvalidProtocol","ErrorMessage":"The given protocol value 'Gopher' is invalid. Supported values are 'ActiveSync, AutodiscoverV1, Ews'"}`},
		{name: "activesync", method: "POST", path: "/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=X&DeviceType=iPhone", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {basicRealm}}},
		{name: "activesync options unauthenticated", method: "OPTIONS", path: "/Microsoft-Server-ActiveSync", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {basicRealm}}},
		{name: "activesync options", method: "OPTIONS", path: "/Microsoft-Server-ActiveSync", auth: [2]string{"alice@contoso.com", "P@ssw0rd"}, status: 200,
			headers: map[string][]string{
				"MS-ASProtocolVersions": {"2.5,12.0,12.1,14.0,14.1,16.0,16.1"},
				"MS-ASProtocolCommands": {easProtocolCommands},
				"MS-Server-ActiveSync":  {"15.2"},
				"Allow":                 {"OPTIONS,POST"},
				"X-CalculatedBETarget":  {"ex01.contoso.com"},
			}},
		{name: "mapi emsmdb", method: "POST", path: "/mapi/emsmdb/?MailboxId=5a0a1d3e-4b6f-4a4e-9d7c-2f1e0c9b8a71@contoso.com", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {"Negotiate", "NTLM"}}},
		{name: "mapi nspi", method: "POST", path: "/mapi/nspi/", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {"Negotiate", "NTLM"}}},
		{name: "rpc", method: "RPC_IN_DATA", path: "/rpc/rpcproxy.dll?ex01.contoso.com:6001", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {basicRealm, "Negotiate", "NTLM"}}},
		{name: "oab", method: "GET", path: "/OAB/" + ts.handler.cfg.OABID + "/oab.xml", status: 401,
			headers: map[string][]string{"WWW-Authenticate": {"Negotiate", "NTLM"}}},
		{name: "published calendar", method: "GET", path: "/owa/calendar/alice@contoso.com/8f6c2a1b0e3d4c5b9a7f6e5d4c3b2a19/calendar.ics", status: 200,
			headers: map[string][]string{"Content-Type": {"text/calendar; charset=utf-8"}, "X-CalculatedBETarget": {"ex01.contoso.com"}},
			bodyHas: "BEGIN:VCALENDAR\r\n"},
		{name: "unpublished calendar", method: "GET", path: "/owa/calendar/bob@contoso.com/x/calendar.ics", status: 404},
		{name: "unknown path", method: "GET", path: "/nosuchthing.aspx", status: 404,
			headers: map[string][]string{"Content-Type": {"text/html"}}, bodyHas: "HTTP Error 404.0 - Not Found"},
		{name: "method not allowed", method: "DELETE", path: "/owa/auth/logon.aspx", status: 405,
			headers: map[string][]string{"Allow": {"GET, HEAD"}}, bodyHas: "HTTP Error 405.0 - Method Not Allowed"},
		{name: "root method not allowed", method: "POST", path: "/", status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, ts.base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth[0] != "" {
				req.SetBasicAuth(tt.auth[0], tt.auth[1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d, want %d\n%s", tt.method, tt.path, resp.StatusCode, tt.status, body)
			}
			checkIISHeaders(t, tt.name, resp.Header)
			for k, want := range tt.headers {
				if got := resp.Header.Values(k); !slices.Equal(got, want) {
					t.Errorf("%s %s: header %s = %q, want %q", tt.method, tt.path, k, got, want)
				}
			}
			if tt.body != "" && string(body) != tt.body {
				t.Errorf("%s %s: body = %s, want %s", tt.method, tt.path, body, tt.body)
			}
			if tt.bodyHas != "" && !strings.Contains(string(body), tt.bodyHas) {
				t.Errorf("%s %s: body lacks %q:\n%s", tt.method, tt.path, tt.bodyHas, body)
			}
		})
	}
}

// TestEndpointsBasicEnabled: with Basic enabled on EWS the challenge adds
// Basic, and with it disabled on Autodiscover it drops it.
func TestEndpointsBasicEnabled(t *testing.T) {
	o := testOptions()
	o.BasicAuth = &BasicAuth{EWS: true}
	ts := newTestServer(t, o)
	c := ts.client(false)
	realm := `Basic realm="` + ts.host + `"`
	tests := []struct {
		path string
		want []string
	}{
		{"/EWS/Exchange.asmx", []string{"Negotiate", "NTLM", realm}},
		{"/Autodiscover/Autodiscover.xml", []string{"Negotiate", "NTLM"}},
		{"/Microsoft-Server-ActiveSync", []string{"Negotiate", "NTLM"}},
		{"/rpc/rpcproxy.dll", []string{"Negotiate", "NTLM"}},
	}
	for _, tt := range tests {
		resp, err := c.Post(ts.base+tt.path, "text/xml", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || !slices.Equal(got, tt.want) {
			t.Errorf("POST %s = %d %q, want 401 %q", tt.path, resp.StatusCode, got, tt.want)
		}
	}
}

// TestExternalHost: URLs use ExternalHost instead of the request's Host.
func TestExternalHost(t *testing.T) {
	o := testOptions()
	o.ExternalHost = "mail.contoso.com"
	ts := newTestServer(t, o)
	resp, err := ts.client(false).Get(ts.base + "/owa/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "https://mail.contoso.com/owa/auth/logon.aspx?url=https%3a%2f%2fmail.contoso.com%2fowa%2f&reason=0"
	if got := resp.Header.Get("Location"); got != want {
		t.Errorf("GET /owa/ Location = %q, want %q", got, want)
	}
}

// TestRawHeaderSpelling: on HTTP/1.1 the headers are spelled as Exchange
// spells them, not as Go canonicalizes them.
func TestRawHeaderSpelling(t *testing.T) {
	ts := newTestServer(t, testOptions())
	conn, err := tlsDial(ts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /owa/ HTTP/1.1\r\nHost: "+ts.host+"\r\nConnection: close\r\n\r\n")
	raw, _ := io.ReadAll(conn)
	for _, want := range []string{"\r\nX-FEServer: EX01\r\n", "\r\nrequest-id: ", "\r\nX-OWA-Version: 15.2.1258.12\r\n", "\r\nX-AspNet-Version: 4.0.30319\r\n", "\r\nServer: Microsoft-IIS/10.0\r\n"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("response lacks %q:\n%s", want, raw)
		}
	}
}
