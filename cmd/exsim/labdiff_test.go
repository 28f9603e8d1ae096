package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLabDiffCommand runs exsim lab diff as a CI job does: the exported
// ruleset against a copy without the 587 rules and with a rule that opens
// 2525 from the perimeter to the internal zone exits 1 with the pull
// request comment; a ruleset without a forward chain exits 2 and leaves
// no temporary directory; a file in the wrong syntax gets one line.
func TestLabDiffCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables): run go test as root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed (package nftables)")
	}
	bin := exsimBin(t)
	dir := t.TempDir()
	exported, err := exec.Command(bin, "export", "nftables").Output()
	if err != nil {
		t.Fatalf("exsim export nftables: %v", err)
	}
	before := filepath.Join(dir, "base.nft")
	os.WriteFile(before, exported, 0o644)
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(string(exported), "\t}\n}\n"), "\n") {
		if !strings.Contains(l, "tcp dport 587 accept") {
			lines = append(lines, l)
		}
	}
	relay := "ip saddr 198.51.100.0/24 ip daddr 192.0.2.0/24 tcp dport 2525 accept"
	lines = append(lines, "\t\t"+relay, "\t}", "}", "")
	relayLine := len(lines) - 3
	after := filepath.Join(dir, "pr.nft")
	os.WriteFile(after, []byte(strings.Join(lines, "\n")), 0o644)
	tmp := t.TempDir() // the command's TMPDIR: what it leaves behind
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"lab", "diff", "--prefix", fmt.Sprintf("cd%d", os.Getpid()%100000)}, args...)...)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		code := exitCode(t, cmd)
		return out.String(), code
	}

	md := filepath.Join(dir, "comment.md")
	out, code := run("--before", before, "--after", after, "--format", "markdown", "-o", md)
	if code != 1 {
		t.Fatalf("lab diff = exit %d, want 1\n%s", code, out)
	}
	b, _ := os.ReadFile(md)
	comment := string(b)
	first, _, _ := strings.Cut(comment, "\n")
	for _, want := range []string{"❌ **exsim lab diff: FAIL: 2 documented Exchange flows broken, 2 flows that must stay closed opened**"} {
		if !strings.HasPrefix(first, want) {
			t.Errorf("first line %q, want %q", first, want)
		}
	}
	for _, want := range []string{
		"`client-submission-INET01-EX01-587`", "`client-submission-INET01-EX02-587`",
		"EDGE01 -> EX01:2525/tcp", "EDGE01 -> EX02:2525/tcp",
		fmt.Sprintf("accepted by `pr.nft:%d` `%s`", relayLine, relay),
		"<details><summary>",
	} {
		if !strings.Contains(comment, want) {
			t.Errorf("comment lacks %q:\n%s", want, comment)
		}
	}

	out, code = run("--before", before, "--after", after, "--format", "json")
	if code != 1 {
		t.Fatalf("lab diff --format json = exit %d, want 1\n%s", code, out)
	}
	var doc struct {
		Before, After  string
		Broken, Opened []map[string]any
		Fixed          []map[string]any
		Unchanged      int
	}
	js := out[strings.Index(out, "{") : strings.LastIndex(out, "}")+1]
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if doc.Before != before || doc.After != after || len(doc.Broken) != 2 || len(doc.Opened) != 2 || doc.Fixed == nil || doc.Unchanged == 0 {
		t.Errorf("json = %+v", doc)
	}
	if r, _ := doc.Opened[0]["rule"].(map[string]any); r == nil || r["line"] != float64(relayLine) || r["text"] != relay {
		t.Errorf("opened[0].rule = %v, want line %d: %s", doc.Opened[0]["rule"], relayLine, relay)
	}

	noForward := filepath.Join(dir, "input-only.nft")
	os.WriteFile(noForward, []byte("table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\n"), 0o644)
	out, code = run("--before", before, "--after", noForward)
	if code != 2 || !strings.Contains(out, "no chain on the forward hook") || !strings.Contains(out, "nothing is left behind") {
		t.Errorf("lab diff with no forward chain = exit %d, want 2 naming the missing chain:\n%s", code, out)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
	out, code = run("--before", before, "--after", after, "--firewall-format", "iptables")
	if code != 2 || !strings.Contains(out, "this looks like an nft ruleset; use --firewall-format nftables") {
		t.Errorf("lab diff of nft files as iptables = exit %d:\n%s", code, out)
	}
}
