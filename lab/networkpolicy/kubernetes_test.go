package networkpolicy_test

import (
	"testing"

	"github.com/exsim/exsim/lab/kubernetes"
	np "github.com/exsim/exsim/lab/networkpolicy"
	"github.com/exsim/exsim/topology"
)

// TestKubernetesExportAllowsExactlyTheDocumentedFlows: the NetworkPolicies
// `exsim export kubernetes` writes, read back by this package's strict
// parser zone file by zone file, allow every documented flow of the probe
// catalogue, deny every flow that must be closed and nothing else, by both
// evaluators; and each server may reach itself (its own Service).
func TestKubernetesExportAllowsExactlyTheDocumentedFlows(t *testing.T) {
	for _, name := range topology.BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			top, err := topology.Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			kt, err := kubernetes.ForServices(top, "10.96.0.0/16") // the export's default
			if err != nil {
				t.Fatal(err)
			}
			files, err := kubernetes.Export(top, kubernetes.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var pols []np.Policy
			for _, z := range kt.Zones {
				path := kubernetes.PoliciesFile(z.Name)
				b, ok := files[path]
				if !ok {
					continue
				}
				ps, _, err := np.Parse(path, b)
				if err != nil {
					t.Fatal(err)
				}
				pols = append(pols, ps...)
			}
			rs, err := np.Translate(kt, pols)
			if err != nil {
				t.Fatal(err)
			}
			checkExactlyDocumented(t, kt, pols, rs)
			for _, s := range kt.Servers {
				p := np.Packet{Src: s.Addr(), Dst: s.Addr(), Proto: "tcp", Port: 2525}
				if !np.Allowed(rs.Pods, pols, p) {
					t.Errorf("%s cannot reach itself: %v", s.Name, p)
				}
			}
		})
	}
}
