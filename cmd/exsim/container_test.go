package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/labtest"
)

// TestCommandsInsideAServerProcess is a server container without Docker:
// one `exsim serve --server EX01` process, and the commands a user runs
// beside it with the topology named only by $EXSIM_CONFIG (as the image
// sets it). Each command answers for EX01 alone, with no error for the
// servers that run elsewhere.
func TestCommandsInsideAServerProcess(t *testing.T) {
	bin, cfg, common := serveOne(t, "EX01")
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append(args, common...)...)
		cmd.Env = append(os.Environ(), ConfigEnv+"="+cfg)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		code := labtest.ExitCode(t, cmd)
		return out.String(), errb.String(), code
	}
	out, errs, code := run("queue")
	if code != 0 || !strings.Contains(out, `EX01\Submission`) || strings.Contains(out+errs, "not found") || strings.Contains(out+errs, "EDGE01") {
		t.Errorf("exsim queue: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	out, errs, code = run("queue", "--format", "json")
	var qs []struct{ Identity string }
	if err := json.Unmarshal([]byte(out), &qs); code != 0 || err != nil || len(qs) == 0 {
		t.Fatalf("exsim queue --format json: exit %d, %v\n%s%s", code, err, out, errs)
	}
	for _, q := range qs {
		if !strings.HasPrefix(q.Identity, `EX01\`) {
			t.Errorf("queue %s listed beside EX01's", q.Identity)
		}
	}
	if out, errs, code = run("track", "--format", "json"); code != 0 || errs != "" {
		t.Errorf("exsim track: exit %d\n%s%s", code, out, errs)
	}
	if out, errs, code = run("edgesync", "status"); code != 0 || !strings.Contains(out, "\nEX01 ") || strings.Contains(out, "\nEDGE01 ") || errs != "" {
		t.Errorf("exsim edgesync status: exit %d\n%s%s", code, out, errs)
	}
	out, errs, _ = run("probe", "--format", "json") // flows to servers not running fail: exit 1
	var rep struct{ Results []struct{ ID, Source string } }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) == 0 {
		t.Fatalf("exsim probe --format json: %v\n%s%s", err, out, errs)
	}
	for _, r := range rep.Results {
		if r.Source != "EX01" {
			t.Errorf("probe ran %s, from %s, in EX01's process", r.ID, r.Source)
		}
	}
}

// serveOne runs one server of the contoso lab as `exsim serve` does in a
// container, and returns the binary, the topology file and the flags that
// reach that process (data directory, port offset, admin address).
func serveOne(t *testing.T, server string) (bin, cfg string, common []string) {
	t.Helper()
	bin = labtest.Binary(t)
	cfg, _ = labFile(t, "contoso")
	common = []string{"--data", t.TempDir(), "--port-offset", fmt.Sprint(labtest.PortOffset), "--admin", freePort(t), "--log-level", "error"}
	runServing(t, bin, append([]string{"serve", "--server", server, "--config", cfg}, common...)...)
	return bin, cfg, common
}
