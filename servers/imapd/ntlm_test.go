package imapd

import (
	"context"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/servers/internal/servertest"
)

// testNTLM is the Frontend's NTLM acceptor in the tests: the users of
// testAuth, in the CONTOSO domain.
var testNTLM = ntlm.NewServer(ntlm.Options{
	TargetName: "CONTOSO", DNSDomain: "contoso.com", NetBIOSComputer: "EX02",
	Lookup: func(user, domain string) (string, string, bool) {
		u := strings.ToLower(user)
		if !strings.Contains(u, "@") {
			u += "@contoso.com"
		}
		if u != "alice@contoso.com" && u != "bob@contoso.com" {
			return "", "", false
		}
		return password, u, true
	},
})

var _ MechanismAuthenticator = testAuth{}

func (testAuth) Mechanism(_ context.Context, name string) (SASLExchange, bool) {
	if name != ntlm.Mechanism {
		return nil, false
	}
	return ntlmExchange{ntlm.NewSASLServer(testNTLM, nil)}, true
}

type ntlmExchange struct{ *ntlm.SASLServer }

func (x ntlmExchange) Credentials() (string, string) { return x.Account(), password }

// TestFrontendAuthenticateNTLM logs on through the Frontend with
// AUTHENTICATE NTLM, with and without SASL-IR, with NTLMv2 and NTLMv1, and
// checks that the session is relayed to the backend as the user.
func TestFrontendAuthenticateNTLM(t *testing.T) {
	l := newLab(t, labOptions{})
	for _, cl := range servertest.NTLMClients {
		for _, ir := range []bool{false, true} {
			for _, pass := range []string{password, "wrong"} {
				name := cl.Name
				if ir {
					name += " SASL-IR"
				}
				if pass != password {
					name += " wrong password"
				}
				t.Run(name, func(t *testing.T) {
					c := dialText(t, l.fe993, l.clientTLS)
					c.recv()
					var got string
					if ir {
						got = c.cmd("a AUTHENTICATE NTLM " + servertest.B64(cl.Negotiate()))
					} else {
						if got = c.cmd("a AUTHENTICATE NTLM"); got != "+ " {
							t.Fatalf("AUTHENTICATE NTLM = %q, want an empty challenge %q", got, "+ ")
						}
						got = c.reply("a", servertest.B64(cl.Negotiate()))
					}
					got = c.reply("a", cl.Respond(t, got, `CONTOSO\alice`, pass))
					want := "a OK AUTHENTICATE completed."
					if pass != password {
						want = "a NO AUTHENTICATE failed."
					}
					if got != want {
						t.Fatalf("AUTHENTICATE_MESSAGE = %q, want %q", got, want)
					}
					if pass != password {
						return
					}
					// Relayed: the backend answers, in alice's mailbox, in Exchange's words
					// (STATUS is the backend's alone: the frontend has no mailbox).
					if got := c.cmd("n NOOP"); got != "n OK NOOP completed." {
						t.Errorf("NOOP after logon = %q, want the backend's reply", got)
					}
					if got := c.cmd(`s STATUS INBOX (MESSAGES)`); got != "s OK STATUS completed." {
						t.Errorf("STATUS after logon = %q", got)
					}
				})
			}
		}
	}
}

func TestFrontendAuthenticateRefusals(t *testing.T) {
	l := newLab(t, labOptions{frontend: FrontendOptions{MaxLogonFailures: 10}})
	cases := []struct {
		name  string
		steps []string
		want  string
	}{
		// Exchange without a KDC: the token is taken, the logon fails.
		{"GSSAPI", []string{"t AUTHENTICATE GSSAPI", "YIIBhwYJKoZIhvcSAQICAQBuggF2"}, "t NO AUTHENTICATE failed."},
		{"GSSAPI SASL-IR", []string{"t AUTHENTICATE GSSAPI YIIBhwYJKoZIhvcSAQICAQBuggF2"}, "t NO AUTHENTICATE failed."},
		{"NTLM cancel", []string{"t AUTHENTICATE NTLM", "*"}, "t BAD Command Argument Error. 11"},
		{"NTLM garbage", []string{"t AUTHENTICATE NTLM", "!!!"}, "t NO AUTHENTICATE failed."},
		{"NTLM not a NEGOTIATE_MESSAGE", []string{"t AUTHENTICATE NTLM " + servertest.B64([]byte("hello"))}, "t NO AUTHENTICATE failed."},
		{"CRAM-MD5", []string{"t AUTHENTICATE CRAM-MD5"}, "t NO AUTHENTICATE failed."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { logonSteps(t, l, tc.steps, tc.want) })
	}
	// Before STARTTLS on 143 AUTHENTICATE is refused whatever the mechanism.
	c := dialText(t, l.fe143, nil)
	c.recv()
	if got := c.cmd("a AUTHENTICATE NTLM"); got != "a BAD Command received in Invalid state." {
		t.Errorf("AUTHENTICATE NTLM before TLS = %q", got)
	}
}
