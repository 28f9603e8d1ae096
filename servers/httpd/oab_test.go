package httpd

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/internal/oab"
)

// ntlmBackend is the fake backend with Integrated Windows authentication
// done by exsim's NTLM acceptor, on the connection, as the roles do.
type ntlmBackend struct {
	*fakeBackend
	auth *ntlm.HTTPAuth
}

var _ IntegratedAuth = ntlmBackend{}

func (b ntlmBackend) IntegratedLogon(r *http.Request) (*User, string, IntegratedStatus) {
	return fakeIntegratedLogon(b.auth, b.fakeBackend, r)
}

// newNTLMTestServer is the test server with NTLM and Negotiate completed
// against the fake's passwords.
func newNTLMTestServer(t *testing.T) *testServer {
	t.Helper()
	fake := newFakeBackend()
	_, auth := fakeNTLM(fake)
	return newTestServerConn(t, testOptions(), ntlmBackend{fake, auth}, fake, auth.ConnContext)
}

// ntlmClient logs on as Outlook does: anonymously first, then NTLM.
func (ts *testServer) ntlmClient() *http.Client {
	c := ts.client(false)
	c.Transport = ntlmssp.Negotiator{RoundTripper: c.Transport}
	return c
}

// oabURL is alice's OABUrl from Autodiscover.
func oabURL(t *testing.T, ts *testServer) string {
	t.Helper()
	_, body := postAutodiscover(t, ts, adOutlookRequest("alice@contoso.com"))
	var doc adOutlookDoc
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range doc.Response.Account.Protocol {
		if p.Type == "EXCH" && p.OABUrl != "" {
			return p.OABUrl
		}
	}
	t.Fatalf("no OABUrl in\n%s", body)
	return ""
}

// The whole download through HTTPS with NTLM: the manifest at Autodiscover's
// OABUrl, the full file it names, checked by oab.FetchDetails (size, SHA-1,
// container, details layout), holding alice and bob as NSPI knows them.
func TestOABDownload(t *testing.T) {
	ts := newNTLMTestServer(t)
	u := oabURL(t, ts)
	ctx := context.Background()
	d, err := oab.FetchDetails(ctx, ts.ntlmClient(), u, `CONTOSO\alice`, "P@ssw0rd")
	if err != nil {
		t.Fatalf("FetchDetails(%s) = %v", u, err)
	}
	if d.Name != `\Global Address List` || d.DN != "/" || d.Sequence != 1 || d.ContainerGUID != galGUID(ts.handler.cfg) {
		t.Errorf("header = %q %q seq %d %q", d.Name, d.DN, d.Sequence, d.ContainerGUID)
	}
	want, err := addressBook(ctx, ts.backend, ts.handler.cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]oab.Entry{}
	for _, e := range d.Entries {
		got[e.SMTPAddress] = e
	}
	for _, w := range want {
		e, ok := got[w.Address]
		if !ok || e.DisplayName != w.DisplayName || e.LegacyDN != w.LegacyDN || e.Account != w.Alias || string(e.ObjectGUID) != string(w.GUID[:]) {
			t.Errorf("entry %s = %+v, want %+v", w.Address, e, w)
		}
	}
	if len(d.Entries) != 2 || d.Entries[0].DisplayName != "Alice Wood" || d.Entries[1].DisplayName != "Bob Smith" {
		t.Errorf("entries = %+v", d.Entries)
	}

	// The same directory is the same generation; a new mailbox is the next.
	if d, err = oab.FetchDetails(ctx, ts.ntlmClient(), u, `CONTOSO\bob`, "P@ssw0rd"); err != nil || d.Sequence != 1 {
		t.Fatalf("second download: seq %v, %v", d, err)
	}
	ts.backend.mu.Lock()
	ts.backend.addUser(User{Address: "carol@contoso.com", DisplayName: "Carol Jones", MailboxGUID: "1b2c3d4e-5f60-4718-293a-4b5c6d7e8f90"}, "P@ssw0rd")
	ts.backend.mu.Unlock()
	if d, err = oab.FetchDetails(ctx, ts.ntlmClient(), u+"oab.xml", `CONTOSO\alice`, "P@ssw0rd"); err != nil {
		t.Fatal(err)
	}
	if len(d.Entries) != 3 || d.Entries[2].SMTPAddress != "carol@contoso.com" || d.Sequence != 2 {
		t.Fatalf("after adding carol: seq %d, %+v", d.Sequence, d.Entries)
	}
}

func TestOABRefusals(t *testing.T) {
	ts := newNTLMTestServer(t)
	u := oabURL(t, ts)
	ctx := context.Background()
	get := func(c *http.Client, method, url string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, url, nil)
		req.SetBasicAuth(`CONTOSO\alice`, "P@ssw0rd")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	plain, withNTLM := ts.client(false), ts.ntlmClient()

	// No Windows credentials (Basic is not enabled on OAB): the challenge.
	resp := get(plain, http.MethodGet, u+"oab.xml")
	if resp.StatusCode != 401 || strings.Join(resp.Header.Values("WWW-Authenticate"), ",") != "Negotiate,NTLM" {
		t.Errorf("Basic only: %d %v, want 401 Negotiate,NTLM", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	var se *oab.StatusError
	if _, err := oab.Fetch(ctx, plain, u, "", ""); !errors.As(err, &se) || se.StatusCode != 401 {
		t.Errorf("Fetch without credentials = %v, want a 401 StatusError", err)
	}
	// A wrong password: 401 again.
	if _, err := oab.Fetch(ctx, withNTLM, u, `CONTOSO\alice`, "wrong"); !errors.As(err, &se) || se.StatusCode != 401 {
		t.Errorf("Fetch with a wrong password = %v, want a 401 StatusError", err)
	}
	// Authenticated: unknown GUIDs and files are IIS's 404, other methods 405.
	other := strings.Replace(u, ts.handler.cfg.OABID, "00000000-0000-0000-0000-000000000000", 1)
	for _, tt := range []struct {
		method, url string
		want        int
	}{
		{"GET", other + "oab.xml", 404},
		{"GET", u + "nothing-data-1.lzx", 404},
		{"GET", u, 404},
		{"GET", strings.TrimSuffix(u, "/"+ts.handler.cfg.OABID+"/") + "/", 404},
		{"POST", u + "oab.xml", 405},
		{"HEAD", u + "OAB.XML", 200}, // IIS matches paths without regard to case
	} {
		if resp := get(withNTLM, tt.method, tt.url); resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.url, resp.StatusCode, tt.want)
		}
	}
	// BITS downloads in ranges.
	m := oabManifest(t, ts, withNTLM, u)
	resp = get(withNTLM, "GET", u+m.OALs[0].Full.Name, "Range", "bytes=0-15")
	if resp.StatusCode != 206 || resp.ContentLength != 16 {
		t.Errorf("Range request = %d, %d bytes", resp.StatusCode, resp.ContentLength)
	}
}

func oabManifest(t *testing.T, ts *testServer, c *http.Client, u string) *oab.Manifest {
	t.Helper()
	req, _ := http.NewRequest("GET", u+"oab.xml", nil)
	req.SetBasicAuth(`CONTOSO\alice`, "P@ssw0rd")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml" {
		t.Fatalf("oab.xml = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	m, err := oab.ParseManifest(b)
	if err != nil || len(m.OALs) != 1 || m.OALs[0].Full == nil {
		t.Fatalf("manifest %s: %v", b, err)
	}
	return m
}
