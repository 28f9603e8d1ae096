package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/junit"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/probe"
)

// The lab tests need root, iproute2-free netlink, nft and the exsim
// binary (built once). They start real labs: a router namespace, one
// namespace and one `exsim serve` process per server.

func testOptions(t testing.TB, firewall string) Options {
	t.Helper()
	requireRoot(t)
	requireNft(t)
	return Options{
		Topology: netTopology(t, "contoso"), DataDir: t.TempDir(), Prefix: testPrefix(),
		Firewall: firewall, Exe: labtest.Binary(t), Wait: 60 * time.Second,
	}
}

// startTestLab brings a lab up and downs it when the test ends; the test
// then checks that nothing of it is left.
func startTestLab(t *testing.T, o Options) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() {
		if _, err := l.Down(context.Background()); err != nil {
			t.Errorf("Down: %v", err)
		}
		assertNothingLeft(t, o.Prefix, l.Servers)
	})
	return l
}

// assertNothingLeft checks that no namespace of the prefix and no server
// process of the lab is left.
func assertNothingLeft(t testing.TB, prefix string, procs []Process) {
	t.Helper()
	if left, _ := listNetns(prefix); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err == nil && strings.Contains(string(out), prefix+"-") {
		t.Errorf("ip netns list still shows %s-*:\n%s", prefix, out)
	}
	for _, p := range procs {
		if p.alive() {
			t.Errorf("process %d (%s) still runs", p.PID, p.Server)
		}
	}
}

// failed lists the failed flows' IDs, sorted.
func failed(rs []probe.Result) []string {
	var out []string
	for _, r := range rs {
		if !r.Pass {
			out = append(out, r.Flow.ID)
		}
	}
	slices.Sort(out)
	return out
}

func describe(rs []probe.Result) string {
	var b strings.Builder
	for _, r := range rs {
		if !r.Pass {
			b.WriteString("  " + r.Flow.ID + ": " + string(r.Outcome) + " " + r.Detail + r.Error + "\n")
		}
	}
	return b.String()
}

func probeLab(t *testing.T, l *Lab, mode string) []probe.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := l.Probe(ctx, ProbeOptions{Mode: mode})
	if err != nil {
		t.Fatalf("Probe(%s): %v", mode, err)
	}
	if len(rs) != len(probe.Flows(l.t)) {
		t.Fatalf("Probe(%s) returned %d results, want one per flow (%d)", mode, len(rs), len(probe.Flows(l.t)))
	}
	return rs
}

// loadText loads an nft text into the lab's router (replacing the table).
func loadText(t *testing.T, l *Lab, text string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fw.nft")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := NftFile(l.Router, p, false); err != nil {
		t.Fatal(err)
	}
}

