package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exsim/exsim/topology"
)

// writeRuleset writes rs as an nft file in a temporary directory.
func writeRuleset(t testing.TB, rs *Ruleset) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ruleset.nft")
	if err := os.WriteFile(p, []byte(nftText(t, rs)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExportPassesNftCheck: nft itself accepts every exported ruleset
// (nft -c -f, check mode, inside a scratch namespace).
func TestExportPassesNftCheck(t *testing.T) {
	ns := scratchNetns(t)
	requireNft(t)
	for _, name := range topology.BuiltinNames() {
		for _, offset := range []int{0, 10000} {
			rs, err := MinimalRuleset(netTopologyAt(t, name, offset))
			if err != nil {
				t.Fatal(err)
			}
			if err := NftFile(ns, writeRuleset(t, rs), true); err != nil {
				t.Errorf("nft -c -f (%s, offset %d): %v", name, offset, err)
			}
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.nft")
	os.WriteFile(bad, []byte("table inet exsim {\n\tchain forward {\n\t\tip saddr nowhere accept\n\t}\n}\n"), 0o644)
	err := NftFile(ns, bad, true)
	if err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("NftFile(bad ruleset) = %v, want nft's message naming the bad token", err)
	}
}

// TestApplyMatchesText: the ruleset programmed over netlink (the firewall
// container, lab up without --firewall) lists exactly as its text loaded
// by nft does, and applying it again replaces the table.
func TestApplyMatchesText(t *testing.T) {
	requireNft(t)
	for _, tc := range []struct {
		name string
		rs   func(*topology.Topology) (*Ruleset, error)
	}{
		{"minimal", func(t *topology.Topology) (*Ruleset, error) { return MinimalRuleset(t) }},
		{"open", func(t *topology.Topology) (*Ruleset, error) { return OpenRuleset(t), nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			textNS, nlNS := scratchNetns(t), scratchNetns(t)
			rs, err := tc.rs(netTopology(t, "contoso"))
			if err != nil {
				t.Fatal(err)
			}
			if err := NftFile(textNS, writeRuleset(t, rs), false); err != nil {
				t.Fatal(err)
			}
			fd, err := openNetns(nlNS)
			if err != nil {
				t.Fatal(err)
			}
			defer fd.Close()
			for range 2 {
				if err := rs.Apply(int(fd)); err != nil {
					t.Fatalf("Apply: %v", err)
				}
			}
			want, got := nftList(t, textNS), nftList(t, nlNS)
			if got != want {
				t.Errorf("netlink ruleset lists as\n%s\nwant (nft -f of the text)\n%s", got, want)
			}
			if !strings.Contains(got, "table inet exsim") {
				t.Errorf("listing lacks the table:\n%s", got)
			}
		})
	}
}
