package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/exsim/exsim/internal/labtest"
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

func TestMain(m *testing.M) { labtest.Main(m) }
