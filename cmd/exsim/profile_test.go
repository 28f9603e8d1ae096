package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestStartCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A pprof profile is gzip-compressed protobuf.
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("profile starts %x, not gzip", b[:min(len(b), 4)])
	}
	if _, err := startCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.prof")); err == nil {
		t.Fatal("a profile path in a missing directory was accepted")
	}
	stop, err = startCPUProfile("")
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

// TestCPUProfilePathNotInherited: the profile path is taken out of the
// environment, which lab up/test/diff pass on to their servers.
func TestCPUProfilePathNotInherited(t *testing.T) {
	t.Setenv("EXSIM_CPUPROFILE", "cpu.prof")
	if got := cpuProfilePath(); got != "cpu.prof" {
		t.Errorf("cpuProfilePath() = %q, want cpu.prof", got)
	}
	if v, ok := os.LookupEnv("EXSIM_CPUPROFILE"); ok {
		t.Errorf("EXSIM_CPUPROFILE=%q still set: child processes would write the same profile", v)
	}
}
