package networkpolicy

import (
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// FuzzParse: any input parses or fails with an error that names the file;
// never a panic. What parses translates, or fails naming the file.
func FuzzParse(f *testing.F) {
	fuzzseed.Add(f, []byte(attributionYAML))
	fuzzseed.Add(f, []byte(policyHead+"  podSelector: {}\n  ingres: []\n"))
	fuzzseed.Add(f, []byte("---\n...\n--- {a: 1}\n"))
	fuzzseed.Add(f, []byte(policyHead+"  podSelector: {}\n  ingress:\n    - from:\n        - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n      ports:\n        - {port: 1, endPort: 65535, protocol: SCTP}\n"))
	topo := contoso(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		pols, _, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		rs, err := Translate(topo, pols)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("Translate error without the file name: %v", err)
			}
			return
		}
		ParseNft(t, rs.Text())
	})
}
