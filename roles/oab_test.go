package roles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/internal/oab"
)

// oabBlocks are the address blocks of the Offline Address Book's labs.
var oabBlocks = labtest.NewBlocks(145, 148)

var oabURLRE = regexp.MustCompile(`<OABUrl>([^<]+)</OABUrl>`)

// TestOABDownload: bob, whose mailbox is on EX02, asks Autodiscover on EX01
// for his OABUrl and downloads the Offline Address Book through EX01's
// front end with NTLM, as Outlook does; EX02's back end serves it. It holds
// the organization's mailboxes (not carol, an internet user).
func TestOABDownload(t *testing.T) {
	rt := startLabIn(t, oabBlocks, "contoso-noedge", nil)
	c := webClient(t, rt)
	base := fmt.Sprintf("https://ex01.contoso.com:%d", 443+labtest.PortOffset)
	req, _ := http.NewRequest(http.MethodPost, base+"/Autodiscover/Autodiscover.xml", strings.NewReader(
		`<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>`+
			`<EMailAddress>bob@contoso.com</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>`+
			`</Request></Autodiscover>`))
	req.Header.Set("Content-Type", "text/xml")
	req.SetBasicAuth(`CONTOSO\bob`, "P@ssw0rd")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := oabURLRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("Autodiscover %d: no OABUrl in\n%s", resp.StatusCode, body)
	}
	oabURL := strings.Replace(string(m[1]), "ex02.contoso.com", "ex01.contoso.com", 1) // through EX01's front end
	ctx := context.Background()

	var se *oab.StatusError
	if _, err := oab.Fetch(ctx, c, oabURL, "", ""); !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
		t.Errorf("without credentials: %v, want 401", err)
	}
	c.Transport = ntlmssp.Negotiator{RoundTripper: c.Transport}
	entries, err := oab.Fetch(ctx, c, oabURL, `CONTOSO\bob`, "P@ssw0rd")
	if err != nil {
		t.Fatalf("Fetch(%s) = %v", oabURL, err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.SMTPAddress] = e.DisplayName
		if !strings.HasPrefix(e.LegacyDN, "/o=") {
			t.Errorf("%s: legacyExchangeDN %q", e.SMTPAddress, e.LegacyDN)
		}
	}
	want := map[string]string{"alice@contoso.com": "Alice Wood", "bob@contoso.com": "Bob Kelly"}
	for addr, name := range want {
		if got[addr] != name {
			t.Errorf("%s: display name %q, want %q (entries %v)", addr, got[addr], name, got)
		}
	}
	if _, ok := got["carol@fabrikam.com"]; ok || len(got) < len(want) {
		t.Errorf("entries = %v", got)
	}

	other := regexp.MustCompile(`[0-9a-f-]{36}`).ReplaceAllString(oabURL, "00000000-0000-0000-0000-000000000000")
	if _, err := oab.Fetch(ctx, c, other, `CONTOSO\bob`, "P@ssw0rd"); !errors.As(err, &se) || se.StatusCode != http.StatusNotFound {
		t.Errorf("another OAB GUID: %v, want 404", err)
	}
}
