package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
)

// TestCLIAgainstRunningLab drives a lab started with `exsim up` the way an
// engineer does: EdgeSync status, send, track, a fault that the probe
// names, the scenarios by id, the queues.
func TestCLIAgainstRunningLab(t *testing.T) {
	bin := exsimBin(t)
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
}

// TestDemoExit runs the README's first command as CI would: the built-in
// lab on its own addresses, the probe matrix and every scenario, exit 0,
// a JUnit report with a test case per flow and scenario.
func TestDemoExit(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs every flow and scenario (~30 s)")
	}
	bin := exsimBin(t)
	dir := t.TempDir()
	junit := filepath.Join(dir, "demo.xml")
	out, code := exsim(t, bin, "demo", "--exit", "--data", filepath.Join(dir, "data"), "--admin", freePort(t), "--junit", junit)
	if code != 0 {
		t.Fatalf("exsim demo --exit = %d\n%s", code, out)
	}
	for _, want := range []string{"EdgeSync: EDGE01 has the organization's configuration", "0 failed", "15 scenarios, 15 passed, 0 failed", "Topology picture: "} {
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
	if last := suites.Suites[len(suites.Suites)-1]; last.Name != "exsim scenarios" || last.Tests != 15 {
		t.Errorf("last JUnit suite %+v, want the 15 scenarios", last)
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
	bin := exsimBin(t)
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
