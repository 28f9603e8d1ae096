package httpd

import (
	"strings"
	"testing"
)

// TestEWSImpersonation: an account with the ApplicationImpersonation role
// acts as the mailbox ExchangeImpersonation names; a mailbox that does not
// exist is ErrorNonExistentMailbox; without the role it stays
// ErrorImpersonateUserDenied (TestEWSErrors).
func TestEWSImpersonation(t *testing.T) {
	ts := ewsServer(t)
	ts.backend.addUser(User{Address: "ews-svc@contoso.com", DisplayName: "EWS Service", HomeServer: "EX01", HomeFQDN: "ex01.contoso.com",
		Impersonator: true}, "P@ssw0rd")
	as := func(login, target string) (int, string) {
		t.Helper()
		body := strings.Replace(ewsEnvelope(ewsGetInbox), `<t:RequestServerVersion Version="Exchange2016"/>`,
			`<t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>`+target+
				`</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`, 1)
		req := basicRequest("POST", ts.base+"/EWS/Exchange.asmx", login, "P@ssw0rd", strings.NewReader(body))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		resp, got := do(t, ts.client(false), req)
		return resp.StatusCode, got
	}
	_, own := postEWS(t, ts, ewsEnvelope(ewsGetInbox))
	for _, tc := range []struct {
		login, target string
		status        int
		want          string
	}{
		{"ews-svc@contoso.com", "alice@contoso.com", 200, between(own, "<t:TotalCount>", "</t:TotalCount>")},
		{"ews-svc@contoso.com", "nobody@contoso.com", 500, "<e:ResponseCode xmlns:e=\"" + nsErrors + "\">ErrorNonExistentMailbox</e:ResponseCode>"},
		{"alice@contoso.com", "bob@contoso.com", 500, "ErrorImpersonateUserDenied"},
	} {
		status, got := as(tc.login, tc.target)
		if status != tc.status || !strings.Contains(got, tc.want) || tc.want == "" {
			t.Errorf("%s as %s = %d, want %d with %q:\n%s", tc.login, tc.target, status, tc.status, tc.want, got)
		}
	}
}
