package httpd

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestOWALockout: after MaxFailures wrong passwords from one source, even
// the right password is refused, without asking the backend, until the
// lockout ends.
func TestOWALockout(t *testing.T) {
	clock := newFakeClock()
	o := testOptions()
	o.Now = clock.Now
	o.Throttle = Throttle{MaxFailures: 3, Lockout: 10 * time.Minute, BaseDelay: -1}
	ts := newTestServer(t, o)
	c := ts.client(true)
	for i := range 3 {
		if resp := owaLogon(t, ts, c, "alice", "guess"); !strings.HasSuffix(resp.Header.Get("Location"), "reason=2") {
			t.Fatalf("wrong password %d: %q, want reason=2", i, resp.Header.Get("Location"))
		}
	}
	calls := ts.backend.authCount()
	resp := owaLogon(t, ts, c, "alice", "P@ssw0rd")
	if !strings.HasSuffix(resp.Header.Get("Location"), "reason=2") {
		t.Errorf("right password during lockout: %q, want reason=2", resp.Header.Get("Location"))
	}
	if ts.backend.authCount() != calls {
		t.Errorf("the backend was asked during the lockout")
	}
	// Basic is throttled by the same record.
	bresp, _ := do(t, c, basicRequest("OPTIONS", ts.base+"/Microsoft-Server-ActiveSync", "alice", "P@ssw0rd", nil))
	if bresp.StatusCode != 401 {
		t.Errorf("Basic during lockout = %d, want 401", bresp.StatusCode)
	}
	clock.Advance(11 * time.Minute)
	resp = owaLogon(t, ts, c, "alice", "P@ssw0rd")
	if resp.Header.Get("Location") != ts.base+"/owa/" {
		t.Errorf("logon after the lockout: %q, want /owa/", resp.Header.Get("Location"))
	}
}

// TestBasicLockout: the same through Basic on Autodiscover.
func TestBasicLockout(t *testing.T) {
	o := testOptions()
	o.Throttle = Throttle{MaxFailures: 2, BaseDelay: -1}
	ts := newTestServer(t, o)
	c := ts.client(false)
	try := func(password string) int {
		resp, _ := do(t, c, basicRequest("POST", ts.base+"/Autodiscover/Autodiscover.xml", "alice@contoso.com", password, strings.NewReader(adOutlookRequest("alice@contoso.com"))))
		return resp.StatusCode
	}
	if got := try("P@ssw0rd"); got != 200 {
		t.Fatalf("right password = %d, want 200", got)
	}
	try("x")
	try("y")
	if got := try("P@ssw0rd"); got != 401 {
		t.Errorf("right password after 2 failures = %d, want 401 (locked out)", got)
	}
}

// TestLogonFormGarbage: an oversized or empty form never reaches the backend.
func TestLogonFormGarbage(t *testing.T) {
	ts := newTestServer(t, testOptions())
	c := ts.client(false)
	resp, err := c.PostForm(ts.base+"/owa/auth.owa", url.Values{"username": {strings.Repeat("a", 20000)}, "password": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("oversized logon form = %d, want 413", resp.StatusCode)
	}
	resp, err = c.PostForm(ts.base+"/owa/auth.owa", url.Values{"username": {""}, "password": {""}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || !strings.HasSuffix(resp.Header.Get("Location"), "reason=2") {
		t.Errorf("empty logon form = %d %q, want 302 reason=2", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := ts.backend.authCount(); n != 0 {
		t.Errorf("backend asked %d times, want 0", n)
	}
}
