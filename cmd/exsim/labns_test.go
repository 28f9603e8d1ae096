package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
)

// These tests build real namespace labs (exsim lab up/test/diff) and drive
// them with the CLI as a user does. They need root and nft.

func requireLabHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veth, nftables): run go test as root")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		t.Skip("needs Linux network namespaces")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed (package nftables)")
	}
}

var labSeq atomic.Int32

// labPrefix is a namespace prefix no other test (or run) uses.
func labPrefix() string {
	return fmt.Sprintf("xc%d%d", os.Getpid()%100000, labSeq.Add(1))
}

// labUp runs exsim lab up in a fresh data directory and downs it when the
// test ends.
func labUp(t *testing.T, bin string, args ...string) (data string) {
	t.Helper()
	data, prefix := t.TempDir(), labPrefix()
	t.Cleanup(func() {
		if out, code := exsim(t, bin, "lab", "down", "--data", data, "--prefix", prefix); code != 0 {
			t.Errorf("exsim lab down = %d\n%s", code, out)
		}
	})
	if out, code := exsim(t, bin, append([]string{"lab", "up", "--data", data, "--prefix", prefix, "--log-level", "warn"}, args...)...); code != 0 {
		t.Fatalf("exsim lab up = %d\n%s", code, out)
	}
	return data
}

