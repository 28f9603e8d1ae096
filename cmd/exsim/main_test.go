package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/topology"
)

var blocks = labtest.NewBlocks(121, 139)

func TestMain(m *testing.M) { labtest.Main(m) }

// labFile writes a built-in topology moved into its own address block.
func labFile(t *testing.T, name string) (string, *topology.Topology) {
	t.Helper()
	top := labtest.Topology(t, name, blocks.Next(t))
	b, err := top.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, top
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runUp starts `exsim up` and waits for its admin API.
func runUp(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	return runServing(t, bin, append([]string{"up"}, args...)...)
}

// runServing starts `exsim up` or `exsim serve` (args name it) and waits
// for its admin API. The child writes its output to a file, handed to it
// as is: no copying goroutine for the wait to race with.
func runServing(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), args[0]+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the child holds its own copy
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	output := func() string { b, _ := os.ReadFile(out.Name()); return string(b) }
	waitFor(t, func() bool { return strings.Contains(output(), "Ctrl-C stops") }, func() string { return "exsim " + args[0] + " did not start:\n" + output() })
	return cmd
}

// waitFor polls ready for 20 seconds and then fails t with why().
func waitFor(t *testing.T, ready func() bool, why func() string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(why())
		}
	}
}

func exsim(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	return exsimCmd(t, exec.Command(bin, args...))
}

// exsimCmd runs cmd and returns its standard output and error, merged,
// and its exit code.
func exsimCmd(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	code := labtest.ExitCode(t, cmd) // before out.String(): it runs the command
	return out.String(), code
}

// waitDelivered polls `exsim track` through track until it shows the
// message with subject delivered (one DELIVER event, on EX01), and fails
// t after timeout.
func waitDelivered(t *testing.T, track func(args ...string) string, subject string, timeout, every time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ev []struct{ EventID, ServerHostname string }
		out := track("track", "--subject", subject, "--event", "DELIVER", "--format", "json")
		if err := json.Unmarshal([]byte(out), &ev); err != nil {
			t.Fatalf("track --format json: %v\n%s", err, out)
		}
		if len(ev) == 1 && ev[0].ServerHostname == "ex01.contoso.com" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no DELIVER event on EX01 for %q:\n%s", subject, out)
		}
		time.Sleep(every)
	}
}

// TestKill9LosesNothing: fifty messages acknowledged with 250 while the
// next hop is blocked are all delivered after exsim is killed with
// SIGKILL and started again.
func TestKill9LosesNothing(t *testing.T) {
	bin := labtest.Binary(t)
	cfg, top := labFile(t, "contoso-noedge")
	data := t.TempDir()
	api := freePort(t)
	common := []string{"--config", cfg, "--data", data, "--port-offset", fmt.Sprint(labtest.PortOffset), "--admin", api, "--log-level", "error"}
	cmd := runUp(t, bin, common...)

	if out, code := exsim(t, bin, append([]string{"fault", "add", "--from", "EX01", "--to", "INET01", "--port", "25", "--action", "drop"}, common...)...); code != 0 {
		t.Fatalf("fault add: %d %s", code, out)
	}
	ex01 := top.Server("EX01")
	out, code := exsim(t, bin, append([]string{"send", "--smtp", fmt.Sprintf("%s:%d", ex01.Address, 587+labtest.PortOffset), "--user", `CONTOSO\alice`, "--password", "P@ssw0rd",
		"--to", "carol@fabrikam.com", "--subject", "survivor", "--count", "50", "--concurrency", "5"}, common...)...)
	if code != 0 || !strings.Contains(out, "sent 50, refused 0") {
		t.Fatalf("send: %d %s", code, out)
	}
	out, _ = exsim(t, bin, append([]string{"queue", "--server", "EX01", "--format", "json"}, common...)...)
	var qs []struct {
		NextHopDomain string
		MessageCount  int
	}
	json.Unmarshal([]byte(out), &qs)
	held := 0
	for _, q := range qs {
		if q.NextHopDomain == "fabrikam.com" {
			held = q.MessageCount
		}
	}
	if held != 50 {
		t.Fatalf("EX01 holds %d messages for fabrikam.com, want 50: %s", held, out)
	}

	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	runUp(t, bin, common...) // the fault table is gone with the process

	token, _ := control.LoadOrCreateToken(data)
	c := &control.Client{BaseURL: "http://" + api, Token: token}
	deadline := time.Now().Add(60 * time.Second)
	for {
		msgs, err := c.MailboxMessages(context.Background(), "INET01", "carol@fabrikam.com", "INBOX")
		n := 0
		for _, m := range msgs {
			if strings.HasPrefix(m.Subject, "survivor") {
				n++
			}
		}
		if err == nil && n == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after kill -9 and restart carol has %d of 50 messages (%v)", n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestExitCodesAndErrors(t *testing.T) {
	bin := labtest.Binary(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("organization: Contoso\nservers:\n  - name: ex01\n    adress: 1.2.3.4\n"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"topology", "--format", "json"}, 0, `"organization": "Contoso"`},
		{[]string{"topology", "--format", "xml"}, 2, "--format"},
		{[]string{"topology", "--config", bad}, 2, "bad.yaml:4:5: unknown key \"adress\""},
		{[]string{"nonsense"}, 2, "unknown command"},
		{[]string{"topology", "--bogus"}, 2, "unknown flag"},
		{[]string{"init", "-o", "-"}, 0, "organization: Contoso"},
		{[]string{"serve"}, 2, "--server is required"},
		{[]string{"queue", "--data", t.TempDir()}, 3, "no lab running: no admin API token"},
		{[]string{"topology", "--log-level", "loud"}, 2, `"loud": use debug, info, warn or error`},
		{[]string{"send", "--from", "INET01", "--to", "alice@contoso.com", "--tls", "always"}, 2, `"always": use none, opportunistic, starttls or implicit`},
		{[]string{"probe", "--table", "nonsense"}, 2, "use clients, mailflow-noedge, mailflow-edge, ground-rules or lab"},
		// A report that could not be written is found before the lab runs.
		{[]string{"lab", "diff", "--before", bad, "--after", bad, "-o", "/nonexistent/comment.md"}, 2, "-o /nonexistent/comment.md: cannot write there: no such file or directory"},
		{[]string{"lab", "test", "--junit", t.TempDir()}, 2, "is a directory"},
	} {
		out, code := exsim(t, bin, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("exsim %s = %d %q, want %d and %q", strings.Join(tc.args, " "), code, out, tc.code, tc.want)
		}
	}
}

