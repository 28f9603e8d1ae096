package pop3d

import (
	"encoding/json"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exsim/exsim/servers/internal/servertest"
)

func TestPythonPoplib(t *testing.T) {
	py := servertest.NeedTool(t, "python3")
	ca := caFile(t)
	script, _ := filepath.Abs(filepath.Join("testdata", "poplib_client.py"))
	tests := []struct {
		mode      string
		persona   Persona
		login     LoginType
		implicit  bool
		welcome   string
		logon     string
		capaAfter []string
	}{
		{"plain", PlainPersona("fabrikam.com"), PlainTextLogin, false, "+OK POP3 server ready fabrikam.com", "+OK Logged in.", nil},
		{"stls", ExchangePersona(), SecureLogin, false, "+OK The Microsoft Exchange POP3 service is ready.", okLogon, []string{"SASL", "TOP", "UIDL", "USER"}},
		{"ssl", ExchangePersona(), SecureLogin, true, "+OK The Microsoft Exchange POP3 service is ready.", okLogon, nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			store := aliceStore()
			o := testOptions(t, store)
			o.Persona, o.LoginType = tt.persona, tt.login
			addr, _ := startServer(t, o, tt.implicit)
			host, port, _ := net.SplitHostPort(addr)
			out := servertest.Output(t, "", py, script, tt.mode, host, port, ca, "alice", "P@ssw0rd")
			var got struct {
				Welcome    string   `json:"welcome"`
				CapaBefore []string `json:"capa_before"`
				CapaAfter  []string `json:"capa_after"`
				Stls       string   `json:"stls"`
				Logon      string   `json:"logon"`
				Stat       []int    `json:"stat"`
				List       []string `json:"list"`
				Uidl       []string `json:"uidl"`
				Retr1      []string `json:"retr1"`
				Top2       []string `json:"top2"`
				Quit       string   `json:"quit"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("poplib output %q: %v", out, err)
			}
			if got.Welcome != tt.welcome || got.Logon != tt.logon {
				t.Errorf("welcome, logon = %q, %q; want %q, %q", got.Welcome, got.Logon, tt.welcome, tt.logon)
			}
			if tt.capaAfter != nil && !slices.Equal(got.CapaAfter, tt.capaAfter) {
				t.Errorf("capa after STLS = %v, want %v", got.CapaAfter, tt.capaAfter)
			}
			if tt.mode == "stls" && !slices.Equal(got.CapaBefore, []string{"STLS", "TOP", "UIDL"}) {
				t.Errorf("capa before STLS = %v", got.CapaBefore)
			}
			if want := []int{3, size1 + size2 + size3}; !slices.Equal(got.Stat, want) {
				t.Errorf("stat = %v, want %v", got.Stat, want)
			}
			if want := []string{"1 alice-1", "2 alice-2", "3 alice-3"}; !slices.Equal(got.Uidl, want) {
				t.Errorf("uidl = %v, want %v", got.Uidl, want)
			}
			// poplib un-stuffs: the body comes back as stored.
			if want := strings.Split(strings.TrimSuffix(msg1, "\r\n"), "\r\n"); !slices.Equal(got.Retr1, want) {
				t.Errorf("retr 1 = %q, want %q", got.Retr1, want)
			}
			if want := []string{"Subject: two", "", "line1"}; !slices.Equal(got.Top2, want) {
				t.Errorf("top 2 1 = %q, want %q", got.Top2, want)
			}
			waitClosed(t, store, "alice")
			if got := store.uids("alice"); !slices.Equal(got, []string{"alice-1", "alice-3"}) {
				t.Errorf("after QUIT uids = %v, want message 2 removed", got)
			}
		})
	}
}

func TestCurl(t *testing.T) {
	curl := servertest.NeedTool(t, "curl")
	ca := caFile(t)
	store := aliceStore()
	addr, _ := startServer(t, testOptions(t, store), true)
	base := "pop3s://127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
	// curl picks the strongest advertised SASL mechanism (NTLM, GSSAPI)
	// unless told: Exchange would do NTLM, exsim does PLAIN only.
	args := []string{"-sS", "--max-time", "20", "--cacert", ca, "-u", "alice:P@ssw0rd", "--login-options", "AUTH=PLAIN"}

	list := servertest.Output(t, "", curl, append(args, base+"/")...)
	want := "1 " + itoa(size1) + "\r\n2 " + itoa(size2) + "\r\n3 " + itoa(size3) + "\r\n"
	if list != want {
		t.Errorf("curl LIST = %q, want %q", list, want)
	}
	waitClosed(t, store, "alice")
	retr := servertest.Output(t, "", curl, append(args, base+"/2")...)
	if want := strings.ReplaceAll(msg2, "\n", "\r\n"); retr != want {
		t.Errorf("curl RETR 2 = %q, want %q", retr, want)
	}
}

func TestOpenSSLStartTLS(t *testing.T) {
	openssl := servertest.NeedTool(t, "openssl")
	ca := caFile(t)
	store := aliceStore()
	addr, _ := startServer(t, testOptions(t, store), false)
	// s_client reads the greeting, sends STLS, and then relays stdin; QUIT
	// makes the server close, which ends s_client.
	out := servertest.Output(t, "CAPA\nUSER alice\nPASS P@ssw0rd\nSTAT\nQUIT\n", openssl,
		"s_client", "-connect", addr, "-starttls", "pop3", "-CAfile", ca, "-verify_return_error",
		"-servername", "ex01.contoso.com", "-crlf", "-ign_eof")
	for _, want := range []string{
		"Verify return code: 0 (ok)",
		"SASL NTLM GSSAPI PLAIN\r\nUSER\r\n.\r\n",
		okLogon,
		"+OK 3 " + itoa(size1+size2+size3),
		okQuit,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("openssl s_client output lacks %q:\n%s", want, out)
		}
	}
}
