package httpd

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
)

func adOutlookRequest(email string) string {
	return adPOXRequest("outlook", "2006a", email)
}

func adMobileRequest(email string) string {
	return adPOXRequest("mobilesync", "2006", email)
}

// adPOXRequest is a POX request of the schema family (outlook, mobilesync)
// that accepts the response schema of the version given.
func adPOXRequest(family, responseVersion, email string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/` + family + `/requestschema/2006">
  <Request>
    <EMailAddress>` + email + `</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/` + family + `/responseschema/` + responseVersion + `</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
}

func postAutodiscover(t *testing.T, ts *testServer, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req := basicRequest("POST", ts.base+"/Autodiscover/Autodiscover.xml", "alice@contoso.com", "P@ssw0rd", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, ts.client(false), req)
}

// adOutlookDoc is the outlook response as a client reads it.
type adOutlookDoc struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		User    struct {
			DisplayName, LegacyDN, AutoDiscoverSMTPAddress, DeploymentId string
		}
		Account struct {
			AccountType, Action string
			Protocol            []struct {
				TypeAttr              string `xml:"Type,attr"`
				VersionAttr           string `xml:"Version,attr"`
				MailStore             struct{ InternalUrl, ExternalUrl string }
				AddressBook           struct{ InternalUrl, ExternalUrl string }
				Type                  string
				Server                string
				ServerVersion         string
				ASUrl, OOFUrl, OABUrl string
				External              struct {
					OWAUrl string
				}
			}
		}
	}
}

