package ntlm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func needCurlNTLM(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	out, err := exec.Command(path, "-V").Output()
	if err != nil || !strings.Contains(string(out), " NTLM") {
		t.Skip("curl without NTLM support")
	}
	return path
}

func runCmd(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// opensslLegacy enables OpenSSL 3's legacy provider, where MD4 lives, for
// a Python whose hashlib uses OpenSSL.
const opensslLegacy = `openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
`

func TestCurlNTLM(t *testing.T) {
	curl := needCurlNTLM(t)
	lab := newHTTPLab(t, newLabServer(t, nil), HTTPOptions{}, true)
	tests := []struct {
		user, password string
		want           string // status and body
	}{
		{`CONTOSO\alice`, "P@ssw0rd", "200 alice@contoso.com"},
		{"alice@contoso.com", "P@ssw0rd", "200 alice@contoso.com"},
		{`contoso\BOB`, "Secret-2", "200 bob@contoso.com"},
		{`CONTOSO\alice`, "wrong", "401 "},
		{`CONTOSO\eve`, "P@ssw0rd", "401 "},
	}
	for _, tt := range tests {
		out, err := runCmd(t, nil, curl, "-sS", "--ntlm", "-u", tt.user+":"+tt.password,
			"-w", "%{http_code} ", "-o", "/dev/stdout", lab.URL+"/EWS/Exchange.asmx")
		if err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		// -w is written after the body: reorder to "code body".
		got := out[len(out)-4:] + out[:len(out)-4]
		if got = strings.TrimSpace(got); got != strings.TrimSpace(tt.want) {
			t.Errorf("curl --ntlm -u %s = %q, want %q", tt.user, got, tt.want)
		}
	}
}

// pythonNTLM returns a Python that has requests_ntlm and ntlm_auth
// (Debian's python3-requests-ntlm) and the environment that gives its
// hashlib MD4.
func pythonNTLM(t *testing.T) (string, []string) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "openssl.cnf")
	if err := os.WriteFile(conf, []byte(opensslLegacy), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"OPENSSL_CONF=" + conf}
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import requests_ntlm, ntlm_auth").Run() != nil {
			continue
		}
		if out, err := runCmd(t, env, path, "-c", "import hashlib; hashlib.new('md4')"); err != nil {
			t.Skipf("%s has no MD4 (OpenSSL legacy provider missing): %s", path, out)
		}
		return path, env
	}
	t.Skip("python3 with requests_ntlm and ntlm_auth not installed (Debian: python3-requests-ntlm)")
	return "", nil
}

func TestPythonRequestsNTLM(t *testing.T) {
	py, env := pythonNTLM(t)
	lab := newHTTPLab(t, newLabServer(t, nil), HTTPOptions{}, true)
	const script = `
import sys, requests
from requests_ntlm import HttpNtlmAuth
s = requests.Session()
r = s.post(sys.argv[1], data=b"<soap/>", auth=HttpNtlmAuth(sys.argv[2], sys.argv[3]))
print(r.status_code, r.text)
`
	tests := []struct{ user, password, want string }{
		{`CONTOSO\alice`, "P@ssw0rd", "200 alice@contoso.com"},
		{`CONTOSO\alice`, "nope", "401"},
	}
	for _, tt := range tests {
		out, err := runCmd(t, env, py, "-c", script, lab.URL+"/EWS/Exchange.asmx", tt.user, tt.password)
		if err != nil {
			t.Fatalf("python: %v: %s", err, out)
		}
		if got := strings.TrimSpace(out); got != tt.want {
			t.Errorf("requests_ntlm as %s = %q, want %q", tt.user, got, tt.want)
		}
	}
}

// TestPythonNTLMAuthLevels drives ntlm_auth's NtlmContext over one HTTP
// connection at each LM compatibility level: 0-2 send NTLMv1 (level 1 and
// 2 with extended session security), 3 NTLMv2 with a MIC and key exchange.
func TestPythonNTLMAuthLevels(t *testing.T) {
	py, env := pythonNTLM(t)
	const script = `
import sys, base64, http.client, urllib.parse
from ntlm_auth.ntlm import NtlmContext
u = urllib.parse.urlparse(sys.argv[1])
ctx = NtlmContext("alice", "P@ssw0rd", "CONTOSO", "WS01", ntlm_compatibility=int(sys.argv[2]))
c = http.client.HTTPConnection(u.hostname, u.port)
c.request("GET", "/", headers={"Authorization": "NTLM " + base64.b64encode(ctx.step()).decode()})
r = c.getresponse(); r.read()
chal = base64.b64decode(r.getheader("WWW-Authenticate").split()[1])
c.request("GET", "/", headers={"Authorization": "NTLM " + base64.b64encode(ctx.step(chal)).decode()})
r = c.getresponse()
print(r.status, r.read().decode())
`
	tests := []struct {
		level  string
		v2Only bool
		want   string
	}{
		{"3", false, "200 alice@contoso.com"},
		{"2", false, "200 alice@contoso.com"},
		{"1", false, "200 alice@contoso.com"},
		{"3", true, "200 alice@contoso.com"},
		{"2", true, "401"},
		{"1", true, "401"},
	}
	for _, tt := range tests {
		lab := newHTTPLab(t, newLabServer(t, func(o *Options) { o.RequireNTLMv2 = tt.v2Only }), HTTPOptions{}, true)
		out, err := runCmd(t, env, py, "-c", script, lab.URL, tt.level)
		if err != nil {
			t.Fatalf("python: %v: %s", err, out)
		}
		if got := strings.TrimSpace(out); got != tt.want {
			t.Errorf("ntlm_auth level %s (RequireNTLMv2 %v) = %q, want %q", tt.level, tt.v2Only, got, tt.want)
		}
	}
}