// TestNoLabRunning: every command that talks to a lab exits 3 when no lab
// answers (a data directory with a token, an admin address nobody listens
// on), so a script can tell "start the lab first" from bad input (2).
func TestNoLabRunning(t *testing.T) {
	bin := labtest.Binary(t)
	data := t.TempDir()
	if _, err := control.LoadOrCreateToken(data); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"queue"},
		{"queue", "messages", "--format", "json"},
		{"queue", "retry", `EX01\1`},
		{"track", "--subject", "x"},
		{"fault", "list"},
		{"fault", "add", "--from", "EX01", "--to", "EDGE01"},
		{"fault", "clear"},
		{"probe", "--flow", "edgesync-EX01-EDGE01-50636"},
		{"scenario", "run", "20"},
		{"edgesync", "status", "--format", "json"},
		{"edgesync", "renew", "EDGE01"},
		{"send", "--from", "INET01", "--to", "alice@contoso.com"},
	} {
		full := append(args, "--data", data, "--admin", freePort(t))
		out, code := exsim(t, bin, full...)
		if code != exitNoLab || !strings.Contains(out, "no lab running") {
			t.Errorf("exsim %s = %d %q, want 3 and \"no lab running\"", strings.Join(full, " "), code, out)
		}
	}
}

func TestBindErrorSuggestsOffset(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hold port 25 on a lab address")
	}
	bin := labtest.Binary(t)
	cfg, top := labFile(t, "contoso-noedge")
	l, err := net.Listen("tcp", top.Server("EX01").Address+":25")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, code := exsim(t, bin, "up", "--config", cfg, "--data", t.TempDir(), "--admin", freePort(t))
	if code != 2 || !strings.Contains(out, "cannot bind EX01's Default Frontend EX01 on "+top.Server("EX01").Address+":25/tcp") || !strings.Contains(out, "--port-offset") {
		t.Errorf("exsim up with port 25 taken = %d\n%s", code, out)
	}
}

