package roles

import (
	"context"
	"net/http"

	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/topology"
)

// newNTLM is the server's NTLM acceptor for SMTP, IMAP4, POP3 and HTTP:
// the lab knows every password, so NTLMv1 and NTLMv2 responses are checked
// against the topology (no domain controller). NTLMv1 is refused only with
// ntlm.require_v2 (LAN Manager authentication level 5).
func (s *Server) newNTLM() *ntlm.Server {
	t := s.rt.o.Topology
	return ntlm.NewServer(ntlm.Options{
		TargetName: t.NetBIOSDomain(), DNSDomain: t.DefaultDomain(), DNSComputer: s.Config.FQDN, NetBIOSComputer: s.Config.Name,
		RequireNTLMv2: t.NTLMRequireV2(s.Config.Name),
		Lookup: func(user, domain string) (string, string, bool) {
			name := user
			if domain != "" {
				name = domain + `\` + user
			}
			m := accounts{t: t}.lookup(name)
			if m == nil {
				m = accounts{t: t}.lookup(user)
			}
			if m == nil {
				return "", "", false
			}
			return m.Password, m.Address, true
		},
	})
}

type ctxKey int

const (
	ctxIntegrated ctxKey = iota // *ntlm.HTTPResult of the front end
	ctxBackEnd                  // the request arrived on the Exchange Back End site
)

// commonAccessToken carries the identity a front end authenticated to the
// back end it proxies to (Exchange's header name); back ends trust it only
// on the Back End site and only with a server ticket for it.
const commonAccessToken = "X-CommonAccessToken"

// serverTicketHeader carries the front end's certs.SignServerTicket for the
// identity in commonAccessToken: the lab's stand-in for the Kerberos ticket
// of the front end's machine account that Exchange sends with it. Not an
// Exchange header; it travels only on the front end to back end hop.
const serverTicketHeader = "X-ExSim-ServerTicket"

// IntegratedLogon completes Negotiate/NTLM for httpd (httpd.IntegratedAuth).
func (b webBackend) IntegratedLogon(r *http.Request) (*httpd.User, string, httpd.IntegratedStatus) {
	if r.Context().Value(ctxBackEnd) != nil {
		if acct := r.Header.Get(commonAccessToken); acct != "" {
			if !b.fromFrontEnd(r, acct) {
				return nil, "", httpd.IntegratedFailed
			}
			if m := b.r.t.Mailbox(acct); m != nil {
				return b.user(m), "", httpd.IntegratedDone
			}
			return nil, "", httpd.IntegratedFailed
		}
	}
	res, _ := r.Context().Value(ctxIntegrated).(*ntlm.HTTPResult)
	if res == nil {
		return nil, "", httpd.IntegratedNone
	}
	switch res.Status {
	case ntlm.HTTPContinue:
		return nil, res.WWWAuthenticate, httpd.IntegratedContinue
	case ntlm.HTTPAuthenticated:
		if m := b.r.t.Mailbox(res.Account); m != nil {
			return b.user(m), res.WWWAuthenticate, httpd.IntegratedDone
		}
		return nil, "", httpd.IntegratedFailed
	case ntlm.HTTPFailed:
		return nil, "", httpd.IntegratedFailed
	}
	return nil, "", httpd.IntegratedNone
}

// integratedHome runs the connection-bound NTLM/Negotiate step for a
// front-end request, keeps the result for IntegratedLogon, and returns the
// authenticated mailbox's home server (nil when not authenticated).
func (r *mailboxRole) integratedHome(req *http.Request) (*http.Request, *topology.Server, string) {
	if r.ntlmHTTP == nil {
		return req, nil, ""
	}
	res := r.ntlmHTTP.Authenticate(req)
	if res.Status == ntlm.HTTPNoCredentials {
		return req, nil, ""
	}
	req = req.WithContext(context.WithValue(req.Context(), ctxIntegrated, &res))
	if res.Status != ntlm.HTTPAuthenticated {
		return req, nil, ""
	}
	m := r.t.Mailbox(res.Account)
	if m == nil {
		return req, nil, ""
	}
	return req, r.t.Server(m.Server), res.Account
}

// backEndSite marks requests of the Exchange Back End site.
func backEndSite(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), ctxBackEnd, true)))
	})
}

// fromFrontEnd checks the server ticket of a proxied request: signed by a
// Mailbox server of the organization, for this server, for acct.
func (b webBackend) fromFrontEnd(r *http.Request, acct string) bool {
	s := b.r.s
	signer, claim, err := s.rt.ca.VerifyServerTicket(r.Header.Get(serverTicketHeader), s.Config.FQDN, s.rt.o.Now())
	if err != nil {
		s.log.Warn("proxied request refused", "remote", r.RemoteAddr, "err", err)
		return false
	}
	fe := b.r.t.ServerByFQDN(signer)
	return claim == acct && fe != nil && fe.Role == topology.RoleMailbox
}
