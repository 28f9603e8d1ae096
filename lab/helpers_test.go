package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// requireRoot skips tests that need root and network namespaces.
func requireRoot(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veth, nftables): run go test as root")
	}
}

// requireNft skips tests that need the nft command.
func requireNft(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (package nftables)")
	}
	return p
}

var nsSeq atomic.Int32

// testPrefix is a lab prefix no other test (or test run) uses.
func testPrefix() string {
	return fmt.Sprintf("xt%d%d", os.Getpid()%100000, nsSeq.Add(1))
}

// scratchNetns creates an empty namespace removed when the test ends; it
// skips the test when the host cannot create one.
func scratchNetns(t testing.TB) string {
	t.Helper()
	requireRoot(t)
	name := testPrefix() + "-scratch"
	if err := createNetns(name); err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := deleteNetns(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	return name
}

// runIn runs a command inside namespace ns and returns its output.
func runIn(t testing.TB, ns string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := inNetns(ns, cmd.Run)
	return out.String(), err
}

// nftList is `nft list ruleset` inside namespace ns.
func nftList(t testing.TB, ns string) string {
	t.Helper()
	out, err := runIn(t, ns, requireNft(t), "list", "ruleset")
	if err != nil {
		t.Fatalf("nft list ruleset in %s: %v\n%s", ns, err, out)
	}
	return out
}

// The exsim binary, built once per test run (go build ./cmd/exsim).
var (
	exsimOnce sync.Once
	exsimBin  string
	exsimErr  error
	exsimDir  string
)

// exsimBinary builds the exsim command once and returns its path. The
// binary is static (CGO_ENABLED=0), so the compose test can put it in a
// scratch image.
func exsimBinary(t testing.TB) string {
	t.Helper()
	exsimOnce.Do(func() {
		exsimDir, exsimErr = os.MkdirTemp("", "exsim-labtest-bin-")
		if exsimErr != nil {
			return
		}
		exsimBin = filepath.Join(exsimDir, "exsim")
		cmd := exec.Command("go", "build", "-o", exsimBin, "./cmd/exsim")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			exsimErr = fmt.Errorf("go build ./cmd/exsim: %v\n%s", err, out)
		}
	})
	if exsimErr != nil {
		t.Fatal(exsimErr)
	}
	return exsimBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if exsimDir != "" {
		os.RemoveAll(exsimDir)
	}
	os.Exit(code)
}