// TestCLIAgainstNamespaceLab: the commands that talk to a running lab
// work against exsim lab up as they do on loopback. The probe reaches
// each server's own process (every one has its admin API on
// 127.0.0.1:9925 in its own namespace), and a command given only --data
// uses the lab's topology (DATA/lab.yaml, the addresses on its networks)
// and says so: send --from INET01 goes through INET01's process into
// that lab, not to the built-in 127.x addresses.
func TestCLIAgainstNamespaceLab(t *testing.T) {
	requireLabHost(t)
	bin := labtest.Binary(t)
	data := labUp(t, bin)
	run := func(want int, args ...string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--data", data)...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		if code := labtest.ExitCode(t, cmd); code != want {
			t.Fatalf("exsim %s = %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, o.String(), e.String())
		}
		return o.String(), e.String()
	}
	const using = "exsim: using the namespace lab"

	out, errOut := run(0, "probe", "--format", "json")
	var rep struct {
		Summary struct{ Flows, Passed, Failed int }
		Results []struct{ ID, Source string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("probe --format json: %v\n%s", err, out)
	}
	sources := map[string]bool{}
	for _, r := range rep.Results {
		sources[r.Source] = true
	}
	// Every server but DNS01 is the source of some flow.
	if rep.Summary.Failed != 0 || rep.Summary.Flows < 80 || !sources["EDGE01"] || !sources["EX01"] || !sources["EX02"] || !sources["INET01"] {
		t.Errorf("probe: %+v from %v; want every flow passed, from EDGE01, EX01, EX02 and INET01", rep.Summary, sources)
	}
	if !strings.Contains(errOut, using) {
		t.Errorf("probe's stderr does not say which lab it uses:\n%s", errOut)
	}

	out, errOut = run(0, "send", "--from", "INET01", "--to", "alice@contoso.com", "--subject", "netns lab e2e")
	if !strings.Contains(out, "Queued mail for delivery") || !strings.Contains(errOut, using) {
		t.Errorf("exsim send:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	waitDelivered(t, func(args ...string) string {
		out, _ := run(0, args...)
		return out
	}, "netns lab e2e", 30*time.Second, 300*time.Millisecond)
	out, _ = run(0, "lab", "status", "--format", "json")
	var st struct {
		Prefix  string
		Servers []struct {
			Server    string
			Up        bool
			Listeners int
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Servers) != 5 {
		t.Errorf("lab status --format json: %v\n%s", err, out)
	}
	for _, s := range st.Servers {
		if !s.Up || s.Listeners == 0 {
			t.Errorf("lab status --format json: %s is not up with its listeners:\n%s", s.Server, out)
		}
	}
	// An explicit --topology still wins, and says what DATA holds.
	_, errOut = run(0, "queue", "--topology", "contoso-noedge")
	if !strings.Contains(errOut, "holds the namespace lab") || strings.Contains(errOut, using) {
		t.Errorf("queue --topology against a namespace lab's data:\n%s", errOut)
	}
}

// customSubnets writes labtest.CustomSubnetsSource to a lab file.
func customSubnets(t *testing.T) string {
	t.Helper()
	s := labtest.CustomSubnetsSource(t)
	p := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLabTestCustomTopology: lab test --config with a contoso-shaped
// topology on other subnets runs every scenario the built-in contoso
// runs (15), the ten Edge ones included, and they pass; none is skipped.
func TestLabTestCustomTopology(t *testing.T) {
	requireLabHost(t)
	bin := labtest.Binary(t)
	cfg := customSubnets(t)
	data, prefix := t.TempDir(), labPrefix()
	t.Cleanup(func() { exsim(t, bin, "lab", "down", "--data", data, "--prefix", prefix) })
	cmd := exec.Command(bin, "lab", "test", "--config", cfg, "--data", data, "--prefix", prefix, "--format", "json")
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var doc struct {
		Passed    bool
		Failures  []string
		Scenarios []struct {
			Name, Skipped string
			Pass          bool
		}
		Summary struct{ Scenarios, Passed, Failed, Skipped int } `json:"scenario_summary"`
	}
	if jerr := json.Unmarshal([]byte(o.String()), &doc); jerr != nil {
		t.Fatalf("lab test: %v; json: %v\nstdout:\n%s\nstderr:\n%s", err, jerr, o.String(), e.String())
	}
	if err != nil || !doc.Passed {
		t.Errorf("lab test --config %s: %v, passed=%v, failures:\n  %s\nstderr:\n%s", cfg, err, doc.Passed, strings.Join(doc.Failures, "\n  "), e.String())
	}
	edge := 0
	for _, s := range doc.Scenarios {
		if strings.HasPrefix(s.Name, "Edge:") {
			edge++
		}
	}
	if doc.Summary.Scenarios != 16 || doc.Summary.Passed != 16 || doc.Summary.Skipped != 0 || edge != 8 {
		t.Errorf("scenarios: %+v, %d of them Edge rows; want 16 run and passed (8 Edge rows), none skipped", doc.Summary, edge)
	}
	b, err := os.ReadFile(filepath.Join(data, "lab.yaml"))
	if err != nil || !strings.Contains(string(b), "10.91.2.1") {
		t.Errorf("the lab did not run on the custom subnets: %v\n%s", err, b)
	}
}

// TestLabTestRulesetErrors: a ruleset lab test cannot use fails with a
// clear error before any server runs, not with a report of failing
// flows, and leaves neither its temporary data directory nor a namespace
// behind, saying so.
func TestLabTestRulesetErrors(t *testing.T) {
	requireLabHost(t)
	bin := labtest.Binary(t)
	for _, tc := range []struct{ name, ruleset, want string }{
		{"no forward hook", "table inet host {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\ttcp dport 22 accept\n\t}\n}\n",
			"has no chain on the forward hook"},
		{"does not load", "table inet exsim {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\ttcp dport 25 acept\n\t}\n}\n",
			"acept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp, prefix := t.TempDir(), labPrefix()
			fw := filepath.Join(t.TempDir(), "rules.nft")
			if err := os.WriteFile(fw, []byte(tc.ruleset), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "lab", "test", "--no-scenarios", "--firewall", fw, "--prefix", prefix)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exsim lab test = %v, want exit code 2\n%s", err, out)
			}
			for _, w := range []string{tc.want, fw, "no server ran; removed the temporary data directory " + tmp} {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "FAILED") || strings.Contains(string(out), "expected closed") {
				t.Errorf("a ruleset that cannot be used is reported as failing flows:\n%s", out)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
			if ns, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(ns), prefix+"-") {
				t.Errorf("namespaces left behind:\n%s", ns)
			}
		})
	}
}

// TestLabDiffCommand runs exsim lab diff as a CI job does: the exported
// ruleset against a copy without the 587 rules and with a rule that opens
// 2525 from the perimeter to the internal zone exits 1 with the pull
// request comment; a ruleset without a forward chain exits 2 and leaves
// no temporary directory; a file in the wrong syntax gets one line.
func TestLabDiffCommand(t *testing.T) {
	requireLabHost(t)
	bin := labtest.Binary(t)
	dir := t.TempDir()
	exported := labtest.Exsim(t, "export", "nftables")
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
		code := labtest.ExitCode(t, cmd)
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
