package labtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The exsim command for tests that run it as users do, built once per test
// process.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// Binary builds the exsim command once per test process and returns its
// path. The binary is static (CGO_ENABLED=0), so a container test can put
// it in a scratch image. A package that calls Binary removes it at the end
// with Main.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "exsim-test-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "exsim")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/exsim/exsim/cmd/exsim")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/exsim: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// Exsim runs the exsim command (Binary) with args and returns its standard
// output; a failing run fails the test with its standard error.
func Exsim(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(Binary(t), args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w\n%s", err, ee.Stderr)
		}
		t.Fatalf("exsim %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Main runs a package's tests and removes the binary Binary built:
//
//	func TestMain(m *testing.M) { labtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// ExitCode runs cmd and returns its exit status; a command that could not
// run at all fails the test.
func ExitCode(t testing.TB, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}
