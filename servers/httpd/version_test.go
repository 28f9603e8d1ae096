package httpd

import (
	"strings"
	"testing"
)

// TestVersions: the build number shows in X-OWA-Version, EWS's
// ServerVersionInfo and ActiveSync's MS-Server-ActiveSync, for 2016 and 2019.
func TestVersions(t *testing.T) {
	for _, tt := range []struct {
		version, eas             string
		minor, build, minorBuild int
	}{
		{Version2019, "15.2", 2, 1258, 12},
		{Version2016, "15.1", 1, 2507, 6},
	} {
		o := testOptions()
		o.Version = tt.version
		o.BasicAuth = &BasicAuth{EWS: true, ActiveSync: true}
		ts := newTestServer(t, o)
		c := ts.client(false)
		resp, _ := get(t, c, ts.base+"/owa/")
		if got := resp.Header.Get("X-OWA-Version"); got != tt.version {
			t.Errorf("%s: X-OWA-Version = %q", tt.version, got)
		}
		_, body := postEWS(t, ts, ewsEnvelope(ewsGetInbox))
		if i := decodeEWS(t, body).Header.Info; i.Major != 15 || i.Minor != tt.minor || i.MajorBuild != tt.build || i.MinorBuild != tt.minorBuild {
			t.Errorf("%s: ServerVersionInfo = %+v", tt.version, i)
		}
		resp, _ = do(t, c, basicRequest("OPTIONS", ts.base+"/Microsoft-Server-ActiveSync", "alice", "P@ssw0rd", nil))
		if got := resp.Header.Get("MS-Server-ActiveSync"); got != tt.eas {
			t.Errorf("%s: MS-Server-ActiveSync = %q, want %q", tt.version, got, tt.eas)
		}
		_, page := get(t, c, ts.base+"/owa/auth/logon.aspx")
		build := strings.Join(strings.Split(tt.version, ".")[:3], ".")
		if !strings.Contains(page, "/owa/auth/"+build+"/themes/resources/owa.css") {
			t.Errorf("%s: logon page does not load its stylesheet from /owa/auth/%s/", tt.version, build)
		}
		if resp, _ := get(t, c, ts.base+"/owa/auth/"+build+"/themes/resources/owa.css"); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css" {
			t.Errorf("%s: stylesheet = %d %s", tt.version, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		o  Options
		ok bool
	}{
		{Options{FQDN: "ex01.contoso.com"}, true},
		{Options{ServerName: "EX01"}, true},
		{Options{}, false},
		{Options{FQDN: "ex01.contoso.com", Version: "15.2"}, false},
		{Options{FQDN: "ex01.contoso.com", Version: "15.x.1.1"}, false},
	} {
		if err := tt.o.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tt.o, err, tt.ok)
		}
	}
	// NewHandler replaces what does not validate and keeps working.
	h := NewHandler(newFakeBackend(), Options{FQDN: "ex01.contoso.com", Version: "garbage"})
	if h.cfg.Version != Version2019 || h.cfg.ServerName != "EX01" || h.cfg.Domain != "contoso.com" {
		t.Errorf("defaults: version %q server %q domain %q", h.cfg.Version, h.cfg.ServerName, h.cfg.Domain)
	}
}