// TestPortOffsetOutOfRange: every command that takes the topology checks
// --port-offset through it, and refuses one that moves a port past 65535
// (or below its documented value) before it binds, dials or writes.
func TestPortOffsetOutOfRange(t *testing.T) {
	bin := labtest.Binary(t)
	data := t.TempDir()
	const want = "--port-offset 30000 moves LDAPS 50636 on EDGE01 past 65535"
	cmds := [][]string{
		{"topology"},
		{"up"},
		{"serve", "--server", "EX01"},
		{"demo", "--exit"},
		{"probe"},
		{"send", "--from", "INET01", "--to", "alice@contoso.com"},
		{"scenario", "run"},
		{"queue"},
		{"edgesync", "status"},
		{"export", "nftables"},
		{"export", "compose"},
		{"export", "kubernetes"},
	}
	if os.Geteuid() == 0 {
		cmds = append(cmds, []string{"lab", "up", "--prefix", "xoff"}, []string{"lab", "test", "--prefix", "xoff"})
	}
	for _, args := range cmds {
		full := append(args, "--port-offset", "30000", "--data", data, "--admin", "127.0.0.1:1")
		out, code := exsim(t, bin, full...)
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("exsim %s = %d %q, want 2 and %q", strings.Join(full, " "), code, out, want)
		}
	}
	if out, code := exsim(t, bin, "topology", "--port-offset", "-5"); code != 2 || !strings.Contains(out, "--port-offset -5") {
		t.Errorf("exsim topology --port-offset -5 = %d %q, want 2 naming the offset", code, out)
	}
	// The highest offset that fits puts LDAPS on 65535; without an Edge,
	// 30000 fits.
	out, code := exsim(t, bin, "topology", "--format", "json", "--port-offset", "14899")
	if code != 0 || !strings.Contains(out, `"port": 65535`) {
		t.Errorf("exsim topology --port-offset 14899 = %d, want 0 and LDAPS on 65535\n%s", code, out)
	}
	if out, code := exsim(t, bin, "topology", "--topology", "contoso-noedge", "--port-offset", "30000"); code != 0 {
		t.Errorf("exsim topology --topology contoso-noedge --port-offset 30000 = %d, want 0\n%s", code, out)
	}
}

// asNobody returns a command that runs exsim as the unprivileged user
// nobody (setpriv drops root's uid, gid and groups), with a copy of the
// binary, a topology file and a data directory that nobody may use. It
// skips the test when this process cannot drop privileges.
func asNobody(t *testing.T, name string) (run func(args ...string) *exec.Cmd, cfg, data string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs exsim as the user nobody, which needs root to drop privileges (as a non-root user: go run ./cmd/exsim demo --exit)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	dir, err := os.MkdirTemp("", "exsim-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data = filepath.Join(dir, "data")
	for _, d := range []string{dir, data} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "exsim")
	b, err := os.ReadFile(labtest.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	src, _ := labFile(t, name)
	cfg = filepath.Join(dir, "lab.yaml")
	if b, err = os.ReadFile(src); err == nil {
		err = os.WriteFile(cfg, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return func(args ...string) *exec.Cmd {
		return exec.Command(setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)...)
	}, cfg, data
}

// TestNonRootDemoMovesPorts: as an ordinary user, `exsim demo --exit`
// cannot bind port 25, moves every port up by 10000 by itself (the
// README's promise), and passes every flow and scenario.
func TestNonRootDemoMovesPorts(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs every flow and scenario (~30 s)")
	}
	run, cfg, data := asNobody(t, "contoso")
	cmd := run("demo", "--exit", "--config", cfg, "--data", data, "--admin", freePort(t))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	code := labtest.ExitCode(t, cmd)
	if code != 0 {
		t.Fatalf("exsim demo --exit as nobody = %d, want 0\n%s", code, out.String())
	}
	for _, want := range []string{
		"ports below 1024 need root; every port moves up by 10000 (--port-offset 10000)",
		"16 scenarios, 16 passed, 0 failed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("exsim demo --exit as nobody lacks %q:\n%s", want, out.String())
		}
	}
}

// TestNonRootUpMovesPorts: `exsim up` as an ordinary user moves the ports
// as demo does, and records the offset so that other commands given the
// same --data find the lab; an explicit --port-offset 0 is obeyed (exit 2).
func TestNonRootUpMovesPorts(t *testing.T) {
	run, cfg, data := asNobody(t, "contoso-noedge")
	out, code := exsimCmd(t, run("up", "--config", cfg, "--data", data, "--admin", freePort(t), "--port-offset", "0"))
	if code != exitUsage || !strings.Contains(out, "ports below 1024 need root") {
		t.Errorf("exsim up --port-offset 0 as nobody = %d, want 2 and the bind error:\n%s", code, out)
	}

	log := filepath.Join(data, "up.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	up := run("up", "--config", cfg, "--data", data, "--admin", freePort(t), "--log-level", "error")
	up.Stdout, up.Stderr = f, f
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { up.Process.Kill(); up.Wait() })
	waitFor(t, func() bool { b, _ := os.ReadFile(log); return strings.Contains(string(b), "Ctrl-C stops") }, func() string { b, _ := os.ReadFile(log); return "exsim up did not start:\n" + string(b) })
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "every port moves up by 10000") || !strings.Contains(string(b), fmt.Sprintf(":%d/tcp", 25+nonRootOffset)) {
		t.Errorf("exsim up as nobody did not move its ports:\n%s", b)
	}
	// Another command with the same --data finds the lab at its offset.
	out, code = exsimCmd(t, run("fault", "list", "--data", data, "--format", "json"))
	if code != 0 || !strings.Contains(out, `"action": "drop"`) {
		t.Errorf("exsim fault list --data (the lab moved by itself) = %d:\n%s", code, out)
	}
}
