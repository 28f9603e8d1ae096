package smtpd

import (
	"encoding/base64"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/ntlm"
)

// TestAuthNTLMBeforeTLS: with RequireTLSForAuth (Client Frontend, 587),
// EHLO offers AUTH NTLM before STARTTLS (EXCHANGE.md section 2), so AUTH
// NTLM must run there, while PLAIN and LOGIN still wait for TLS.
func TestAuthNTLMBeforeTLS(t *testing.T) {
	serverTLS, _ := testTLS(t)
	srv := ntlm.NewServer(ntlm.Options{
		TargetName: "CONTOSO", NetBIOSComputer: "EX01",
		Lookup: func(user, domain string) (string, string, bool) {
			if strings.EqualFold(user, "alice") {
				return "P@ssw0rd", "alice@contoso.com", true
			}
			return "", "", false
		},
	})
	for _, tt := range []struct {
		password string
		want     string
		id       string
	}{
		{"P@ssw0rd", "235 2.7.0 Authentication successful", "alice@contoso.com"},
		{"wrong", "535 5.7.3 Authentication unsuccessful", ""},
	} {
		b := &testBackend{mechs: []string{"NTLM", "LOGIN", "PLAIN"}, ntlm: srv}
		_, addr := startServer(t, b, Options{TLSConfig: serverTLS, RequireTLSForAuth: true})
		c := dial(t, addr)
		c.greet()
		if got := c.cmd(ehlo); !strings.Contains(got, "\n250-AUTH NTLM\n") {
			t.Fatalf("EHLO before TLS = %q, want AUTH NTLM", got)
		}
		c.expect("AUTH LOGIN", "530 5.7.0 Must issue a STARTTLS command first")
		neg, err := ntlmssp.NewNegotiateMessage("CONTOSO", "WS01")
		if err != nil {
			t.Fatal(err)
		}
		c.expect("AUTH NTLM", "334 ")
		got := c.cmd(base64.StdEncoding.EncodeToString(neg))
		code, chal, _ := strings.Cut(got, " ")
		if code != "334" {
			t.Fatalf("NEGOTIATE = %q, want 334 and a CHALLENGE", got)
		}
		chalMsg, err := base64.StdEncoding.DecodeString(chal)
		if err != nil {
			t.Fatalf("CHALLENGE %q: %v", chal, err)
		}
		auth, err := ntlmssp.ProcessChallenge(chalMsg, `CONTOSO\alice`, tt.password, false)
		if err != nil {
			t.Fatal(err)
		}
		c.expect(base64.StdEncoding.EncodeToString(auth), tt.want)
		if tt.id == "" {
			continue
		}
		runSteps(t, c, []step{{"MAIL FROM:<alice@contoso.com>", sender}, {"RCPT TO:<b@contoso.com>", rcptOK}, {"DATA", start}, {"Subject: a\r\n\r\n.\r\n", queued}})
		if m := b.messages(); len(m) != 1 || m[0].Auth != tt.id || m[0].TLS {
			t.Errorf("messages = %+v, want one from %s without TLS", m, tt.id)
		}
	}
}