// TestLabFirewalls runs one lab and swaps the router's ruleset under it:
// the generated ruleset passes every flow (both probe modes); removing
// the EdgeSync rule fails exactly the EdgeSync flow; opening the Mailbox
// servers' SMTP to the Internet fails exactly those flows; and a rule that
// only INET01's address passes proves the probe dials from INET01's
// namespace with INET01's address.
func TestLabFirewalls(t *testing.T) {
	o := testOptions(t, "")
	l := startTestLab(t, o)
	rs, err := MinimalRuleset(l.t)
	if err != nil {
		t.Fatal(err)
	}
	generated := nftText(t, rs)
	if v, err := readSysctl(l.Router, "net.ipv4.ip_forward"); err != nil || v != "1" {
		t.Errorf("router ip_forward = %q, %v; want 1", v, err)
	}
	if v, err := readSysctl(l.Router, "net.bridge.bridge-nf-call-iptables"); err == nil && v != "0" {
		t.Errorf("router bridge-nf-call-iptables = %q, want 0 (a zone's traffic must not meet the firewall)", v)
	}

	t.Run("minimal over netlink, probe through the admin API", func(t *testing.T) {
		if got := failed(probeLab(t, l, ProbeAdmin)); len(got) > 0 {
			t.Errorf("flows failed with the minimal ruleset: %v", got)
		}
	})

	// The edge-inbound rule counts its packets: they must come from
	// INET01's address, through the router.
	const inbound = `ip saddr 203.0.113.1 ip daddr 198.51.100.1 tcp dport 25 accept comment "edge-inbound-INET01-EDGE01-25"`
	if !strings.Contains(generated, inbound) {
		t.Fatalf("generated ruleset lacks %q", inbound)
	}
	t.Run("generated text, probe in namespaces", func(t *testing.T) {
		loadText(t, l, strings.Replace(generated, "tcp dport 25 accept comment \"edge-inbound", "tcp dport 25 counter accept comment \"edge-inbound", 1))
		res := probeLab(t, l, ProbeNetns)
		if got := failed(res); len(got) > 0 {
			t.Errorf("flows failed with the generated ruleset: %v\n%s", got, describe(res))
		}
		m := regexp.MustCompile(`ip saddr 203\.0\.113\.1 ip daddr 198\.51\.100\.1 tcp dport 25 counter packets (\d+)`).FindStringSubmatch(nftList(t, l.Router))
		if m == nil || m[1] == "0" {
			t.Errorf("the edge-inbound rule counted no packet from 203.0.113.1: %v", m)
		}
	})

	t.Run("source address", func(t *testing.T) {
		// The same rule for another address of INET01's zone: the flow is
		// filtered, so its packets carry INET01's address.
		loadText(t, l, strings.Replace(generated, "ip saddr 203.0.113.1 ip daddr 198.51.100.1 tcp dport 25 ", "ip saddr 203.0.113.99 ip daddr 198.51.100.1 tcp dport 25 ", 1))
		res := probeLab(t, l, ProbeNetns)
		if got, want := failed(res), []string{"edge-inbound-INET01-EDGE01-25"}; !slices.Equal(got, want) {
			t.Errorf("failed flows = %v, want %v\n%s", got, want, describe(res))
		}
		for _, r := range res {
			if r.Flow.ID == "edge-inbound-INET01-EDGE01-25" && r.Outcome != probe.OutcomeFiltered {
				t.Errorf("edge-inbound outcome = %s, want filtered", r.Outcome)
			}
		}
	})

	t.Run("without the EdgeSync rule", func(t *testing.T) {
		loadText(t, l, nftText(t, rs.Without("edgesync-EX01-EDGE01-50636")))
		res := probeLab(t, l, ProbeAdmin)
		if got, want := failed(res), []string{"edgesync-EX01-EDGE01-50636"}; !slices.Equal(got, want) {
			t.Fatalf("failed flows = %v, want %v\n%s", got, want, describe(res))
		}
		for _, r := range res {
			if !r.Pass && !strings.Contains(r.Flow.Feature, "EdgeSync") {
				t.Errorf("failed flow %s names feature %q, want EdgeSync", r.Flow.ID, r.Flow.Feature)
			}
		}
	})

	t.Run("Mailbox SMTP open to the Internet", func(t *testing.T) {
		open25 := "\t\tip saddr 203.0.113.0/24 ip daddr { 192.0.2.1, 192.0.2.2 } tcp dport 25 accept comment \"bypass the Edge\"\n\t}\n}\n"
		loadText(t, l, strings.TrimSuffix(generated, "\t}\n}\n")+open25)
		res := probeLab(t, l, ProbeAdmin)
		want := []string{"deny-internet-mailbox-smtp-INET01-EX01-25", "deny-internet-mailbox-smtp-INET01-EX02-25"}
		if got := failed(res); !slices.Equal(got, want) {
			t.Errorf("failed flows = %v, want %v\n%s", got, want, describe(res))
		}
	})
}

