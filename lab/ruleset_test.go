package lab

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// netTopology is a built-in topology on real networks.
func netTopology(t testing.TB, name string) *topology.Topology {
	t.Helper()
	b, err := topology.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := b.ForNetwork()
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

// netTopologyAt is netTopology with its ports moved by a port offset.
func netTopologyAt(t testing.TB, name string, offset int) *topology.Topology {
	t.Helper()
	nt := netTopology(t, name)
	if err := nt.SetPortOffset(offset); err != nil {
		t.Fatal(err)
	}
	return nt
}

func nftText(t testing.TB, rs *Ruleset) string {
	t.Helper()
	var b bytes.Buffer
	if err := rs.WriteNft(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestRulesetGolden keeps the exported rulesets of the built-in labs in
// testdata/ (go test -run TestRulesetGolden -update rewrites them).
func TestRulesetGolden(t *testing.T) {
	for _, tc := range []struct {
		topology string
		offset   int
	}{{"contoso", 0}, {"contoso-noedge", 0}, {"contoso", 10000}} {
		name := tc.topology
		if tc.offset != 0 {
			name += "-offset"
		}
		t.Run(name, func(t *testing.T) {
			rs, err := MinimalRuleset(netTopologyAt(t, tc.topology, tc.offset))
			if err != nil {
				t.Fatal(err)
			}
			got := nftText(t, rs)
			if again := nftText(t, rs); again != got {
				t.Fatal("WriteNft is not deterministic")
			}
			golden := filepath.Join("testdata", name+".nft")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("ruleset of %s differs from %s (run with -update after checking the diff):\n%s", name, golden, got)
			}
		})
	}
}

// TestRulesetAllowsExactlyDocumentedFlows checks the rules against the
// flow catalogue: every flow that must pass and crosses zones has exactly
// one rule; no rule exists for a closed flow or a flow inside a zone.
func TestRulesetAllowsExactlyDocumentedFlows(t *testing.T) {
	for _, name := range topology.BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			nt := netTopology(t, name)
			rs, err := MinimalRuleset(nt)
			if err != nil {
				t.Fatal(err)
			}
			ruleFor := map[string]int{}
			for i, r := range rs.Rules {
				for _, f := range r.Flows {
					if _, dup := ruleFor[f.ID]; dup {
						t.Errorf("flow %s has two rules", f.ID)
					}
					ruleFor[f.ID] = i
					src, dst := nt.Server(f.Source), nt.Server(f.Dest)
					if r.Src != src.Addr() || r.Dst != dst.Addr() {
						t.Errorf("rule %q for %s matches %s -> %s, want %s -> %s", r.Comment(), f.ID, r.Src, r.Dst, src.Addr(), dst.Addr())
					}
					if r.Transport != "" && (r.Transport != f.Transport || r.Port != f.Port) {
						t.Errorf("rule %q for %s matches %s/%d, want %s/%d", r.Comment(), f.ID, r.Transport, r.Port, f.Transport, f.Port)
					}
				}
				if c := r.Comment(); len(c) > nftCommentMax || strings.ContainsAny(c, "\"\\\n") {
					t.Errorf("comment %q is not a valid nft comment", c)
				}
			}
			for _, f := range probe.Flows(nt) {
				crosses := nt.Server(f.Source).Zone != nt.Server(f.Dest).Zone
				_, has := ruleFor[f.ID]
				want := crosses && f.Expect != probe.ExpectClosed
				if has != want {
					t.Errorf("flow %s (expect %s, crosses zones %v): rule = %v, want %v", f.ID, f.Expect, crosses, has, want)
				}
			}
		})
	}
}

// TestRulesetUnrestrictedAcrossZones: Mailbox servers in different zones
// get one rule per direction on every port (the ground rule), not the
// probe's port samples.
func TestRulesetUnrestrictedAcrossZones(t *testing.T) {
	nt := netTopology(t, "contoso")
	nt.Zones = append(nt.Zones, topology.Zone{Name: "branch", Subnet: "192.0.2.128/25"})
	// Re-home EX02 in its own zone (a routed branch office).
	for i := range nt.Servers {
		if nt.Servers[i].Name == "EX02" {
			nt.Servers[i].Zone, nt.Servers[i].Address = "branch", "192.0.2.130"
		}
	}
	for i := range nt.Zones {
		if nt.Zones[i].Name == "internal" {
			nt.Zones[i].Subnet = "192.0.2.0/25"
		}
	}
	if err := nt.Validate(); err != nil {
		t.Fatal(err)
	}
	rs, err := MinimalRuleset(nt)
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[string]int{}
	for _, r := range rs.Rules {
		if r.Transport == "" {
			pairs[r.Src.String()+">"+r.Dst.String()] = len(r.Flows)
			for _, f := range r.Flows {
				if f.Expect != probe.ExpectUnrestricted {
					t.Errorf("unrestricted rule %q carries %s (expect %s)", r.Comment(), f.ID, f.Expect)
				}
			}
		}
	}
	for _, k := range []string{"192.0.2.1>192.0.2.130", "192.0.2.130>192.0.2.1"} {
		if pairs[k] == 0 {
			t.Errorf("no unrestricted rule %s; rules: %v", k, pairs)
		}
	}
	if len(pairs) != 2 {
		t.Errorf("unrestricted rules = %v, want the two directions between EX01 and EX02", pairs)
	}
	text := nftText(t, rs)
	if !strings.Contains(text, `ip saddr 192.0.2.1 ip daddr 192.0.2.130 accept comment "unrestricted EX01 -> EX02"`) {
		t.Errorf("text lacks the unrestricted rule:\n%s", text)
	}
}

func TestRulesetWithout(t *testing.T) {
	rs, err := MinimalRuleset(netTopology(t, "contoso"))
	if err != nil {
		t.Fatal(err)
	}
	const id = "edgesync-EX01-EDGE01-50636"
	less := rs.Without(id)
	if len(less.Rules) != len(rs.Rules)-1 {
		t.Fatalf("Without(%s) has %d rules, want %d", id, len(less.Rules), len(rs.Rules)-1)
	}
	if strings.Contains(nftText(t, less), id) || !strings.Contains(nftText(t, rs), id) {
		t.Errorf("Without(%s) did not remove exactly its rule", id)
	}
}

func TestOpenRuleset(t *testing.T) {
	text := nftText(t, OpenRuleset(netTopology(t, "contoso")))
	if !strings.Contains(text, "policy accept;") || strings.Contains(text, " accept comment") {
		t.Errorf("open ruleset:\n%s", text)
	}
}
