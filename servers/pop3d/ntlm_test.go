package pop3d

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/internal/ntlm/ntlmtest"
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

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestFrontendNTLM logs on through the frontend with AUTH NTLM (MS-POP3:
// "+ " invites the NEGOTIATE_MESSAGE, "+ <CHALLENGE>" answers it), with
// NTLMv2 and NTLMv1, with and without an initial response, and reads
// alice's maildrop from the backend.
func TestFrontendNTLM(t *testing.T) {
	clients := []struct {
		name string
		neg  func() []byte
		auth func(chal []byte, pass string) ([]byte, error)
	}{
		{"NTLMv2", func() []byte { m, _ := ntlmssp.NewNegotiateMessage("CONTOSO", "WS01"); return m },
			func(chal []byte, pass string) ([]byte, error) {
				return ntlmssp.ProcessChallenge(chal, `CONTOSO\alice`, pass, false)
			}},
		{"NTLMv1", func() []byte { return ntlmtest.Negotiate(false) }, func(chal []byte, pass string) ([]byte, error) {
			return ntlmtest.Authenticate(chal, "alice", "CONTOSO", pass, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
		}},
		{"NTLMv1 ESS", func() []byte { return ntlmtest.Negotiate(true) }, func(chal []byte, pass string) ([]byte, error) {
			return ntlmtest.Authenticate(chal, "alice", "CONTOSO", pass, [8]byte{8, 7, 6, 5, 4, 3, 2, 1})
		}},
	}
	for _, cl := range clients {
		for _, ir := range []bool{false, true} {
			for _, pass := range []string{"P@ssw0rd", "wrong"} {
				t.Run(fmt.Sprintf("%s IR %v %s", cl.name, ir, pass), func(t *testing.T) {
					noLeak(t)
					addr, store, _ := twoServers(t, ExchangePersona(), true)
					c := dialPOPS(t, addr)
					c.line()
					var got string
					if ir {
						got = c.cmd("AUTH NTLM " + b64(cl.neg()))
					} else {
						c.expect("AUTH NTLM", "+ ")
						got = c.cmd(b64(cl.neg()))
					}
					chal, ok := strings.CutPrefix(got, "+ ")
					if !ok {
						t.Fatalf("NEGOTIATE_MESSAGE answered %q, want + and a CHALLENGE_MESSAGE", got)
					}
					cm, err := base64.StdEncoding.DecodeString(chal)
					if err != nil {
						t.Fatal(err)
					}
					am, err := cl.auth(cm, pass)
					if err != nil {
						t.Fatal(err)
					}
					if pass != "P@ssw0rd" {
						c.expect(b64(am), eLogon)
						return
					}
					c.expect(b64(am), okLogon)
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
	tests := []struct {
		name  string
		steps []step
	}{
		{"GSSAPI", []step{{"AUTH GSSAPI", l("+ ")}, {"YIIBhwYJKoZIhvcSAQICAQBuggF2", l(eLogon)}}},
		{"GSSAPI initial response", []step{{"AUTH GSSAPI YIIBhwYJKoZIhvcSAQICAQBuggF2", l(eLogon)}}},
		{"GSSAPI canceled", []step{{"AUTH GSSAPI", l("+ ")}, {"*", l("-ERR Authentication canceled.")}}},
		{"NTLM canceled", []step{{"AUTH NTLM", l("+ ")}, {"*", l("-ERR Authentication canceled.")}}},
		{"NTLM not base64", []step{{"AUTH NTLM", l("+ ")}, {"!!!", l(eLogon)}}},
		{"NTLM not a NEGOTIATE_MESSAGE", []step{{"AUTH NTLM " + b64([]byte("hello")), l(eLogon)}}},
		{"CRAM-MD5", []step{{"AUTH CRAM-MD5", l("-ERR Unsupported authentication mechanism.")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialPOPS(t, addr)
			c.line()
			run(t, c, tt.steps)
		})
	}
	if n := up.dials.Load(); n != 0 {
		t.Errorf("%d backend dials, want none for failed logons", n)
	}
}