// TestLabTestCommand runs the CI job as users do: exsim lab test (the
// probe only; TestLabTestScenarios covers the scenario seam). The
// generated ruleset passes (exit 0); without the EdgeSync rule it exits 1
// naming the flow and the feature, in the table and in the JUnit file;
// nothing of either lab is left.
func TestLabTestCommand(t *testing.T) {
	requireRoot(t)
	requireNft(t)
	bin := labtest.Binary(t)
	dir := t.TempDir()
	gen := labtest.Exsim(t, "export", "nftables")
	edgesync := regexp.MustCompile(`(?m)^.*comment "edgesync-EX01-EDGE01-50636"\n`)
	if !edgesync.Match(gen) {
		t.Fatal("exported ruleset lacks the EdgeSync rule")
	}
	for _, tc := range []struct {
		name     string
		ruleset  []byte
		wantCode int
		want     []string
	}{
		{"generated", gen, 0, []string{"PASSED", "Scenarios: not run (--no-scenarios)"}},
		{"without EdgeSync", edgesync.ReplaceAll(gen, nil), 1, []string{
			"FAILED: 1 problem(s)", "edgesync-EX01-EDGE01-50636",
			"documented flow broken", "breaks: EdgeSync: accepted domains, recipients and connectors on the Edge go stale"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".nft")
			junitPath := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".xml")
			os.WriteFile(fw, tc.ruleset, 0o644)
			prefix := testPrefix()
			data := filepath.Join(t.TempDir(), "data")
			cmd := exec.Command(bin, "lab", "test", "--no-scenarios", "--firewall", fw, "--junit", junitPath, "--prefix", prefix, "--data", data)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			t.Cleanup(func() { Down(context.Background(), DownOptions{DataDir: data, Prefix: prefix}) })
			code := labtest.ExitCode(t, cmd)
			if code != tc.wantCode {
				t.Fatalf("exsim lab test exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, phase := range []string{"lab up", "probe", "lab down"} {
				if !strings.Contains(stderr.String(), "exsim lab test: "+phase) {
					t.Errorf("stderr lacks phase %q:\n%s", phase, stderr.String())
				}
			}
			checkJUnit(t, junitPath, tc.wantCode)
			assertNothingLeft(t, prefix, nil)
		})
	}
}

// checkJUnit reads the JUnit file: with a failure, exactly the EdgeSync
// testcase fails.
func checkJUnit(t *testing.T, path string, code int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc junit.Suites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, b)
	}
	var failedCases []string
	tests := 0
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			tests++
			if c.Failure != nil || c.Error != nil {
				failedCases = append(failedCases, c.Name)
			}
		}
	}
	want := []string(nil)
	if code != 0 {
		want = []string{"edgesync-EX01-EDGE01-50636"}
	}
	if !slices.Equal(failedCases, want) || doc.Failures != len(want) {
		t.Errorf("junit failures = %v (failures=%d), want %v", failedCases, doc.Failures, want)
	}
	if tests < 80 {
		t.Errorf("junit has %d testcases, want every flow", tests)
	}
}

// TestLabDownAfterCrash: a lab whose state file is lost (lab up crashed)
// is found by its prefix; down stops its processes and removes its
// namespaces and links, and a second down has nothing to do.
func TestLabDownAfterCrash(t *testing.T) {
	requireRoot(t)
	requireNft(t)
	bin := labtest.Binary(t)
	linksBefore := hostLinks(t)
	prefix := testPrefix()
	data := t.TempDir()
	t.Cleanup(func() { Down(context.Background(), DownOptions{Prefix: prefix}) })
	if out, err := exec.Command(bin, "lab", "up", "--prefix", prefix, "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("exsim lab up: %v\n%s", err, out)
	}
	st, err := LoadState(data)
	if err != nil || st == nil {
		t.Fatalf("LoadState: %v, %v", st, err)
	}
	if len(st.Servers) != 5 || len(st.Namespaces) != 6 {
		t.Fatalf("state: %d servers, %d namespaces; want 5 and 6", len(st.Servers), len(st.Namespaces))
	}
	for _, p := range st.Servers {
		if !p.alive() {
			t.Fatalf("%s (pid %d) does not run after lab up returned", p.Server, p.PID)
		}
	}
	// The crash: the state is gone, and one server died by SIGKILL.
	os.RemoveAll(filepath.Join(data, "lab"))
	killed := st.Servers[0].PID
	exec.Command("kill", "-9", strconv.Itoa(killed)).Run()
	// SIGKILL is delivered asynchronously: until the process has exited it
	// is still in its namespace, and lab down rightly stops it. Wait for
	// the exit (not for any speed) so that the count below is the live 4.
	for deadline := time.Now().Add(30 * time.Second); slices.ContainsFunc(processesIn(st.Namespaces), func(p Process) bool { return p.PID == killed }); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d is still in its namespace 30 s after SIGKILL", killed)
		}
	}

	out, err := exec.Command(bin, "lab", "down", "--prefix", prefix, "--data", t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("exsim lab down: %v\n%s", err, out)
	}
	for _, ns := range st.Namespaces {
		if !strings.Contains(string(out), "removed netns "+ns) {
			t.Errorf("lab down output lacks %s:\n%s", ns, out)
		}
	}
	if n := strings.Count(string(out), "stopped "); n != 4 {
		t.Errorf("lab down stopped %d processes, want the 4 live servers:\n%s", n, out)
	}
	assertNothingLeft(t, prefix, st.Servers)
	if after := hostLinks(t); !slices.Equal(after, linksBefore) {
		t.Errorf("host links changed: before %v, after %v", linksBefore, after)
	}
	again, err := exec.Command(bin, "lab", "down", "--prefix", prefix).CombinedOutput()
	if err != nil || !strings.Contains(string(again), "Nothing to remove") {
		t.Errorf("second lab down: %v\n%s", err, again)
	}
}

