package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
)

// TestCLIAgainstRunningLab drives a lab started with `exsim up` the way an
// engineer does: EdgeSync status, send, track, a fault that the probe
// names, the scenarios by id, the queues.
func TestCLIAgainstRunningLab(t *testing.T) {
	bin := labtest.Binary(t)
	cfg, top := labFile(t, "contoso")
	data, api := t.TempDir(), freePort(t)
	off := fmt.Sprint(labtest.PortOffset)
	runUp(t, bin, "--config", cfg, "--data", data, "--admin", api, "--port-offset", off, "--log-level", "error")
	common := []string{"--config", cfg, "--data", data, "--admin", api, "--port-offset", off}
	run := func(want int, args ...string) string {
		t.Helper()
		out, code := exsim(t, bin, append(args, common...)...)
		if code != want {
			t.Fatalf("exsim %s = %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return out
	}

	deadline := time.Now().Add(20 * time.Second)
	for {
		out := run(0, "edgesync", "status")
		if edge := lineOf(out, "EDGE01"); strings.Contains(edge, " 5 ") && strings.Contains(edge, " 2 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("EdgeSync never reached EDGE01:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	out := run(0, "send", "--from", "INET01", "--to", "alice@contoso.com", "--subject", "cli e2e")
	if !strings.Contains(out, "Hostname=edge01.contoso.com") || !strings.Contains(out, "Queued mail for delivery") {
		t.Errorf("exsim send:\n%s", out)
	}
	waitDelivered(t, func(args ...string) string { return run(0, args...) }, "cli e2e", 20*time.Second, 200*time.Millisecond)

	flow := "edge-inbound-INET01-EDGE01-25"
	run(0, "probe", "--flow", flow)
	out = run(0, "fault", "add", "--from", "INET01", "--to", "EDGE01", "--port", "25", "--action", "reset")
	if !strings.Contains(out, "reset INET01 -> "+top.Server("EDGE01").Address) {
		t.Errorf("fault add:\n%s", out)
	}
	out = run(1, "probe", "--flow", flow)
	if !strings.Contains(out, "FAIL    "+flow) || !strings.Contains(out, "refused") || !strings.Contains(out, "breaks: inbound internet mail") {
		t.Errorf("probe with the Edge's 25 reset:\n%s", out)
	}
	out = run(1, "scenario", "run", "20")
	if !strings.Contains(out, "FAIL    Edge: inbound mail, Internet to Edge") {
		t.Errorf("scenario 20 with the Edge's 25 reset:\n%s", out)
	}
	run(0, "fault", "clear")
	if out := run(0, "fault", "list"); strings.Contains(out, "reset") || !strings.Contains(out, "simulated firewall") {
		t.Errorf("fault clear must remove the injected fault and keep the simulated firewall:\n%s", out)
	}
	run(0, "probe", "--flow", flow)
	rcaBlocked443(t, run)
	report := filepath.Join(t.TempDir(), "scenarios.json")
	run(0, "scenario", "run", "20-edge-inbound-internet", "24-edgesync.yaml", "--format", "json", "--output", report)
	var rep struct {
		Summary struct{ Scenarios, Passed int }
	}
	if b, err := os.ReadFile(report); err != nil || json.Unmarshal(b, &rep) != nil || rep.Summary.Scenarios != 2 || rep.Summary.Passed != 2 {
		t.Errorf("scenario run 20 24 --format json: %v %+v", err, rep)
	}
	run(2, "scenario", "run", "99-nothing")

	var queues []struct{ Identity string }
	if err := json.Unmarshal([]byte(run(0, "queue", "--format", "json")), &queues); err != nil {
		t.Errorf("queue --format json: %v", err)
	}

	// Every listing speaks JSON, and an empty list is [] (jq '.[]' works).
	for _, tc := range []struct {
		args []string
		min  int // entries at least
	}{
		{[]string{"track", "--subject", "no such message", "--format", "json"}, 0},
		{[]string{"queue", "messages", "--server", "EX02", "--format", "json"}, 0},
		{[]string{"fault", "list", "--format", "json"}, 1},
		{[]string{"edgesync", "status", "--format", "json"}, 3},
		{[]string{"scenario", "list", "--format", "json"}, 16},
		{[]string{"track", "--subject", "cli e2e", "--format", "json"}, 4},
	} {
		out := run(0, tc.args...)
		var list []map[string]any
		if err := json.Unmarshal([]byte(out), &list); err != nil || list == nil || len(list) < tc.min {
			t.Errorf("exsim %s: want a JSON list of at least %d, got %v:\n%s", strings.Join(tc.args, " "), tc.min, err, out)
		}
		if tc.min == 0 && out != "[]\n" {
			t.Errorf("exsim %s = %q, want []", strings.Join(tc.args, " "), out)
		}
		if strings.Contains(out, ": null") {
			t.Errorf("exsim %s: a null where a list or value belongs:\n%s", strings.Join(tc.args, " "), out)
		}
	}
	var sent struct {
		Count, Sent, Refused int
		MessageID            string `json:"message_id"`
		Recipients           []struct{ Address, Reply string }
		Replies              []any
	}
	out = run(0, "send", "--from", "INET01", "--to", "alice@contoso.com", "--subject", "json summary", "--format", "json")
	if err := json.Unmarshal([]byte(out), &sent); err != nil || sent.Sent != 1 || sent.MessageID == "" || len(sent.Recipients) != 1 || sent.Replies == nil {
		t.Errorf("send --format json: %v %+v\n%s", err, sent, out)
	}

	// Shell completion knows the lab: server names, flow ids, scenario ids
	// and every enum flag's values.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"queue", "--server", ""}, []string{"EDGE01", "EX01", "EX02", "INET01"}},
		{[]string{"send", "--from", "in"}, []string{"INET01"}},
		{[]string{"send", "--to", "a"}, []string{"alice@contoso.com"}},
		{[]string{"track", "--recipient", "c"}, []string{"carol@fabrikam.com"}},
		{[]string{"track", "--event", "DE"}, []string{"DELIVER", "DEFER"}},
		{[]string{"fault", "add", "--action", ""}, []string{"drop", "reset", "delay", "idle"}},
		{[]string{"probe", "--flow", "edgesync-"}, []string{"edgesync-EX01-EDGE01-50636"}},
		{[]string{"probe", "--format", ""}, []string{"table", "json", "junit", "markdown", "svg"}},
		{[]string{"scenario", "run", "24"}, []string{"24-edgesync\tEdge: EdgeSync"}},
		{[]string{"edgesync", "renew", ""}, []string{"EDGE01"}},
		{[]string{"queue", "retry", "EDGE01"}, []string{`EDGE01\1` + "\tedgesync - inbound to default-first-site-name", `EDGE01\Submission`, `EDGE01\Poison`}},
		{[]string{"--topology", ""}, []string{"contoso", "contoso-noedge"}},
	} {
		args := append(append([]string{"__complete"}, common...), tc.args...)
		out, code := exsim(t, bin, args...)
		got := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(got) != len(tc.want)+2 { // the directive and cobra's note
			t.Errorf("exsim %s = %d\n%s\nwant %q", strings.Join(args, " "), code, out, tc.want)
			continue
		}
		for i, w := range tc.want {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("exsim %s: completion %d = %q, want %q", strings.Join(args, " "), i, got[i], w)
			}
		}
	}

	// On a terminal the probe table has colours; NO_COLOR and TERM=dumb
	// take every escape away. A load run's bar is redrawn at most ten
	// times a second, and not at all on a dumb terminal.
	probeArgs := append([]string{"probe", "--flow", flow}, common...)
	if out := inTerminal(t, nil, bin, probeArgs...); !strings.Contains(out, "\x1b[") {
		t.Errorf("exsim probe on a terminal has no colours:\n%q", out)
	}
	for _, env := range []string{"NO_COLOR=1", "TERM=dumb"} {
		if out := inTerminal(t, []string{env}, bin, probeArgs...); strings.Contains(out, "\x1b") || !strings.Contains(out, "PASS") {
			t.Errorf("exsim probe on a terminal with %s:\n%q", env, out)
		}
	}
	load := append([]string{"send", "--from", "INET01", "--to", "alice@contoso.com", "--subject", "bar", "--count", "200", "--concurrency", "4"}, common...)
	start := time.Now()
	out = inTerminal(t, nil, bin, load...)
	redraws, most := strings.Count(out, "sending"), int(time.Since(start)/redrawEvery)+2
	if redraws == 0 || redraws > most {
		t.Errorf("exsim send --count 200 on a terminal drew its bar %d times in %s, want 1 to %d:\n%q", redraws, time.Since(start), most, out)
	}
	if out := inTerminal(t, []string{"TERM=dumb"}, bin, load...); strings.Contains(out, "sending") || !strings.Contains(out, "sent 200, refused 0") {
		t.Errorf("exsim send --count 200 with TERM=dumb:\n%q", out)
	}
}

// inTerminal runs exsim with a pseudo-terminal as standard output and
// error (script, from util-linux), env added to the environment (TERM is
// xterm unless env sets it), and returns what the terminal received.
func inTerminal(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux) is not installed: no terminal to test colours and the progress bar on")
	}
	line := shellQuote(bin)
	for _, a := range args {
		line += " " + shellQuote(a)
	}
	cmd := exec.Command(script, "-qec", line, "/dev/null")
	cmd.Env = append(append(os.Environ(), "TERM=xterm", "NO_COLOR=", "SHELL=/bin/sh"), env...)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestDemoExit runs the README's first command as CI would: the built-in
// lab on its own addresses, the probe matrix and every scenario, exit 0,
// a JUnit report with a test case per flow and scenario.
func TestDemoExit(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs every flow and scenario (~30 s)")
	}
	bin := labtest.Binary(t)
	dir := t.TempDir()
	junit := filepath.Join(dir, "demo.xml")
	out, code := exsim(t, bin, "demo", "--exit", "--data", filepath.Join(dir, "data"), "--admin", freePort(t), "--junit", junit)
	if code != 0 {
		t.Fatalf("exsim demo --exit = %d\n%s", code, out)
	}
	for _, want := range []string{"EdgeSync: EDGE01 has the organization's configuration", "0 failed", "16 scenarios, 16 passed, 0 failed", "Topology picture: "} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Fatalf("JUnit: %v", err)
	}
	tests := 0
	for _, s := range suites.Suites {
		tests += s.Tests
		if s.Failures != 0 {
			t.Errorf("JUnit suite with %d failures", s.Failures)
		}
	}
	if last := suites.Suites[len(suites.Suites)-1]; last.Name != "exsim scenarios" || last.Tests != 16 {
		t.Errorf("last JUnit suite %+v, want the 16 scenarios", last)
	}
	if tests < 89+15 {
		t.Errorf("JUnit holds %d test cases, want every flow and scenario", tests)
	}
}

