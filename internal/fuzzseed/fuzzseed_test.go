package fuzzseed

import (
	"flag"
	"testing"
)

func TestEncode(t *testing.T) {
	b, err := Encode([]byte("a\x00\"b\r\n"), "é", true, 7, uint8(10))
	if err != nil {
		t.Fatal(err)
	}
	want := "go test fuzz v1\n[]byte(\"a\\x00\\\"b\\r\\n\")\nstring(\"é\")\nbool(true)\nint(7)\nbyte(10)\n"
	if string(b) != want {
		t.Errorf("Encode = %q, want %q", b, want)
	}
	if _, err := Encode(3.5); err == nil {
		t.Error("Encode(float64) did not fail")
	}
}

// FuzzAddBytes checks that AddBytes seeds a []byte target with every seed
// it was given, each as bytes: the seeds run as the target's cases, and the
// target counts what it saw. Under -fuzz (.ci/fuzz) the seeds run in worker
// processes, so the count is checked only in a plain go test run.
func FuzzAddBytes(f *testing.F) {
	seeds := []string{"a", "b\r\n", ""}
	AddBytes(f, seeds...)
	seen := map[string]bool{}
	f.Fuzz(func(t *testing.T, b []byte) { seen[string(b)] = true })
	f.Cleanup(func() {
		if fl := flag.Lookup("test.fuzz"); fl != nil && fl.Value.String() != "" {
			return
		}
		for _, s := range seeds {
			if !seen[s] {
				f.Errorf("seed %q was not run as []byte", s)
			}
		}
	})
}
