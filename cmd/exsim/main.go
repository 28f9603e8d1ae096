// Command exsim runs fake Microsoft Exchange organizations for test labs
// and verifies networks against Exchange's documented ports.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile, err := startCPUProfile(cpuProfilePath())
	if err != nil {
		fmt.Fprintf(os.Stderr, "exsim: EXSIM_CPUPROFILE: %v\n", err)
		os.Exit(2)
	}
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}

// cpuProfilePath reads EXSIM_CPUPROFILE and unsets it, so that the exsim
// processes this run starts (lab up/test/diff's `exsim serve`, which get
// its environment) do not each write a profile to the same file.
func cpuProfilePath() string {
	path := os.Getenv("EXSIM_CPUPROFILE")
	os.Unsetenv("EXSIM_CPUPROFILE")
	return path
}

// startCPUProfile writes a CPU profile of the whole run to path (none when
// path is empty) until the returned function is called: how the profiles
// in docs/PERFORMANCE.md are taken (`EXSIM_CPUPROFILE=cpu.prof exsim up`,
// then `go tool pprof exsim cpu.prof`).
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
