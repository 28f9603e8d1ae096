package scenarios_test

import (
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/labtest"
	"github.com/exsim/exsim/scenarios"
	"github.com/exsim/exsim/topology"
)

// customContoso is contoso as a user writes it for real networks: other
// subnets and addresses, the same servers and mailboxes.
func customContoso(t *testing.T, edit func(string) string) *topology.Topology {
	t.Helper()
	s := labtest.CustomSubnetsSource(t)
	if edit != nil {
		s = edit(s)
	}
	topo, err := topology.Parse("lab.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func names(scs []*scenarios.Scenario) []string {
	var out []string
	for _, s := range scs {
		out = append(out, s.ID)
	}
	return out
}

// TestSelect: scenarios fit a topology by its shape and the servers and
// mailboxes it has, not by its name: a contoso-shaped lab.yaml on other
// subnets runs every scenario the built-in contoso runs, and a scenario
// that names a server the topology lacks is skipped with the names.
func TestSelect(t *testing.T) {
	all, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	builtin := map[string][]*scenarios.Scenario{}
	for _, name := range topology.BuiltinNames() {
		topo, err := topology.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		run, skipped := scenarios.Select(all, topo)
		if len(skipped) > 0 {
			t.Errorf("%s: skipped %v", name, skipped)
		}
		if want := scenarios.For(all, name); strings.Join(names(run), " ") != strings.Join(names(want), " ") {
			t.Errorf("%s: Select = %v, want the scenarios written for it: %v", name, names(run), names(want))
		}
		builtin[name] = run
	}
	if n := len(builtin["contoso"]); n != 16 {
		t.Errorf("contoso: %d scenarios, want 16", n)
	}

	run, skipped := scenarios.Select(all, customContoso(t, nil))
	if len(skipped) > 0 || len(run) != len(builtin["contoso"]) {
		t.Errorf("custom contoso on other subnets: ran %v, skipped %v; want all %d of contoso's", names(run), skipped, len(builtin["contoso"]))
	}

	// EX02 renamed: the scenarios that name EX02 or bob's mailbox on it
	// are skipped, saying so; the others run.
	renamed := customContoso(t, func(s string) string {
		return strings.NewReplacer("name: EX02", "name: MBX02", "server: EX02", "server: MBX02", "ex02.contoso.com", "mbx02.contoso.com").Replace(s)
	})
	run, skipped = scenarios.Select(all, renamed)
	if len(skipped) == 0 || len(run)+len(skipped) != 16 {
		t.Fatalf("EX02 renamed: ran %d, skipped %d; want some skipped and 16 in all", len(run), len(skipped))
	}
	for _, sk := range skipped {
		if !strings.Contains(sk.Reason, "EX02") || !strings.Contains(sk.Reason, "which the topology lacks") {
			t.Errorf("%s skipped because %q; want it to name EX02", sk.Scenario.ID, sk.Reason)
		}
	}

	// An Edge without its subscription: the Edge scenarios say why they
	// are skipped.
	unsub := customContoso(t, func(s string) string {
		return strings.NewReplacer("subscribed: true", "subscribed: false", "edge_sync: true", "edge_sync: false").Replace(s)
	})
	run, skipped = scenarios.Select(all, unsub)
	if len(run) != 6 || len(skipped) != 10 || !strings.Contains(skipped[0].Reason, "Edge Subscription") {
		t.Errorf("unsubscribed Edge: ran %v, skipped %v", names(run), skipped)
	}
}
