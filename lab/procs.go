package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a server process of a lab, as recorded in the state file.
type Process struct {
	Server string `json:"server"`
	Netns  string `json:"netns"`
	PID    int    `json:"pid"`
	// Start is the process's start time (clock ticks since boot, field 22
	// of /proc/PID/stat): a recycled PID never matches it.
	Start uint64 `json:"start"`
	Log   string `json:"log"`
}

// startIn starts exe with args as a daemon inside namespace ns: its own
// session (it survives the command that started it and its terminal),
// stdin from /dev/null, stdout and stderr appended to logPath. done is
// closed once the process has exited and been reaped, when this process
// is still its parent.
func startIn(ns, exe string, args []string, logPath string) (p Process, done <-chan struct{}, err error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return Process{}, nil, err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Process{}, nil, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return Process{}, nil, err
	}
	defer devnull.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = os.Environ()
	// The child is forked from the thread inNetns switched: it starts in ns.
	if err := inNetns(ns, cmd.Start); err != nil {
		return Process{}, nil, fmt.Errorf("start %s in %s: %w", filepath.Base(exe), ns, err)
	}
	ch := make(chan struct{})
	go func() { // reaps the child; exits with it
		cmd.Wait()
		close(ch)
	}()
	start, _ := procStart(cmd.Process.Pid)
	return Process{Netns: ns, PID: cmd.Process.Pid, Start: start, Log: logPath}, ch, nil
}

// procStart reads a process's start time; ok is false when it is gone.
func procStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// comm (field 2) may hold spaces and parentheses: split after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// alive reports whether the recorded process still runs (a zombie does
// not count, nor a recycled PID).
func (p Process) alive() bool {
	start, ok := procStart(p.PID)
	return ok && (p.Start == 0 || start == p.Start)
}

// procComm is a process's command name, for messages.
func procComm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// processesIn finds every process whose network namespace is one of
// names, by comparing /proc/PID/ns/net with the namespaces' bind mounts:
// it finds a crashed lab's servers without any state file.
func processesIn(names []string) []Process {
	ids := map[nsID]string{}
	for _, n := range names {
		if id, err := statNetns(filepath.Join(netnsDir, n)); err == nil {
			ids[id] = n
		}
	}
	if len(ids) == 0 {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var out []Process
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		id, err := statNetns("/proc/" + e.Name() + "/ns/net")
		if err != nil {
			continue
		}
		if ns, ok := ids[id]; ok {
			start, ok := procStart(pid)
			if !ok {
				continue
			}
			out = append(out, Process{Netns: ns, PID: pid, Start: start})
		}
	}
	return out
}

// stopProcesses sends SIGTERM to every live process, waits up to grace
// for them to exit, then sends SIGKILL to the rest and waits for them.
func stopProcesses(ctx context.Context, procs []Process, grace time.Duration) error {
	var live []Process
	for _, p := range procs {
		if p.alive() {
			syscall.Kill(p.PID, syscall.SIGTERM)
			live = append(live, p)
		}
	}
	wait := func(d time.Duration) []Process {
		deadline := time.Now().Add(d)
		for {
			var left []Process
			for _, p := range live {
				if p.alive() {
					left = append(left, p)
				}
			}
			if len(left) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
				return left
			}
			time.Sleep(50 * time.Millisecond) // polling: these are not our children
		}
	}
	live = wait(grace)
	for _, p := range live {
		syscall.Kill(p.PID, syscall.SIGKILL)
	}
	if left := wait(5 * time.Second); len(left) > 0 {
		var names []string
		for _, p := range left {
			names = append(names, fmt.Sprintf("%d (%s)", p.PID, procComm(p.PID)))
		}
		return errors.New("processes did not exit after SIGKILL: " + strings.Join(names, ", "))
	}
	return nil
}
