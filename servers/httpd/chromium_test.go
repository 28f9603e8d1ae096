package httpd

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/cdp"
)

// chromiumTrust returns the flags that make chromium trust the lab: with
// NSS's certutil, a profile whose NSS database trusts the lab CA; without
// it, the lab server certificate's key pinned by
// --ignore-certificate-errors-spki-list (only that key is accepted; every
// other certificate error still fails). HOME is where chromium looks for
// the NSS database (~/.pki/nssdb).
func chromiumTrust(t *testing.T, ts *testServer) (flags []string, env []string) {
	t.Helper()
	if certutil, err := exec.LookPath("certutil"); err == nil {
		home := t.TempDir()
		db := filepath.Join(home, ".pki", "nssdb")
		if err := os.MkdirAll(db, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"-N", "-d", "sql:" + db, "--empty-password"},
			{"-A", "-d", "sql:" + db, "-n", "exsim lab CA", "-t", "C,,", "-i", ts.caFile()},
		} {
			if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
				t.Fatalf("certutil %v: %v\n%s", args, err, out)
			}
		}
		t.Logf("chromium trusts the lab CA through an NSS database in %s", db)
		return nil, append(os.Environ(), "HOME="+home)
	}
	_, cert := labCertificate(t)
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	t.Logf("certutil not installed: chromium accepts the lab server certificate by its key pin")
	return []string{"--ignore-certificate-errors-spki-list=" + base64.StdEncoding.EncodeToString(sum[:])}, nil
}

// TestChromiumOWA drives a real browser through Outlook on the web: the
// forms logon, the inbox, a message, a new message; screenshots go to
// cdp.ArtifactDir.
func TestChromiumOWA(t *testing.T) {
	chromium := cdp.Chromium(t)
	o := testOptions()
	clock := newFakeClock() // the afternoon the inbox's messages arrived
	o.Now = clock.Now
	ts := newTestServer(t, o)
	dir := cdp.ArtifactDir(t)
	flags, env := chromiumTrust(t, ts)
	flags = append(flags, "--host-resolver-rules=MAP ex01.contoso.com 127.0.0.1")
	b := cdp.Start(t, chromium, env, flags...)

	// Unauthenticated: /owa/ redirects to the logon page.
	b.Navigate(ts.base + "/owa/")
	if got := b.EvalString("document.title"); got != "Outlook" {
		t.Fatalf("title of %s = %q, want Outlook (did TLS fail?)", b.EvalString("location.href"), got)
	}
	if href := b.EvalString("location.href"); !strings.Contains(href, "/owa/auth/logon.aspx?url=https%3a%2f%2f") {
		t.Errorf("logon page URL = %s", href)
	}
	t.Logf("screenshot: %s", b.Screenshot(dir, "1-logon.png"))

	// A wrong password first: OWA's error.
	b.ClickAndWait(`document.getElementById('username').value='CONTOSO\\alice';
		document.getElementById('password').value='nope';
		document.getElementById('signin').click()`)
	if got := b.EvalString("(document.getElementById('signInErrorDiv')||{}).textContent||''"); got != logonFailedText {
		t.Errorf("logon error = %q, want %q", got, logonFailedText)
	}
	// Then the right one, through the real form.
	b.ClickAndWait(`document.getElementById('username').value='CONTOSO\\alice';
		document.getElementById('password').value='P@ssw0rd';
		document.getElementById('signin').click()`)
	if got := b.EvalString("document.title"); got != "Alice Wood - Outlook" {
		t.Fatalf("after logon title = %q, want the inbox", got)
	}
	if n := b.Eval("document.querySelectorAll('.item').length"); n != float64(3) {
		t.Errorf("inbox items = %v, want 3", n)
	}
	if n := b.Eval("document.querySelectorAll('.item.unread').length"); n != float64(2) {
		t.Errorf("unread items = %v, want 2", n)
	}
	if w := b.EvalString("getComputedStyle(document.querySelector('.item.unread .from')).fontWeight"); w != "600" {
		t.Errorf("unread sender font-weight = %s, want 600 (bold)", w)
	}
	if bg := b.EvalString("getComputedStyle(document.querySelector('.o365bar')).backgroundColor"); bg != "rgb(0, 114, 198)" {
		t.Errorf("suite bar colour = %s, want OWA blue (the stylesheet did not load?)", bg)
	}

	// Open the report.
	b.ClickAndWait(`[...document.querySelectorAll('.item')].find(a => a.dataset.subject == 'Quarterly report').click()`)
	if got := b.EvalString("document.getElementById('msgsubject').textContent"); got != "Quarterly report" {
		t.Errorf("reading pane subject = %q", got)
	}
	if got := b.EvalString("document.getElementById('msgbody').textContent"); !strings.Contains(got, "the numbers are in. <b>Not bold</b> & fine.") {
		t.Errorf("reading pane body = %q", got)
	}
	t.Logf("screenshot: %s", b.Screenshot(dir, "2-inbox-reading.png"))

	// The HTML newsletter: its script must not run (sandboxed iframe, CSP).
	b.ClickAndWait(`[...document.querySelectorAll('.item')].find(a => a.dataset.subject.startsWith('Newsletter')).click()`)
	if got := b.EvalString("document.title"); got != "Alice Wood - Outlook" {
		t.Errorf("title after opening the newsletter = %q: its script ran", got)
	}
	t.Logf("screenshot: %s", b.Screenshot(dir, "3-html-message.png"))

	// A new message to Bob.
	b.ClickAndWait(`document.getElementById('newmsg').click()`)
	b.Eval(`document.getElementById('to').value='bob@contoso.com';
		document.getElementById('subject').value='Hello from Chromium';
		document.getElementById('body').value='Sent through Outlook on the web.\nAlice'; 1`)
	t.Logf("screenshot: %s", b.Screenshot(dir, "4-compose.png"))
	b.ClickAndWait(`document.getElementById('send').click()`)
	if got := b.EvalString("(document.getElementById('notice')||{}).textContent||''"); got != "Your message has been sent." {
		t.Errorf("after send notice = %q", got)
	}
	subs := ts.backend.submissions()
	if len(subs) != 1 || strings.Join(subs[0].rcpts, ",") != "bob@contoso.com" {
		t.Fatalf("submissions = %+v, want one to bob", subs)
	}
	sent, err := parseMessage(subs[0].msg)
	if err != nil || sent.Subject != "Hello from Chromium" || !strings.Contains(sent.Text, "Sent through Outlook on the web.\r\nAlice") {
		t.Errorf("sent message = %+v, %v", sent, err)
	}
	// The copy in Sent Items.
	b.ClickAndWait(`[...document.querySelectorAll('.folders a')].find(a => a.textContent.startsWith('Sent Items')).click()`)
	if got := b.EvalString("(document.querySelector('.item')||{dataset:{}}).dataset.subject||''"); got != "Hello from Chromium" {
		t.Errorf("Sent Items first item = %q, want the sent message", got)
	}
	t.Logf("screenshot: %s", b.Screenshot(dir, "5-sent-items.png"))

	// Sign out.
	b.ClickAndWait(`document.getElementById('signout').click()`)
	if got := b.EvalString("document.body.textContent"); !strings.Contains(got, "You have successfully signed out") {
		t.Errorf("after sign out: %q", got)
	}
}