// lineOf returns the first line of a table that starts with prefix.
func lineOf(table, prefix string) string {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestCLIUsesTheLabItsDataHolds: a loopback lab started from a topology
// file records it in its data directory, and commands given only --data
// talk to that lab (its addresses, its port offset, its admin API) and say
// so, instead of falling back to the built-in addresses of another lab.
func TestCLIUsesTheLabItsDataHolds(t *testing.T) {
	bin := labtest.Binary(t)
	cfg, _ := labFile(t, "contoso")
	data, api := t.TempDir(), freePort(t)
	up := runUp(t, bin, "--config", cfg, "--data", data, "--admin", api, "--port-offset", fmt.Sprint(labtest.PortOffset), "--log-level", "error")
	split := func(args ...string) (string, string) {
		t.Helper()
		var stdout, stderr strings.Builder
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("exsim %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := split("edgesync", "status", "--data", data)
		if edge := lineOf(out, "EDGE01"); strings.Contains(edge, " 5 ") && strings.Contains(edge, " 2 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("EdgeSync never reached EDGE01 of the lab in %s:\n%s", data, out)
		}
	}
	out, note := split("send", "--data", data, "--from", "INET01", "--to", "alice@contoso.com", "--subject", "data holds the lab")
	if !strings.Contains(out, "Queued mail for delivery") {
		t.Errorf("exsim send --data:\n%s", out)
	}
	if want := fmt.Sprintf("using the lab exsim runs from %s (pid %d, %s, port offset %d)", data, up.Process.Pid, cfg, labtest.PortOffset); !strings.Contains(note, want) {
		t.Errorf("exsim send --data says %q, want it to name the lab: %q", note, want)
	}
	waitDelivered(t, func(args ...string) string {
		out, _ := split(append(args, "--data", data)...)
		return out
	}, "data holds the lab", 20*time.Second, 200*time.Millisecond)
	up.Process.Kill()
	up.Wait()
	if _, code := exsim(t, bin, "send", "--data", data, "--from", "INET01", "--to", "alice@contoso.com"); code == 0 {
		t.Errorf("exsim send --data after the lab stopped exited 0; the record of a killed lab must not be trusted")
	}
}

// rcaBlocked443 runs exsim rca from INET01 (the default) against the lab:
// EWS and IMAP pass; with 443 to EX01 reset, EWS fails at its connect step.
func rcaBlocked443(t *testing.T, run func(int, ...string) string) {
	t.Helper()
	out := run(0, "rca", "--test", "ews", "--test", "imap")
	if !strings.Contains(out, "PASS  Exchange Web Services") || !strings.Contains(out, "PASS  IMAP Email (from INET01 as alice@contoso.com") {
		t.Errorf("exsim rca:\n%s", out)
	}
	run(0, "fault", "add", "--from", "INET01", "--to", "EX01", "--port", "443", "--action", "reset")
	out = run(1, "rca", "--test", "ews")
	if !strings.Contains(out, "FAIL  Exchange Web Services") || !regexp.MustCompile(`FAIL +Connect to \S+ on port 443 +connection refused`).MatchString(out) {
		t.Errorf("exsim rca with 443 reset:\n%s", out)
	}
	run(0, "fault", "clear")
}
