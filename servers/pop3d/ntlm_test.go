package pop3d

import (
	"context"
	"fmt"
	"testing"

	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/servers/internal/servertest"
)

var _ MechanismAuthenticator = contosoAuth{}

// Mechanism gives the frontend NTLM against the store's passwords.
func (a contosoAuth) Mechanism(ctx context.Context, name string) (FrontendExchange, bool) {
	if name != ntlm.Mechanism {
		return nil, false
	}
	srv := ntlm.NewServer(ntlm.Options{
		TargetName: "CONTOSO", NetBIOSComputer: "EX02",
		Lookup: func(user, domain string) (string, string, bool) {
			account := accountOf(user)
			a.store.mu.Lock()
			defer a.store.mu.Unlock()
			pw, ok := a.store.passwords[account]
			return pw, account, ok
		},
	})
	return &ntlmExchange{a: a, s: ntlm.NewSASLServer(srv, nil)}, true
}

type ntlmExchange struct {
	a contosoAuth
	s *ntlm.SASLServer
}

func (x *ntlmExchange) Next(resp []byte) ([]byte, bool, error) {
	c, done, err := x.s.Next(resp)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrLogonFailure, err)
	}
	return c, done, nil
}

func (x *ntlmExchange) Credentials() (string, string, string) {
	account := x.s.Account()
	x.a.store.mu.Lock()
	defer x.a.store.mu.Unlock()
	return account, account, x.a.store.passwords[account]
}

// TestFrontendNTLM logs on through the frontend with AUTH NTLM (MS-POP3:
// "+ " invites the NEGOTIATE_MESSAGE, "+ <CHALLENGE>" answers it), with
// NTLMv2 and NTLMv1, with and without an initial response, and reads
// alice's maildrop from the backend.
func TestFrontendNTLM(t *testing.T) {
	for _, cl := range servertest.NTLMClients {
		for _, ir := range []bool{false, true} {
			for _, pass := range []string{"P@ssw0rd", "wrong"} {
				t.Run(fmt.Sprintf("%s IR %v %s", cl.Name, ir, pass), func(t *testing.T) {
					noLeak(t)
					addr, store, _ := twoServers(t, ExchangePersona(), true)
					c := greeted(t, addr, true)
					var got string
					if ir {
						got = c.cmd("AUTH NTLM " + servertest.B64(cl.Negotiate()))
					} else {
						c.expect("AUTH NTLM", "+ ")
						got = c.cmd(servertest.B64(cl.Negotiate()))
					}
					am := cl.Respond(t, got, `CONTOSO\alice`, pass)
					if pass != "P@ssw0rd" {
						c.expect(am, eLogon)
						return
					}
					c.expect(am, okLogon)
					run(t, c, []step{
						{"STAT", l("+OK 3 " + itoa(size1+size2+size3))},
						{"QUIT", l(okQuit)},
					})
					waitClosed(t, store, "alice")
				})
			}
		}
	}
}

// TestFrontendSASLRefusals: GSSAPI is advertised and fails as a logon;
// NTLM can be canceled and fails on garbage.
func TestFrontendSASLRefusals(t *testing.T) {
	addr, _, up := twoServers(t, ExchangePersona(), true)
	tests := []dialogue{
		{"GSSAPI", []step{{"AUTH GSSAPI", l("+ ")}, {"YIIBhwYJKoZIhvcSAQICAQBuggF2", l(eLogon)}}},
		{"GSSAPI initial response", []step{{"AUTH GSSAPI YIIBhwYJKoZIhvcSAQICAQBuggF2", l(eLogon)}}},
		{"GSSAPI canceled", []step{{"AUTH GSSAPI", l("+ ")}, {"*", l("-ERR Authentication canceled.")}}},
		{"NTLM canceled", []step{{"AUTH NTLM", l("+ ")}, {"*", l("-ERR Authentication canceled.")}}},
		{"NTLM not base64", []step{{"AUTH NTLM", l("+ ")}, {"!!!", l(eLogon)}}},
		{"NTLM not a NEGOTIATE_MESSAGE", []step{{"AUTH NTLM " + servertest.B64([]byte("hello")), l(eLogon)}}},
		{"CRAM-MD5", []step{{"AUTH CRAM-MD5", l("-ERR Unsupported authentication mechanism.")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := greeted(t, addr, true)
			run(t, c, tt.steps)
		})
	}
	if n := up.dials.Load(); n != 0 {
		t.Errorf("%d backend dials, want none for failed logons", n)
	}
}
