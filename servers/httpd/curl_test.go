package httpd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// curlClient runs the real curl against a test server, resolving
// ex01.contoso.com to it and trusting only the lab CA.
type curlClient struct {
	t    *testing.T
	path string
	ts   *testServer
	ca   string
}

func newCurl(t *testing.T, ts *testServer) *curlClient {
	t.Helper()
	p, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	return &curlClient{t: t, path: p, ts: ts, ca: ts.caFile()}
}

func (c *curlClient) run(args ...string) string {
	c.t.Helper()
	_, port, _ := strings.Cut(c.ts.host, ":")
	base := []string{"--silent", "--show-error", "--max-time", "20", "--cacert", c.ca,
		"--resolve", labFQDN + ":" + port + ":127.0.0.1", "--http1.1"}
	out, err := exec.Command(c.path, append(base, args...)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestCurl(t *testing.T) {
	o := testOptions()
	o.BasicAuth = &BasicAuth{EWS: true, Autodiscover: true, ActiveSync: true, RPC: true}
	ts := newTestServer(t, o)
	curl := newCurl(t, ts)
	hostEnc := strings.ReplaceAll(ts.host, ":", "%3a")

	t.Run("owa redirect chain", func(t *testing.T) {
		out := curl.run("--location", "--output", "/dev/null", "--write-out", "%{url_effective} %{http_code} %{num_redirects}", ts.base+"/")
		want := ts.base + "/owa/auth/logon.aspx?url=https%3a%2f%2f" + hostEnc + "%2fowa%2f&reason=0 200 2"
		if out != want {
			t.Errorf("curl -L / = %q, want %q", out, want)
		}
	})

	t.Run("challenges", func(t *testing.T) {
		realm := `WWW-Authenticate: Basic realm="` + ts.host + `"`
		for path, want := range map[string][]string{
			"/EWS/Exchange.asmx":                        {"WWW-Authenticate: Negotiate", "WWW-Authenticate: NTLM", realm},
			"/Autodiscover/Autodiscover.xml":            {"WWW-Authenticate: Negotiate", "WWW-Authenticate: NTLM", realm},
			"/Microsoft-Server-ActiveSync":              {realm},
			"/mapi/emsmdb":                              {"WWW-Authenticate: Negotiate", "WWW-Authenticate: NTLM"},
			"/mapi/nspi":                                {"WWW-Authenticate: Negotiate", "WWW-Authenticate: NTLM"},
			"/rpc/rpcproxy.dll":                         {realm, "WWW-Authenticate: Negotiate", "WWW-Authenticate: NTLM"},
			"/OAB/" + ts.handler.cfg.OABID + "/oab.xml": {"WWW-Authenticate: Negotiate", "WWW-Authenticate: NTLM"},
		} {
			out := curl.run("-I", ts.base+path)
			if !strings.HasPrefix(out, "HTTP/1.1 401 Unauthorized\r\n") {
				t.Errorf("curl -sI %s: %q", path, firstLine(out))
				continue
			}
			var got []string
			for _, l := range strings.Split(out, "\r\n") {
				if strings.HasPrefix(l, "WWW-Authenticate: ") {
					got = append(got, l)
				}
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("curl -sI %s: %q, want %q", path, got, want)
			}
			for _, h := range []string{"Server: Microsoft-IIS/10.0", "X-FEServer: EX01", "X-Powered-By: ASP.NET"} {
				if !strings.Contains(out, "\r\n"+h+"\r\n") {
					t.Errorf("curl -sI %s lacks %q", path, h)
				}
			}
		}
	})

	t.Run("autodiscover.json", func(t *testing.T) {
		out := curl.run(ts.base + "/autodiscover/autodiscover.json/v1.0/alice@contoso.com?Protocol=EWS")
		if want := `{"Protocol":"EWS","Url":"https://` + labFQDN + `/EWS/Exchange.asmx"}`; out != want {
			t.Errorf("autodiscover.json = %s, want %s", out, want)
		}
	})

	t.Run("autodiscover pox", func(t *testing.T) {
		req := filepath.Join(t.TempDir(), "req.xml")
		os.WriteFile(req, []byte(adOutlookRequest("alice@contoso.com")), 0o644)
		out := curl.run("--user", "alice@contoso.com:P@ssw0rd", "-H", "Content-Type: text/xml", "--data-binary", "@"+req,
			ts.base+"/autodiscover/autodiscover.xml")
		for _, want := range []string{
			`<Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">`,
			"<AutoDiscoverSMTPAddress>alice@contoso.com</AutoDiscoverSMTPAddress>",
			"<Type>EXPR</Type>",
			"<ASUrl>https://" + labFQDN + "/EWS/Exchange.asmx</ASUrl>",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("autodiscover response lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("ews finditem", func(t *testing.T) {
		req := filepath.Join(t.TempDir(), "finditem.xml")
		os.WriteFile(req, []byte(ewsEnvelope(strings.Replace(ewsFindInbox, `MaxEntriesReturned="2"`, `MaxEntriesReturned="10"`, 1))), 0o644)
		out := curl.run("--user", `CONTOSO\alice:P@ssw0rd`, "-H", "Content-Type: text/xml; charset=utf-8", "--data-binary", "@"+req,
			ts.base+"/EWS/Exchange.asmx")
		for _, want := range []string{
			`<h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1258" MinorBuildNumber="12"`,
			`<m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>`,
			"<t:Subject>Quarterly report</t:Subject>",
			"<t:Subject>Newsletter &lt;script&gt;alert(1)&lt;/script&gt;</t:Subject>",
			"<t:EmailAddress>bob@contoso.com</t:EmailAddress>",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("FindItem response lacks %q:\n%s", want, out)
			}
		}
	})
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}
