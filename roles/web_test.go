package roles

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// webClient resolves the lab's names to their addresses and trusts the lab CA.
func webClient(t *testing.T, rt *Runtime) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar: jar,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: rt.ca.Pool()},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, port, _ := net.SplitHostPort(addr)
				if s := rt.o.Topology.ServerByFQDN(host); s != nil {
					addr = net.JoinHostPort(s.Address, port)
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// getPage GETs u with c and returns the response with its body read.
func getPage(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestOWAThroughAnotherFrontEnd(t *testing.T) {
	rt := startLab(t, "contoso-noedge", func(top *topology.Topology) { top.Mailbox("alice@contoso.com").PublishCalendar = true })
	sendFrom(t, rt, "INET01", "carol@fabrikam.com", "owa inbox test", "alice@contoso.com")
	waitMail(t, rt, "EX01", "alice@contoso.com", "owa inbox test")

	c := webClient(t, rt)
	base := fmt.Sprintf("https://ex02.contoso.com:%d", 443+labtest.PortOffset)
	resp, _ := getPage(t, c, base+"/owa/")
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "/owa/auth/logon.aspx") || resp.Header.Get("X-FEServer") != "EX02" {
		t.Fatalf("GET /owa/ = %d %v", resp.StatusCode, resp.Header)
	}
	form := url.Values{"destination": {base + "/owa/"}, "flags": {"4"}, "forcedownlevel": {"0"}, "username": {`CONTOSO\alice`}, "password": {"P@ssw0rd"}, "isUtf8": {"1"}}
	resp, err := c.PostForm(base+"/owa/auth.owa", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("X-BEServer") != "EX01" {
		t.Fatalf("logon = %d %v", resp.StatusCode, resp.Header)
	}
	// The logon sets the cookie that sends the session's later requests
	// to the mailbox's server (Exchange's X-BackEndCookie).
	if !slices.ContainsFunc(resp.Cookies(), func(c *http.Cookie) bool {
		return c.Name == backEndCookie && c.Value == "EX01" && c.Secure && c.HttpOnly
	}) {
		t.Errorf("logon through EX02 sets cookies %v, want a secure, HttpOnly %s naming EX01", resp.Cookies(), backEndCookie)
	}
	resp, page := getPage(t, c, base+"/owa/")
	if resp.StatusCode != 200 || !strings.Contains(page, "owa inbox test") {
		t.Fatalf("inbox through EX02 = %d\n%s", resp.StatusCode, page)
	}
	for k, want := range map[string]string{"X-FEServer": "EX02", "X-BEServer": "EX01", "X-CalculatedBETarget": "ex01.contoso.com"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	// The mailbox's own server proxies through its Back End site too.
	own := fmt.Sprintf("https://ex01.contoso.com:%d", 443+labtest.PortOffset)
	form.Set("destination", own+"/owa/")
	if resp, err = c.PostForm(own+"/owa/auth.owa", form); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, page = getPage(t, c, own+"/owa/")
	if resp.StatusCode != 200 || !strings.Contains(page, "owa inbox test") {
		t.Fatalf("inbox on EX01 = %d\n%s", resp.StatusCode, page)
	}
	for k, want := range map[string]string{"X-FEServer": "EX01", "X-BEServer": "EX01", "X-DiagInfo": "EX01", "X-CalculatedBETarget": "ex01.contoso.com"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("on the mailbox's own server: %s = %q, want %q", k, got, want)
		}
	}

	// Published calendar over HTTP 80 on the other front end, at its
	// PublishedCalendarUrl; without its token, or a mailbox that does not
	// publish: 404.
	top := rt.Topology()
	pub, err := url.Parse(PublishedCalendarURL(rt.CA(), top, top.Server("EX02"), "alice@contoso.com"))
	if err != nil || !strings.HasSuffix(pub.Path, "/calendar.html") {
		t.Fatalf("PublishedCalendarURL = %v, %v", pub, err)
	}
	http80 := fmt.Sprintf("http://ex02.contoso.com:%d", 80+labtest.PortOffset)
	resp, ics := getPage(t, c, http80+strings.TrimSuffix(pub.Path, ".html")+".ics")
	if resp.StatusCode != 200 || !strings.HasPrefix(ics, "BEGIN:VCALENDAR\r\n") {
		t.Errorf("published calendar = %d %q", resp.StatusCode, ics)
	}
	id, token, _ := strings.Cut(strings.TrimPrefix(pub.Path, "/owa/calendar/"), "/")
	token, _, _ = strings.Cut(token, "/")
	bob := calendarID("bob@contoso.com") + "/" + calendarToken(rt.CA(), "bob@contoso.com")
	for _, p := range []string{
		"/owa/calendar/alice@contoso.com/calendar/calendar.ics", // the old guessable URL
		"/owa/calendar/" + id + "/calendar.ics",
		"/owa/calendar/" + id + "/" + strings.Repeat("0", len(token)) + "/calendar.ics",
		"/owa/calendar/" + bob + "/calendar.ics",
	} {
		if resp, _ := getPage(t, c, http80+p); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestOWASendGoesThroughTransport(t *testing.T) {
	rt := startLab(t, "contoso-noedge", nil)
	be := webBackend{r: rt.Server("EX01").role.(*mailboxRole)}
	u, err := be.Authenticate(context.Background(), "alice", "P@ssw0rd")
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: Alice Wood <alice@contoso.com>\r\nTo: bob@contoso.com, carol@fabrikam.com\r\nSubject: from owa\r\nMessage-ID: <owa-1@contoso.com>\r\n\r\nhi\r\n"
	if err := be.Submit(context.Background(), u, []string{"bob@contoso.com", "carol@fabrikam.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	waitMail(t, rt, "EX02", "bob@contoso.com", "from owa")
	waitMail(t, rt, "INET01", "carol@fabrikam.com", "from owa")
	sent, err := be.ListFolder(context.Background(), "alice@contoso.com", "Sent Items")
	if err != nil || len(sent) != 1 || sent[0].Subject != "from owa" {
		t.Errorf("Sent Items = %+v, %v", sent, err)
	}
	evs, _, _ := rt.Server("EX01").transport.Tracking().Search(transport.TrackingQuery{MessageID: "<owa-1@contoso.com>"})
	if !hasEvent(evs, "SUBMIT", "") || !hasEvent(evs, "RECEIVE", `EX01\Mailbox Transport Submission`) {
		t.Errorf("tracking = %+v", evs)
	}
}