// TestLabUpFailureCleansUp: a ruleset nft rejects fails lab up with nft's
// message, and lab up removes what it had made.
func TestLabUpFailureCleansUp(t *testing.T) {
	o := testOptions(t, filepath.Join(t.TempDir(), "broken.nft"))
	os.WriteFile(o.Firewall, []byte("table inet exsim {\n\tchain forward {\n\t\ttcp dport 25 acept\n\t}\n}\n"), 0o644)
	_, err := Up(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "acept") {
		t.Fatalf("Up(broken ruleset) = %v, want nft's error", err)
	}
	assertNothingLeft(t, o.Prefix, nil)
	if st, _ := LoadState(o.DataDir); st != nil {
		t.Errorf("state file left behind: %+v", st)
	}
}

// TestLabTestInterrupted: SIGINT during the probe still takes the lab
// down, and writes no report, neither the table nor --junit (as lab
// diff): exit 2 with the interruption.
func TestLabTestInterrupted(t *testing.T) {
	requireRoot(t)
	requireNft(t)
	bin := labtest.Binary(t)
	prefix, data := testPrefix(), t.TempDir()
	junitFile := filepath.Join(t.TempDir(), "report.xml")
	t.Cleanup(func() { Down(context.Background(), DownOptions{DataDir: data, Prefix: prefix}) })
	cmd := exec.Command(bin, "lab", "test", "--no-scenarios", "--prefix", prefix, "--data", data, "--junit", junitFile)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), "exsim lab test: probe") {
		n, err := stderr.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("lab test ended before probing: %v\n%s", err, seen.String())
		}
	}
	st, _ := LoadState(data)
	cmd.Process.Signal(os.Interrupt)
	rest, _ := io.ReadAll(stderr)
	seen.Write(rest)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("interrupted lab test exited %d, want 2", code)
	}
	if !strings.Contains(seen.String(), "exsim lab test: lab down") {
		t.Errorf("no lab down after the interrupt:\n%s", seen.String())
	}
	if !strings.Contains(seen.String(), "exsim: interrupted during the probe, no report") {
		t.Errorf("stderr does not name the interruption:\n%s", seen.String())
	}
	if stdout.Len() > 0 {
		t.Errorf("interrupted lab test printed a report:\n%s", stdout.String())
	}
	if _, err := os.Stat(junitFile); !os.IsNotExist(err) {
		t.Errorf("interrupted lab test wrote --junit %s (stat: %v)", junitFile, err)
	}
	var procs []Process
	if st != nil {
		procs = st.Servers
	}
	assertNothingLeft(t, prefix, procs)
}

// TestTestInterrupted: a lab test interrupted while it probes or runs the
// scenarios gives no report (the flows and scenarios it cut short would
// read as failed), says so, and brings the lab down.
func TestTestInterrupted(t *testing.T) {
	o := testOptions(t, "")
	interruptedRuns(t, o.Prefix, map[string]string{"probe": "probe", "scenarios": "scenario run"},
		func(ctx context.Context, runner ScenarioRunner, onPhase func(string)) (bool, error) {
			rep, err := Test(ctx, TestOptions{Options: o, RunScenarios: runner, OnPhase: onPhase})
			return rep != nil, err
		})
}

