package httpd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestHTTPPort80(t *testing.T) {
	o := testOptions()
	o.Domain = "contoso.com"
	srv := httptest.NewServer(NewHTTPHandler(newFakeBackend(), o))
	t.Cleanup(srv.Close)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	tests := []struct {
		method, path, host string
		status             int
		headers            map[string][]string
		bodyHas            string
	}{
		{"GET", "/", "mail.contoso.com", 302, map[string][]string{"Location": {"https://mail.contoso.com/"}}, ""},
		{"GET", "/owa", "mail.contoso.com", 302, map[string][]string{"Location": {"https://mail.contoso.com/owa"}, "X-OWA-Version": {"15.2.1258.12"}}, ""},
		{"GET", "/owa/?ae=Item&t=IPM.Note", "mail.contoso.com:8080", 302, map[string][]string{"Location": {"https://mail.contoso.com/owa/?ae=Item&t=IPM.Note"}}, ""},
		{"GET", "/autodiscover/autodiscover.xml", "autodiscover.contoso.com", 302,
			map[string][]string{"Location": {"https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"}}, ""},
		{"POST", "/autodiscover/autodiscover.xml", "autodiscover.contoso.com", 403, nil, "HTTP Error 403.4 - Forbidden"},
		{"POST", "/EWS/Exchange.asmx", "mail.contoso.com", 403, nil, "Secure Sockets Layer (SSL)"},
		{"POST", "/mapi/emsmdb", "mail.contoso.com", 403, nil, ""},
		{"GET", "/ecp/", "mail.contoso.com", 403, nil, ""},
		{"OPTIONS", "/Microsoft-Server-ActiveSync", "mail.contoso.com", 403, nil, ""},
		{"GET", "/OAB/x/oab.xml", "mail.contoso.com", 403, nil, ""},
		{"RPC_IN_DATA", "/rpc/rpcproxy.dll", "mail.contoso.com", 401,
			map[string][]string{"WWW-Authenticate": {`Basic realm="mail.contoso.com"`, "Negotiate", "NTLM"}}, ""},
		{"GET", "/owa/calendar/alice@contoso.com/" + fakeCalendarToken + "/calendar.ics", "mail.contoso.com", 200,
			map[string][]string{"Content-Type": {"text/calendar; charset=utf-8"}}, "SUMMARY;LANGUAGE=en-US:Team meeting"},
		{"GET", "/nothing", "mail.contoso.com", 404, nil, "404"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		req.Host = tt.host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s = %d, want %d\n%s", tt.method, tt.path, resp.StatusCode, tt.status, body)
			continue
		}
		checkIISHeaders(t, tt.path, resp.Header)
		for k, want := range tt.headers {
			if got := resp.Header.Values(k); !slices.Equal(got, want) {
				t.Errorf("%s %s: %s = %q, want %q", tt.method, tt.path, k, got, want)
			}
		}
		if !strings.Contains(string(body), tt.bodyHas) {
			t.Errorf("%s %s: body lacks %q\n%s", tt.method, tt.path, tt.bodyHas, body)
		}
	}
}

// TestIISErrorPages: remote clients get IIS's custom error page, local
// ones the detailed page (DetailedLocalOnly).
func TestIISErrorPages(t *testing.T) {
	c, _ := newConfig(testOptions())
	for _, tt := range []struct {
		remote, want, notWant string
	}{
		{"192.0.2.7:51000", "<h2>403 - Forbidden: Access is denied.</h2>", "Detailed Error"},
		{"127.0.0.1:51000", "HTTP Error 403.4 - Forbidden", "<h2>"},
	} {
		r := httptest.NewRequest("GET", "http://mail.contoso.com/ews/exchange.asmx", nil)
		r.RemoteAddr = tt.remote
		r = r.WithContext(contextWithLocalAddr(r, "127.0.0.1:80"))
		w := httptest.NewRecorder()
		c.writeIISError(w, r, errSSLRequired)
		if w.Code != 403 || !strings.Contains(w.Body.String(), tt.want) || strings.Contains(w.Body.String(), tt.notWant) {
			t.Errorf("from %s: %d, want 403 with %q and without %q\n%s", tt.remote, w.Code, tt.want, tt.notWant, w.Body)
		}
	}
}
