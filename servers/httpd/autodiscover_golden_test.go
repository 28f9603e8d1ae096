package httpd

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/golden"
)

// adLegacyDNRequest asks by LegacyDN only, as Outlook does for a profile
// it already has.
func adLegacyDNRequest(dn string) string {
	return strings.Replace(adOutlookRequest(""), "<EMailAddress></EMailAddress>", "<LegacyDN>"+dn+"</LegacyDN>", 1)
}

// TestAutodiscoverGolden compares Autodiscover's answers, as alice asks
// for her own, another user's and unknown addresses, with
// testdata/autodiscover/<name>.txt (-update rewrites them). bob is homed
// on EX02, whose virtual directories have their own URLs: his settings
// name EX02's, not those of EX01, which answers.
func TestAutodiscoverGolden(t *testing.T) {
	ts := newTestServer(t, testOptions())
	bob := ts.backend.find("bob@contoso.com")
	bob.HomeVirtualDirectories = map[string]VirtualDirectory{
		"ews": {InternalURL: "https://ex02.contoso.com/EWS/Exchange.asmx", ExternalURL: "https://mail2.contoso.com/EWS/Exchange.asmx"},
		"owa": {ExternalURL: "https://mail2.contoso.com/owa/"},
	}
	bobDN := legacyDN(ts.handler.cfg, &bob.User)
	tests := []struct{ name, body string }{
		{"outlook-self", adOutlookRequest("alice@contoso.com")},
		{"outlook-other-server", adOutlookRequest("bob@contoso.com")},
		{"outlook-legacydn", adLegacyDNRequest(bobDN)},
		{"outlook-unknown", adOutlookRequest("nobody@contoso.com")},
		// An address of a domain the organization does not hold, with no
		// recipient object (mail user or contact) in its directory: not a
		// redirectAddr, which Exchange returns only for a recipient whose
		// targetAddress is elsewhere.
		{"outlook-other-domain", adOutlookRequest("carol@fabrikam.com")},
		{"outlook-unknown-legacydn", adLegacyDNRequest("/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=nobody")},
		{"mobilesync-other-server", adMobileRequest("bob@contoso.com")},
		{"mobilesync-unknown", adMobileRequest("nobody@contoso.com")},
	}
	// Error elements carry the time and a random id.
	volatile := regexp.MustCompile(`<Error Time="[^"]*" Id="[0-9]+">`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postAutodiscover(t, ts, tt.body)
			body = volatile.ReplaceAllString(body, `<Error Time="TIME" Id="ID">`)
			golden.Check(t, filepath.Join("testdata", "autodiscover", tt.name+".txt"), fmt.Sprintf("C: %s\nS: %d\n%s\n", tt.body, resp.StatusCode, body))
		})
	}
	for _, tt := range []struct{ name, path string }{
		{"json-self", "/autodiscover/autodiscover.json/v1.0/alice@contoso.com?Protocol=EWS"},
		{"json-other-server", "/autodiscover/autodiscover.json/v1.0/bob@contoso.com?Protocol=EWS"},
		{"json-other-server-activesync", "/autodiscover/autodiscover.json?Email=bob@contoso.com&Protocol=ActiveSync"},
		{"json-unknown", "/autodiscover/autodiscover.json/v1.0/nobody@fabrikam.com?Protocol=EWS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.base+tt.path, nil)
			resp, body := do(t, ts.client(false), req)
			golden.Check(t, filepath.Join("testdata", "autodiscover", tt.name+".txt"), fmt.Sprintf("C: GET %s\nS: %d %s\n%s\n", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body))
		})
	}
}
