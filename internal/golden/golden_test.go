package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder records failures instead of failing the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "transcript.txt")
	rec := &recorder{TB: t}
	Check(rec, path, "S: 220\r\n")
	if !rec.failed {
		t.Error("Check with no golden file passed, want a failure")
	}
	*update = true
	Check(t, path, "S: 220\r\n")
	*update = false
	if b, err := os.ReadFile(path); err != nil || string(b) != "S: 220\r\n" {
		t.Fatalf("after -update the file holds %q, %v; want the transcript", b, err)
	}
	rec = &recorder{TB: t}
	Check(rec, path, "S: 220\r\n")
	if rec.failed {
		t.Error("Check of the same transcript failed")
	}
	Check(rec, path, "S: 554\r\n")
	if !rec.failed {
		t.Error("Check of a changed transcript passed, want a failure")
	}
}
