package httpd

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/testclock"
)

func newFakeClock() *testclock.Clock {
	return testclock.At(time.Date(2024, 3, 29, 15, 0, 0, 0, time.UTC))
}

// owaLogon posts the logon form as the page does and returns the response.
func owaLogon(t *testing.T, ts *testServer, c *http.Client, user, password string) *http.Response {
	t.Helper()
	form := url.Values{
		"destination":    {ts.base + "/owa/"},
		"flags":          {"4"},
		"forcedownlevel": {"0"},
		"username":       {user},
		"password":       {password},
		"passwordText":   {""},
		"isUtf8":         {"1"},
	}
	resp, err := c.PostForm(ts.base+"/owa/auth.owa", form)
	if err != nil {
		t.Fatalf("POST /owa/auth.owa: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return do(t, c, req)
}

// do sends req with c and returns the response with its body read.
func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// basicRequest is a request with Basic credentials.
func basicRequest(method, u, login, password string, body io.Reader) *http.Request {
	req, _ := http.NewRequest(method, u, body)
	req.SetBasicAuth(login, password)
	return req
}

func TestOWALogonFlow(t *testing.T) {
	ts := newTestServer(t, testOptions())
	c := ts.client(true)
	hostEnc := strings.ReplaceAll(ts.host, ":", "%3a")

	// Wrong password: back to the logon page with reason=2 and OWA's text.
	resp := owaLogon(t, ts, c, `CONTOSO\alice`, "wrong")
	wantLoc := ts.base + "/owa/auth/logon.aspx?url=https%3a%2f%2f" + hostEnc + "%2fowa%2f&reason=2"
	if resp.StatusCode != 302 || resp.Header.Get("Location") != wantLoc {
		t.Fatalf("wrong password: %d %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), wantLoc)
	}
	_, page := get(t, c, wantLoc)
	if !strings.Contains(page, html.EscapeString(logonFailedText)) {
		t.Errorf("logon page with reason=2 lacks %q", logonFailedText)
	}

	// Every login form logs on, and sets OWA's cookies.
	for _, login := range []string{"alice@contoso.com", `CONTOSO\alice`, "alice"} {
		resp = owaLogon(t, ts, c, login, "P@ssw0rd")
		if resp.StatusCode != 302 || resp.Header.Get("Location") != ts.base+"/owa/" {
			t.Fatalf("logon as %s: %d %q, want 302 to /owa/", login, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	cookies := map[string]*http.Cookie{}
	for _, ck := range resp.Cookies() {
		cookies[ck.Name] = ck
	}
	for _, name := range []string{"cadata", "cadataKey", "cadataIV", "cadataSig", "cadataTTL", "X-OWA-CANARY"} {
		ck := cookies[name]
		if ck == nil {
			t.Errorf("logon did not set cookie %s", name)
			continue
		}
		if !ck.Secure || !ck.HttpOnly || ck.SameSite == http.SameSiteDefaultMode {
			t.Errorf("cookie %s: Secure=%v HttpOnly=%v SameSite=%v, want all set", name, ck.Secure, ck.HttpOnly, ck.SameSite)
		}
	}

	// The inbox: newest first, unread bold, headers.
	resp, page = get(t, c, ts.base+"/owa/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /owa/ after logon = %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("X-CalculatedBETarget"); got != "ex01.contoso.com" {
		t.Errorf("X-CalculatedBETarget = %q, want ex01.contoso.com", got)
	}
	if got := resp.Header.Get("X-OWA-Version"); got != "15.2.1258.12" {
		t.Errorf("X-OWA-Version = %q", got)
	}
	subjects := regexp.MustCompile(`data-subject="([^"]*)"`).FindAllStringSubmatch(page, -1)
	var got []string
	for _, s := range subjects {
		got = append(got, html.UnescapeString(s[1]))
	}
	want := []string{"Newsletter <script>alert(1)</script>", "Lunch on Friday?", "Quarterly report"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("inbox subjects = %q, want %q", got, want)
	}
	if strings.Contains(page, "<script>") {
		t.Errorf("inbox page contains an unescaped <script>")
	}
	if n := strings.Count(page, `class="item unread`); n != 2 {
		t.Errorf("unread items = %d, want 2", n)
	}

	// ECP with the session: the options page.
	resp, page = get(t, c, ts.base+"/ecp/")
	if resp.StatusCode != 200 || !strings.Contains(page, "alice@contoso.com") {
		t.Errorf("GET /ecp/ after logon = %d, want 200 with the user", resp.StatusCode)
	}

	// Logoff ends the session.
	resp, _ = get(t, c, ts.base+"/owa/logoff.owa")
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "/owa/auth/logoff.aspx") {
		t.Errorf("logoff = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, c, ts.base+"/owa/")
	if resp.StatusCode != 302 {
		t.Errorf("GET /owa/ after logoff = %d, want 302 to the logon page", resp.StatusCode)
	}
	if n := ts.handler.sessions.len(); n != 2 {
		t.Errorf("sessions after logoff = %d, want 2 (the earlier logons)", n)
	}
}

func TestOWAReadAndSend(t *testing.T) {
	ts := newTestServer(t, testOptions())
	c := ts.client(true)
	owaLogon(t, ts, c, "alice", "P@ssw0rd")
	_, page := get(t, c, ts.base+"/owa/")

	// Open each message through its link in the list.
	links := regexp.MustCompile(`class="item[^"]*" href="([^"]+)" data-subject="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(links) != 3 {
		t.Fatalf("message links = %d, want 3", len(links))
	}
	byTitle := map[string]string{}
	for _, l := range links {
		byTitle[html.UnescapeString(l[2])] = html.UnescapeString(l[1])
	}
	resp, page := get(t, c, ts.base+byTitle["Quarterly report"])
	if resp.StatusCode != 200 {
		t.Fatalf("open message = %d", resp.StatusCode)
	}
	for _, want := range []string{"Quarterly report", "Bob Smith &lt;bob@contoso.com&gt;", "the numbers are in. &lt;b&gt;Not bold&lt;/b&gt; &amp; fine."} {
		if !strings.Contains(page, want) {
			t.Errorf("reading pane lacks %q", want)
		}
	}
	// Opening marked it read.
	_, page = get(t, c, ts.base+"/owa/")
	if n := strings.Count(page, `class="item unread`); n != 1 {
		t.Errorf("unread after opening one = %d, want 1", n)
	}
	// Latin-1 quoted-printable body decodes.
	_, page = get(t, c, ts.base+byTitle["Lunch on Friday?"])
	if !strings.Contains(page, "Café at noon?") {
		t.Errorf("latin-1 body not decoded")
	}
	// HTML goes into a sandboxed iframe, escaped into srcdoc.
	_, page = get(t, c, ts.base+byTitle["Newsletter <script>alert(1)</script>"])
	if !strings.Contains(page, `<iframe class="body-html" id="msgbody" sandbox=""`) {
		t.Errorf("html body not in a sandboxed iframe")
	}
	if strings.Contains(page, "<script>parent") || strings.Contains(page, "<h1>Spring") {
		t.Errorf("html body not escaped into srcdoc")
	}

	// The new-message form carries the canary.
	_, page = get(t, c, ts.base+"/owa/?ae=Item&a=New&t=IPM.Note")
	m := regexp.MustCompile(`name="hidcanary" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("compose form has no canary")
	}
	canary := html.UnescapeString(m[1])
	sendURL := ts.base + "/owa/?ae=PreFormAction&a=Send&t=IPM.Note"

	// Without the canary (a cross-site post): refused, nothing sent.
	resp, err := c.PostForm(sendURL, url.Values{"to": {"bob@contoso.com"}, "subject": {"x"}, "body": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || len(ts.backend.submissions()) != 0 {
		t.Errorf("send without canary = %d with %d submissions, want 403 and none", resp.StatusCode, len(ts.backend.submissions()))
	}
	// A bad address: the form comes back with the error and the fields.
	resp, err = c.PostForm(sendURL, url.Values{"hidcanary": {canary}, "to": {"not an address"}, "subject": {"Hello"}, "body": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "isn&#39;t valid") || !strings.Contains(string(b), `value="Hello"`) {
		t.Errorf("send to a bad address = %d, want the form with an error", resp.StatusCode)
	}
	// A good one.
	resp, err = c.PostForm(sendURL, url.Values{
		"hidcanary": {canary}, "to": {"Bob Smith <bob@contoso.com>; carol@fabrikam.com"}, "cc": {"alice@contoso.com"},
		"subject": {"Grüße from OWA"}, "body": {"Line one\nLine two"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "sent=1") {
		t.Fatalf("send = %d %q, want 302 to the inbox", resp.StatusCode, resp.Header.Get("Location"))
	}
	subs := ts.backend.submissions()
	if len(subs) != 1 {
		t.Fatalf("submissions = %d, want 1", len(subs))
	}
	s := subs[0]
	if s.from != "alice@contoso.com" || strings.Join(s.rcpts, ",") != "bob@contoso.com,carol@fabrikam.com,alice@contoso.com" {
		t.Errorf("submission from %s to %v", s.from, s.rcpts)
	}
	sent, err := parseMessage(s.msg)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Subject != "Grüße from OWA" || sent.From != "Alice Wood <alice@contoso.com>" || !strings.Contains(sent.Text, "Line one\r\nLine two") {
		t.Errorf("sent message = %+v", sent)
	}
	if !regexp.MustCompile(`(?m)^Message-ID: <[0-9a-f]{32}@ex01\.contoso\.com>\r$`).Match(s.msg) {
		t.Errorf("sent message has no Exchange-style Message-ID:\n%s", s.msg)
	}
	// It is in Sent Items.
	_, page = get(t, c, ts.base+"/owa/?ae=Folder&t=IPF.Note&id=sentitems")
	if !strings.Contains(page, "Grüße from OWA") {
		t.Errorf("sent items lack the sent message")
	}
}

func TestOWASessionExpiry(t *testing.T) {
	clock := newFakeClock()
	o := testOptions()
	o.Now = clock.Now
	o.SessionTimeout = 15 * time.Minute
	ts := newTestServer(t, o)
	c := ts.client(true)
	owaLogon(t, ts, c, "alice", "P@ssw0rd")
	clock.Advance(14 * time.Minute)
	if resp, _ := get(t, c, ts.base+"/owa/"); resp.StatusCode != 200 {
		t.Fatalf("GET /owa/ at 14 min = %d, want 200", resp.StatusCode)
	}
	clock.Advance(14 * time.Minute) // sliding: 14 min after the last use
	if resp, _ := get(t, c, ts.base+"/owa/"); resp.StatusCode != 200 {
		t.Fatalf("GET /owa/ at 28 min = %d, want 200", resp.StatusCode)
	}
	clock.Advance(16 * time.Minute)
	resp, _ := get(t, c, ts.base+"/owa/")
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "/owa/auth/logon.aspx") {
		t.Errorf("GET /owa/ after idle timeout = %d %q, want 302 to logon", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSessionTableBounded(t *testing.T) {
	s := newSessionStore(time.Hour, 3, newFakeClock().Now)
	u := &User{Address: "alice@contoso.com"}
	first := s.create(u)
	for range 5 {
		s.create(u)
	}
	if n := s.len(); n != 3 {
		t.Errorf("sessions = %d, want 3", n)
	}
	if s.get(first.token) != nil {
		t.Errorf("the oldest session survived")
	}
}

func TestSafeDestination(t *testing.T) {
	ts := newTestServer(t, testOptions())
	r, _ := http.NewRequest("GET", ts.base+"/", nil)
	def := "https://" + ts.host + "/owa/"
	tests := []struct{ in, want string }{
		{ts.base + "/owa/", ts.base + "/owa/"},
		{ts.base + "/ecp/?rfr=owa", ts.base + "/ecp/?rfr=owa"},
		{"https://evil.example/owa/", def},
		{"http://" + ts.host + "/owa/", def},
		{"//evil.example/owa/", def},
		{ts.base + "/owa/auth/logon.aspx", def},
		{ts.base + "/../evil", def},
		{"javascript:alert(1)", def},
		{"", def},
	}
	for _, tt := range tests {
		if got := ts.handler.safeDestination(r, tt.in); got != tt.want {
			t.Errorf("safeDestination(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
