package exsimtest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestSeparateModule runs the tests of testdata/consumer, a module of its
// own that requires github.com/exsim/exsim (a replace directive points at
// this checkout) and uses exsimtest.Start as another project would. It
// runs offline: every module it needs is in the module cache already.
func TestSeparateModule(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs another module's tests")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go command at %s: %v", goBin, err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// A copy, so that -mod=mod may complete its go.mod and go.sum without
	// touching the checkout.
	dir := t.TempDir()
	for _, f := range []string{"go.mod", "mail_test.go"} {
		b, err := os.ReadFile(filepath.Join("testdata", "consumer", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "go.mod" {
			b = []byte(strings.Replace(string(b), "=> ../../..", "=> "+root, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// exsim's own go.sum holds every checksum the consumer needs.
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"test", "-count=1", "-v"}
	if raceEnabled {
		args = append(args, "-race") // reuses this build's cached packages
	}
	cmd := exec.Command(goBin, append(args, "./...")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in a module that uses exsimtest: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^--- PASS: TestInvoiceReachesAlice`).Match(out) {
		t.Fatalf("the consumer's test did not pass:\n%s", out)
	}
	t.Logf("consumer module:\n%s", out)
}
