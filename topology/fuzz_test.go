package topology

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// FuzzParse drives the whole path a lab.yaml takes (decode, defaults,
// validation, then what the commands derive from it: the port offset, the
// listener view, the DNS zones, the copy for real networks): YAML bytes in,
// a topology or an error naming the file out, never a panic. The seed
// corpus is the built-in labs and the broken files of testdata/broken.
func FuzzParse(f *testing.F) {
	for _, n := range BuiltinNames() {
		b, _ := BuiltinSource(n)
		fuzzseed.Add(f, b)
	}
	broken, _ := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	if len(broken) == 0 {
		f.Fatal("no seed files in testdata/broken")
	}
	for _, p := range broken {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		fuzzseed.Add(f, b)
	}
	fuzzseed.Add(f, []byte("servers: [{name: EX01}]\n"))
	fuzzseed.Add(f, []byte("organization: &a [*a]\n"))
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, data []byte) {
	{
		top, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Parse error %T %q, want Errors", err, err)
			}
			for _, e := range es {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml") || e.Msg == "" {
					t.Fatalf("error %q does not name the file or says nothing", e)
				}
			}
			return
		}
		// A topology that parses is usable: every derived view works.
		if err := top.Validate(); err != nil {
			t.Fatalf("Parse accepted a topology that Validate rejects: %v", err)
		}
		for _, off := range []int{0, 10000, 30000, -1} {
			if top.SetPortOffset(off) == nil {
				for _, l := range top.View().Servers {
					for _, ln := range l.Listeners {
						if ln.Port < 1 || ln.Port > MaxPort {
							t.Fatalf("offset %d accepted but %s is on port %d", off, ln.Name, ln.Port)
						}
					}
				}
			}
		}
		_ = top.DNSZones()
		if nt, err := top.ForNetwork(); err == nil && nt.PortOffset() != top.PortOffset() {
			t.Fatalf("ForNetwork lost the port offset: %d, want %d", nt.PortOffset(), top.PortOffset())
		}
		b, err := top.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if _, err := Parse("fuzz round trip", b); err != nil {
			t.Fatalf("a valid topology does not survive Marshal and Parse: %v\n%s", err, b)
		}
	}
}