func TestAutodiscoverOutlook(t *testing.T) {
	ts := newTestServer(t, testOptions())
	resp, body := postAutodiscover(t, ts, adOutlookRequest("alice@contoso.com"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
		t.Fatalf("POST = %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if got := resp.Header.Get("X-CalculatedBETarget"); got != "ex01.contoso.com" {
		t.Errorf("X-CalculatedBETarget = %q", got)
	}
	var doc adOutlookDoc
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("response does not parse in Exchange's namespaces: %v\n%s", err, body)
	}
	u := doc.Response.User
	if u.DisplayName != "Alice Wood" || u.AutoDiscoverSMTPAddress != "alice@contoso.com" || !guidRE.MatchString(u.DeploymentId) ||
		u.LegacyDN != "/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=5a0a1d3e4b6f4a4e9d7c2f1e0c9b8a71-alice" {
		t.Errorf("User = %+v", u)
	}
	if doc.Response.Account.AccountType != "email" || doc.Response.Account.Action != "settings" {
		t.Errorf("Account = %+v", doc.Response.Account)
	}
	// No virtual directory URLs configured: Exchange's defaults on the
	// server's FQDN, not the host the client happened to use.
	base := "https://" + labFQDN
	mailboxID := "5a0a1d3e-4b6f-4a4e-9d7c-2f1e0c9b8a71@contoso.com"
	byType := map[string]int{}
	for i, p := range doc.Response.Account.Protocol {
		byType[p.Type+p.TypeAttr] = i
	}
	protos := doc.Response.Account.Protocol
	// Without X-MapiHttpCapability, no mapiHttp (its Version must not
	// exceed the header's, MS-OXDSCLI 2.2.4.1.1.2.6).
	if _, ok := byType["mapiHttp"]; ok {
		t.Errorf("mapiHttp protocol for a client that did not ask for it:\n%s", body)
	}
	for _, typ := range []string{"EXCH", "EXPR"} {
		i, ok := byType[typ]
		if !ok {
			t.Errorf("no %s protocol", typ)
			continue
		}
		p := protos[i]
		if p.ASUrl != base+"/EWS/Exchange.asmx" || p.OOFUrl != base+"/EWS/Exchange.asmx" || p.OABUrl != base+"/OAB/"+ts.handler.cfg.OABID+"/" {
			t.Errorf("%s URLs = %s %s %s", typ, p.ASUrl, p.OOFUrl, p.OABUrl)
		}
	}
	if p := protos[byType["EXCH"]]; p.Server != mailboxID || p.ServerVersion != "73C284EA" {
		t.Errorf("EXCH Server %q ServerVersion %q, want %q 73C284EA", p.Server, p.ServerVersion, mailboxID)
	}
	if p := protos[byType["EXPR"]]; p.Server != labFQDN {
		t.Errorf("EXPR Server = %q, want %q", p.Server, labFQDN)
	}
	if i, ok := byType["WEB"]; !ok || protos[i].External.OWAUrl != base+"/owa/" {
		t.Errorf("WEB protocol wrong or missing")
	}
}

// TestAutodiscoverVirtualDirectories: configured InternalUrl and
// ExternalUrl go to EXCH and EXPR respectively; JSON gets the external.
func TestAutodiscoverVirtualDirectories(t *testing.T) {
	o := testOptions()
	o.VirtualDirectories = map[string]VirtualDirectory{
		"ews": {InternalURL: "https://ex01.contoso.com/EWS/Exchange.asmx", ExternalURL: "https://mail.contoso.com/EWS/Exchange.asmx"},
		"oab": {InternalURL: "https://ex01.contoso.com/OAB/", ExternalURL: "https://mail.contoso.com/OAB"},
	}
	o.HTTPSPort = 10443
	ts := newTestServer(t, o)
	_, body := postAutodiscover(t, ts, adOutlookRequest("alice@contoso.com"))
	var doc adOutlookDoc
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string][4]string{}
	for _, p := range doc.Response.Account.Protocol {
		got[p.Type] = [4]string{p.Server, p.ASUrl, p.OABUrl, p.External.OWAUrl}
	}
	oab := ts.handler.cfg.OABID
	want := map[string][4]string{
		"EXCH": {"5a0a1d3e-4b6f-4a4e-9d7c-2f1e0c9b8a71@contoso.com", "https://ex01.contoso.com/EWS/Exchange.asmx", "https://ex01.contoso.com/OAB/" + oab + "/", ""},
		"EXPR": {"mail.contoso.com", "https://mail.contoso.com/EWS/Exchange.asmx", "https://mail.contoso.com/OAB/" + oab + "/", ""},
		"WEB":  {"", "", "", "https://ex01.contoso.com:10443/owa/"}, // OWA not configured: the default, on the HTTPS port
		"":     {},
	}
	for typ, w := range want {
		if typ != "" && got[typ] != w {
			t.Errorf("%s = %q, want %q", typ, got[typ], w)
		}
	}
	resp, err := ts.client(false).Get(ts.base + "/autodiscover/autodiscover.json/v1.0/alice@contoso.com?Protocol=EWS")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"Protocol":"EWS","Url":"https://mail.contoso.com/EWS/Exchange.asmx"}`; string(b) != want {
		t.Errorf("autodiscover.json = %s, want %s", b, want)
	}
}

func TestServerVersion(t *testing.T) {
	for _, tt := range []struct{ v, want string }{
		{"15.1.2176.2", "73C18880"}, // Exchange 2016 CU19, from a real server
		{"15.0.516.32", "73C08204"}, // Exchange 2013 RTM
	} {
		v, _ := parseVersion(tt.v)
		if got := serverVersion(v); got != tt.want {
			t.Errorf("serverVersion(%s) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

func TestAutodiscoverMobileSync(t *testing.T) {
	ts := newTestServer(t, testOptions())
	resp, body := postAutodiscover(t, ts, adMobileRequest("alice@contoso.com"))
	var doc struct {
		Response struct {
			XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006 Response"`
			Culture string
			User    struct{ DisplayName, EMailAddress string }
			Server  struct{ Type, Url, Name string } `xml:"Action>Settings>Server"`
		} `xml:"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006 Response"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); resp.StatusCode != 200 || err != nil {
		t.Fatalf("POST = %d %v\n%s", resp.StatusCode, err, body)
	}
	if s := doc.Response.Server; s.Type != "MobileSync" || s.Url != "https://"+labFQDN+"/Microsoft-Server-ActiveSync" {
		t.Errorf("Server = %+v", s)
	}
	if doc.Response.User.EMailAddress != "alice@contoso.com" || doc.Response.Culture != "en:us" {
		t.Errorf("User = %+v culture %q", doc.Response.User, doc.Response.Culture)
	}
}

func TestAutodiscoverErrors(t *testing.T) {
	ts := newTestServer(t, testOptions())
	tests := []struct {
		name, body string
		code       string
		message    string
		ns         string // the namespace of the Response holding the Error
	}{
		{"unknown address", adOutlookRequest("nobody@contoso.com"), "500", "The email address can't be found.", nsADResponse},
		{"malformed xml", "<Autodiscover><Request>", "600", "Invalid Request", nsADResponse},
		{"not xml", "hello", "600", "Invalid Request", nsADResponse},
		{"wrong namespace", strings.ReplaceAll(adOutlookRequest("alice@contoso.com"), "requestschema/2006", "requestschema/2099"), "600", "Invalid Request", nsADResponse},
		{"no address", strings.ReplaceAll(adOutlookRequest(""), "<EMailAddress></EMailAddress>", ""), "600", "Invalid Request", nsADResponse},
		{"bad response schema", strings.ReplaceAll(adOutlookRequest("alice@contoso.com"), "2006a", "2099"), "601", "Provider is not available", nsADResponse},
		{"mobile bad schema", strings.ReplaceAll(adMobileRequest("alice@contoso.com"), "responseschema/2006", "responseschema/2099"), "601", "Provider is not available", nsADMobileResponse},
		{"oversized", adOutlookRequest(strings.Repeat("a", 70<<10)), "600", "Invalid Request", nsADResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postAutodiscover(t, ts, tt.body)
			var doc struct {
				Response struct {
					XMLName xml.Name
					Error   struct {
						Time, Id  string `xml:",attr"`
						ErrorCode string
						Message   string
					}
				}
			}
			if err := xml.Unmarshal([]byte(body), &doc); resp.StatusCode != 200 || err != nil {
				t.Fatalf("POST = %d %v\n%s", resp.StatusCode, err, body)
			}
			e := doc.Response.Error
			if e.ErrorCode != tt.code || e.Message != tt.message || doc.Response.XMLName.Space != tt.ns || e.Time == "" || e.Id == "" {
				t.Errorf("error = %s %q in %s, want %s %q in %s\n%s", e.ErrorCode, e.Message, doc.Response.XMLName.Space, tt.code, tt.message, tt.ns, body)
			}
		})
	}
	// A browser's authenticated GET.
	resp, b := do(t, ts.client(false), basicRequest("GET", ts.base+"/autodiscover/autodiscover.xml", "alice", "P@ssw0rd", nil))
	if resp.StatusCode != 200 || !strings.Contains(b, "<ErrorCode>600</ErrorCode>") || !strings.Contains(b, "<Message>Invalid Request</Message>") {
		t.Errorf("GET with auth = %d\n%s", resp.StatusCode, b)
	}
}

// TestAutodiscoverMapiHTTP: a MAPI over HTTP client (X-MapiHttpCapability)
// gets the mapiHttp Protocol with the emsmdb and nspi URLs and the WEB
// block, as MS-OXDSCLI 4.4's example; a header that is not a positive
// number is no header.
func TestAutodiscoverMapiHTTP(t *testing.T) {
	ts := newTestServer(t, testOptions())
	base := "https://" + labFQDN
	mailboxID := "5a0a1d3e-4b6f-4a4e-9d7c-2f1e0c9b8a71@contoso.com"
	for _, tt := range []struct {
		header string
		mapi   bool
	}{{"1", true}, {"2", true}, {"0", false}, {"yes", false}} {
		_, body := postAutodiscover(t, ts, adOutlookRequest("alice@contoso.com"), "X-MapiHttpCapability", tt.header)
		var doc adOutlookDoc
		if err := xml.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatalf("X-MapiHttpCapability %s: %v\n%s", tt.header, err, body)
		}
		var types []string
		for _, p := range doc.Response.Account.Protocol {
			types = append(types, p.Type+p.TypeAttr)
			if p.TypeAttr == "mapiHttp" && (p.VersionAttr != "1" ||
				p.MailStore.ExternalUrl != base+"/mapi/emsmdb/?MailboxId="+mailboxID ||
				p.AddressBook.ExternalUrl != base+"/mapi/nspi/?MailboxId="+mailboxID) {
				t.Errorf("X-MapiHttpCapability %s: mapiHttp protocol wrong:\n%s", tt.header, body)
			}
		}
		want := "EXCH EXPR WEB"
		if tt.mapi {
			want = "mapiHttp WEB"
		}
		if got := strings.Join(types, " "); got != want {
			t.Errorf("X-MapiHttpCapability %s: protocols %s, want %s", tt.header, got, want)
		}
	}
}
