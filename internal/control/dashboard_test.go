package control_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labtest"
)

const testToken = "dashboard-test-token"

// patience bounds every wait for the lab or the browser.
const patience = 30 * time.Second

// signedIn is an HTTP client holding the dashboard's session cookie.
func signedIn(t *testing.T, base string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.PostForm(base+"/login", url.Values{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="server-table"`) {
		t.Fatalf("after login: %s\n%.300s", resp.Status, body)
	}
	return c
}

// TestDashboardAuth: the page asks for the token; a wrong token, a
// cross-site POST and a POST without the session are refused; the API
// keeps its bearer token.
func TestDashboardAuth(t *testing.T) {
	_, base := startDashboard(t, nil)
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := anon.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), `name="token"`) || strings.Contains(string(body), "EDGE01") {
		t.Errorf("GET / without a session = %s, want 401 and the login form only\n%.300s", resp.Status, body)
	}

	resp, err = anon.PostForm(base+"/login", url.Values{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || len(resp.Cookies()) != 1 || resp.Cookies()[0].Name != "exsim_flash" {
		t.Errorf("POST /login with a wrong token = %s with cookies %v, want 303 and only the flash cookie", resp.Status, resp.Cookies())
	}

	c := signedIn(t, base)
	u, _ := url.Parse(base)
	var session *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "exsim_session" {
			session = ck
		}
	}
	if session == nil || strings.Contains(session.Value, testToken) {
		t.Fatalf("session cookie = %v, want one that does not hold the token", session)
	}

	for _, tc := range []struct {
		name    string
		headers map[string]string
		cookie  bool
		want    int
	}{
		{"no session", map[string]string{"Sec-Fetch-Site": "same-origin"}, false, 401},
		{"cross-site with session", map[string]string{"Sec-Fetch-Site": "cross-site"}, true, 403},
		{"foreign Origin with session", map[string]string{"Origin": "http://evil.example"}, true, 403},
		{"same-origin with session", map[string]string{"Sec-Fetch-Site": "same-origin", "X-Exsim-Async": "1"}, true, 200},
	} {
		req, _ := http.NewRequest("POST", base+"/ui/faults/clear", nil)
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		if tc.cookie {
			req.AddCookie(session)
		}
		resp, err := anon.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: POST /ui/faults/clear = %s, want %d", tc.name, resp.Status, tc.want)
		}
	}

	// The session cookie is the dashboard's, not the API's.
	req, _ := http.NewRequest("GET", base+"/v1/faults", nil)
	req.AddCookie(session)
	resp, err = anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("GET /v1/faults with the session cookie only = %s, want 401 (the API takes the bearer token)", resp.Status)
	}
}

// TestDashboardEvents: the event stream sends every live section, and a
// probe through the API (as `exsim probe` runs it) reaches it.
func TestDashboardEvents(t *testing.T) {
	_, base := startDashboard(t, nil)
	c := signedIn(t, base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("/events Content-Type = %q", ct)
	}
	events := make(chan map[string]string, 64)
	go func() { // ends when the test cancels the request
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]string
				if json.Unmarshal([]byte(data), &m) == nil {
					events <- m
				}
			}
		}
	}()
	next := func(want func(id, html string) bool, what string) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case m, ok := <-events:
				if !ok {
					t.Fatalf("event stream ended before %s", what)
				}
				if want(m["id"], m["html"]) {
					return
				}
			case <-timeout:
				t.Fatalf("no event with %s", what)
			}
		}
	}
	seen := map[string]bool{}
	next(func(id, _ string) bool { seen[id] = true; return len(seen) == 8 }, "all eight sections")

	cl := &control.Client{BaseURL: base, Token: testToken}
	if _, err := cl.Probe(ctx, control.ProbeRequest{Flows: []string{edgeToMailbox(t)}}); err != nil {
		t.Fatal(err)
	}
	next(func(id, html string) bool {
		return id == "flows" && strings.Contains(html, `data-flow="`+edgeToMailbox(t)+`" data-state="pass"`)
	}, "the probed flow passing")
}

func TestDashboardFaultsAndCounters(t *testing.T) {
	rt, base := startDashboard(t, nil)
	c := signedIn(t, base)
	post := func(path string, form url.Values) string {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Exsim-Async", "1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"from": {"NOPE"}, "action": {"drop"}}, `400 fault: from "NOPE" is not a server of the topology`},
		{url.Values{"port": {"x"}, "action": {"drop"}}, `400 fault: port "x" is not a port number`},
		{url.Values{"action": {"explode"}}, `400 fault: action "explode": use drop, reset, delay or idle`},
		{url.Values{"from": {"EDGE01"}, "to": {"EX01"}, "port": {"25"}, "action": {"reset"}}, "200 fault #"},
	} {
		if got := post("/ui/faults", tc.form); !strings.HasPrefix(got, tc.want) {
			t.Errorf("add fault %v = %q, want %q", tc.form, got, tc.want)
		}
	}
	list := rt.Faults().List()
	added := list[len(list)-1]
	if added.From != "EDGE01" || added.Port != 25+labtest.PortOffset || added.To != rt.Topology().Server("EX01").Address {
		t.Errorf("injected fault = %+v, want EDGE01 -> EX01's address, port moved by the offset", added)
	}
	if got := post("/ui/queues", url.Values{"server": {"EX01"}, "queue": {`EX01\99`}, "action": {"retry"}}); !strings.HasPrefix(got, "404 ") {
		t.Errorf("retry of an unknown queue = %q, want 404", got)
	}
	if got := post("/ui/faults/clear", nil); got != "200 1 injected faults cleared (the simulated firewall stays)" {
		t.Errorf("clear = %q", got)
	}

	sendInbound(t, rt, "counted")
	labtest.Eventually(t, patience, "delivery to alice", func() bool { return slices.Contains(inbox(rt, "EX01", "alice@contoso.com"), "counted") })
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`<td>EDGE01\Default internal Receive connector EDGE01</td><td class="num">1</td>`, "<svg", `class="badge unknown"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %s:\n%s", want, page[strings.Index(string(page), `id="counter-table"`):])
		}
	}
}
