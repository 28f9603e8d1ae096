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

// exsimBin builds the binary once per test run.
var exsimBin = func() func(t *testing.T) string {
	var path string
	return func(t *testing.T) string {
		t.Helper()
		if path != "" {
			return path
		}
		dir, err := os.MkdirTemp("", "exsim-bin")
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(dir, "exsim")
		if out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		return path
	}
}()

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

// runUp starts `exsim up` and waits for its admin API. The child writes
// its output to a file, handed to it as is: no copying goroutine for the
// wait to race with.
func runUp(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), "up.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the child holds its own copy
	cmd := exec.Command(bin, append([]string{"up"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	output := func() string { b, _ := os.ReadFile(out.Name()); return string(b) }
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(output(), "Ctrl-C stops") {
		if time.Now().After(deadline) {
			t.Fatalf("exsim up did not start:\n%s", output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd
}

func exsim(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	code := exitCode(t, cmd) // before out.String(): it runs the command
	return out.String(), code
}

// exitCode runs cmd and returns its exit code; failing to start it fails t.
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
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
	bin := exsimBin(t)
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
	bin := exsimBin(t)
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
		{[]string{"queue", "--data", t.TempDir()}, 2, "no admin API token"},
	} {
		out, code := exsim(t, bin, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("exsim %s = %d %q, want %d and %q", strings.Join(tc.args, " "), code, out, tc.code, tc.want)
		}
	}
}

func TestBindErrorSuggestsOffset(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hold port 25 on a lab address")
	}
	bin := exsimBin(t)
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
	bin := exsimBin(t)
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