// interruptedRuns runs run once per phase of cases (phase: the stage its
// error must name), cancelling its context when that phase starts, and
// checks that it gives no report, says it was interrupted during that
// stage, and brings the lab down last with nothing left. The scenario
// runner it hands run gives what it has and the context's error when cut
// short, as a real one does.
func interruptedRuns(t *testing.T, prefix string, cases map[string]string, run func(ctx context.Context, runner ScenarioRunner, onPhase func(string)) (reported bool, err error)) {
	t.Helper()
	runner := func(ctx context.Context, _ ScenarioEnv) ([]ScenarioResult, error) {
		if err := ctx.Err(); err != nil {
			return []ScenarioResult{{Name: "cut short", Detail: err.Error()}}, err
		}
		return []ScenarioResult{{Name: "ran", Pass: true}}, nil
	}
	for at, stage := range cases {
		t.Run(at, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var phases []string
			reported, err := run(ctx, runner, func(p string) {
				phases = append(phases, p)
				if p == at {
					cancel()
				}
			})
			if reported || !errors.Is(err, context.Canceled) || !strings.Contains(fmt.Sprint(err), "interrupted during the "+stage+", no report") {
				t.Errorf("interrupted at %q: report %v, error %v; want no report and the interruption", at, reported, err)
			}
			if len(phases) == 0 || phases[len(phases)-1] != "lab down" {
				t.Errorf("phases %v, want the lab brought down last", phases)
			}
			assertNothingLeft(t, prefix, nil)
		})
	}
}

// hostLinks lists the host's network interfaces.
func hostLinks(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Skipf("ip link: %v", err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	slices.Sort(names)
	return names
}

// TestLabTestScenarios: Test hands the scenario runner a working lab (an
// admin client per server, reached in its namespace), reports its results
// beside the flows (table, JUnit), counts a failed scenario as a failure
// with its feature, and downs the lab afterwards.
func TestLabTestScenarios(t *testing.T) {
	o := testOptions(t, "")
	var seen []string
	runner := func(ctx context.Context, env ScenarioEnv) ([]ScenarioResult, error) {
		for name, c := range env.Admin {
			if _, err := c.Health(ctx); err != nil {
				return nil, err
			}
			seen = append(seen, name)
		}
		return []ScenarioResult{
			{Name: "reaches every server", Pass: true, Detail: "ok"},
			{Name: "a broken one", Pass: false, Detail: "step 1 (send): refused", Feature: "inbound internet mail"},
		}, nil
	}
	rep, err := Test(context.Background(), TestOptions{Options: o, RunScenarios: runner})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(seen)
	if want := []string{"DNS01", "EDGE01", "EX01", "EX02", "INET01"}; !slices.Equal(seen, want) {
		t.Errorf("scenario runner reached %v, want %v", seen, want)
	}
	assertNothingLeft(t, o.Prefix, nil)
	if rep.Down == nil || len(rep.Down.Namespaces) != 6 {
		t.Errorf("Down report = %+v, want 6 namespaces removed", rep.Down)
	}
	fails := rep.Failures()
	if len(fails) == 0 || !strings.Contains(fails[len(fails)-1], "scenario failed: a broken one: step 1 (send): refused; breaks: inbound internet mail") {
		t.Errorf("Failures() = %q, want the failed scenario last", fails)
	}
	var table bytes.Buffer
	if err := WriteTestReport(&table, "table", rep, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "FAIL  a broken one") || !strings.Contains(table.String(), "PASS  reaches every server") {
		t.Errorf("table lacks the scenarios:\n%s", table.String())
	}
	last, _ := testJUnitLastSuite(t, rep)
	if last.Name != "Scenarios" || last.Tests != 2 || last.Failures != 1 || last.Cases[1].Failure == nil {
		t.Errorf("junit scenarios suite = %+v", last)
	}
	var js bytes.Buffer
	if err := WriteTestReport(&js, "json", rep, false); err != nil {
		t.Fatal(err)
	}
	var doc2 struct {
		Passed    bool `json:"passed"`
		Scenarios []struct {
			Name string `json:"name"`
			Pass bool   `json:"pass"`
		} `json:"scenarios"`
		Probe struct {
			Summary struct{ Flows int } `json:"summary"`
		} `json:"probe"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc2); err != nil {
		t.Fatal(err)
	}
	if doc2.Passed || len(doc2.Scenarios) != 2 || doc2.Probe.Summary.Flows != len(rep.Flows) {
		t.Errorf("json report = %+v", doc2)
	}
}
