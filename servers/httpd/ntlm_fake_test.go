package httpd

import (
	"net/http"
	"strings"

	"github.com/exsim/exsim/internal/ntlm"
)

// fakeNTLM is exsim's NTLM acceptor (as the roles run it, CONTOSO\EX01)
// checking passwords against fake's users, and its HTTP authentication.
func fakeNTLM(fake *fakeBackend) (*ntlm.Server, *ntlm.HTTPAuth) {
	srv := ntlm.NewServer(ntlm.Options{TargetName: "CONTOSO", DNSDomain: "contoso.com", DNSComputer: labFQDN, NetBIOSComputer: "EX01",
		Lookup: func(user, _ string) (string, string, bool) {
			addr := strings.ToLower(user)
			if !strings.Contains(addr, "@") {
				addr += "@contoso.com"
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if u := fake.find(addr); u != nil {
				return u.password, u.Address, true
			}
			return "", "", false
		}})
	return srv, ntlm.NewHTTPAuth(srv, ntlm.HTTPOptions{})
}

// fakeIntegratedLogon is IntegratedAuth.IntegratedLogon over auth, for a
// fake that has Integrated Windows authentication: the account auth
// authenticated must be one of fake's users.
func fakeIntegratedLogon(auth *ntlm.HTTPAuth, fake *fakeBackend, r *http.Request) (*User, string, IntegratedStatus) {
	res := auth.Authenticate(r)
	switch res.Status {
	case ntlm.HTTPContinue:
		return nil, res.WWWAuthenticate, IntegratedContinue
	case ntlm.HTTPAuthenticated:
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if u := fake.find(res.Account); u != nil {
			uu := u.User
			return &uu, res.WWWAuthenticate, IntegratedDone
		}
		return nil, "", IntegratedFailed
	case ntlm.HTTPFailed:
		return nil, "", IntegratedFailed
	}
	return nil, "", IntegratedNone
}
