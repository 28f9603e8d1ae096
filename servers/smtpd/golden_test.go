package smtpd

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/exsim/exsim/servers/internal/servertest"
)

// TestGoldenTranscripts replays client scripts and compares the whole
// conversation with testdata/<name>.txt (S:/C: lines). STARTTLS in a
// script also runs the TLS handshake; lines after DATA are sent without
// waiting until the lone ".".
func TestGoldenTranscripts(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	authMechs := []string{"NTLM", "LOGIN", "PLAIN"}
	tests := []struct {
		name   string
		opts   Options
		mechs  []string
		script []string
	}{
		{"frontend_ehlo", Options{Persona: PersonaFrontend, TLSConfig: serverTLS, RequireTLSForAuth: true}, authMechs,
			[]string{"EHLO client.example.com", "STARTTLS", "EHLO client.example.com", "QUIT"}},
		{"transport_ehlo", Options{Persona: PersonaTransport, TLSConfig: serverTLS, RequireTLSForAuth: true}, authMechs,
			[]string{"EHLO ex02.contoso.com", "STARTTLS", "EHLO ex02.contoso.com", "QUIT"}},
		{"edge_ehlo", Options{Persona: PersonaEdge, TLSConfig: serverTLS, Hostname: "edge01.contoso.com"}, nil,
			[]string{"EHLO mail.fabrikam.com", "STARTTLS", "EHLO mail.fabrikam.com", "QUIT"}},
		{"frontend_notls_noauth", Options{Persona: PersonaFrontend}, nil,
			[]string{"EHLO client.example.com", "QUIT"}},
		{"helo", Options{Persona: PersonaFrontend, TLSConfig: serverTLS}, nil,
			[]string{"HELO client.example.com", "MAIL FROM:<a@fabrikam.com>", "RSET", "QUIT"}},
		{"anonymous_transaction", Options{Persona: PersonaFrontend, TLSConfig: serverTLS}, nil, []string{
			"EHLO mail.fabrikam.com",
			"MAIL FROM:<sender@fabrikam.com> SIZE=180",
			"RCPT TO:<alice@contoso.com>",
			"RCPT TO:<nobody@contoso.com>",
			"RCPT TO:<someone@example.org>",
			"DATA",
			"From: sender@fabrikam.com",
			"To: alice@contoso.com",
			"Subject: golden",
			"",
			"..a line that starts with a dot",
			"body",
			".",
			"NOOP",
			"VRFY alice",
			"HELP",
			"QUIT",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &testBackend{mechs: tt.mechs, reject: map[string]*Reply{
				"nobody@contoso.com":  ReplyRecipientNotFound,
				"someone@example.org": ReplyRelayDenied,
			}}
			tt.opts.Limits = DefaultLimits()
			tt.opts.Limits.TarpitInterval = -1
			_, addr := startServer(t, b, tt.opts)
			c := dial(t, addr)
			var out strings.Builder
			record := func(prefix, s string) {
				for _, l := range strings.Split(s, "\n") {
					out.WriteString(prefix + l + "\n")
				}
			}
			record("S: ", c.reply())
			inData := false
			for _, line := range tt.script {
				c.send(line + "\r\n")
				record("C: ", line)
				if inData && line != "." {
					continue
				}
				inData = false
				r := c.reply()
				record("S: ", r)
				switch {
				case line == "STARTTLS" && strings.HasPrefix(r, "220 "):
					c.startTLS(clientTLS)
					out.WriteString("-- TLS handshake --\n")
				case line == "DATA" && strings.HasPrefix(r, "354 "):
					inData = true
				}
			}
			c.expectEOF()
			servertest.Golden(t, filepath.Join("testdata", tt.name+".txt"), out.String())
		})
	}
}
