package pop3d

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/exsim/exsim/servers/internal/servertest"
)

// transcript runs script (one command a line) and records every line both
// ways; multi-line replies are read to their ".", and a positive STLS is
// followed by the TLS handshake (noted as "# TLS").
func transcript(t *testing.T, c *popClient, script []string) string {
	t.Helper()
	c.line() // greeting
	for _, cmd := range script {
		first := c.cmd(cmd)
		kw, args, _ := strings.Cut(strings.ToUpper(cmd), " ")
		multi := kw == "CAPA" || kw == "RETR" || kw == "TOP" || ((kw == "LIST" || kw == "UIDL") && args == "")
		if strings.HasPrefix(first, "+OK") && multi {
			c.multi()
		}
		if kw == "STLS" && strings.HasPrefix(first, "+OK") {
			c.starttls()
			c.log = append(c.log, "# TLS")
		}
	}
	return strings.Join(c.log, "\n") + "\n"
}

func TestGolden(t *testing.T) {
	tests := []struct {
		file     string
		persona  Persona
		implicit bool
		script   []string
	}{
		{"exchange_110_stls.txt", ExchangePersona(), false, []string{
			"CAPA", "USER alice", "PASS P@ssw0rd", "AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", "STAT", "NOOP", "FOO",
			"STLS",
			"CAPA", "USER alice", "PASS wrong", "USER alice", "PASS P@ssw0rd",
			"STAT", "LIST", "LIST 2", "UIDL", "UIDL 1", "TOP 1 1", "RETR 2", "RETR 9",
			"DELE 1", "RETR 1", "DELE 1", "STAT", "RSET", "STAT", "NOOP", "STLS", "FOO", "QUIT",
		}},
		{"exchange_995.txt", ExchangePersona(), true, []string{
			"CAPA", "AUTH NTLM", "AUTH PLAIN", "AGFsaWNlAFBAc3N3MHJk", "UIDL", "QUIT",
		}},
		{"plain_110.txt", PlainPersona("fabrikam.com"), false, []string{
			"CAPA", "USER alice", "PASS P@ssw0rd", "STAT", "LIST", "RETR 3", "DELE 3", "RSET", "QUIT",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			o := testOptions(t, aliceStore())
			o.Persona = tt.persona
			if tt.file == "plain_110.txt" {
				o.LoginType = PlainTextLogin
			}
			addr, _ := startServer(t, o, tt.implicit)
			c := dialPOP(t, addr, tt.implicit)
			servertest.Golden(t, filepath.Join("testdata", tt.file), transcript(t, c, tt.script))
		})
	}
}
