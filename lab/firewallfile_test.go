package lab

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadFirewallFile: a ruleset file must load and have a chain on the
// forward hook of a family the lab uses; otherwise the lab gets a
// *FirewallError that says what is wrong, not a probe of an unfiltered
// router.
func TestLoadFirewallFile(t *testing.T) {
	ns := scratchNetns(t)
	requireNft(t)
	topo := netTopology(t, "contoso") // IPv4 addresses
	for _, tc := range []struct {
		name, text string
		want       string // "" loads
	}{
		{"inet forward", "table inet exsim {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n", ""},
		{"ip forward", "table ip filter {\n\tchain routed {\n\t\ttype filter hook forward priority 0; policy accept;\n\t}\n}\n", ""},
		{"input and output only", "table inet host {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t}\n\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n\t}\n}\n",
			"no chain on the forward hook (family inet, ip)"},
		{"ip6 forward in an IPv4 lab", "table ip6 filter {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy drop;\n\t}\n}\n",
			"no chain on the forward hook (family inet, ip)"},
		{"regular chain named forward", "table inet exsim {\n\tchain forward {\n\t\ttcp dport 25 accept\n\t}\n}\n",
			"no chain on the forward hook"},
		{"does not parse", "table inet exsim {\n\tchain forward {\n\t\ttcp dport 25 acept\n\t}\n}\n", "acept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each case starts from an empty ruleset.
			if out, err := runIn(t, ns, requireNft(t), "flush", "ruleset"); err != nil {
				t.Fatalf("nft flush ruleset: %v\n%s", err, out)
			}
			file := filepath.Join(t.TempDir(), "fw.nft")
			if err := os.WriteFile(file, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			err := loadFirewallFile(ns, file, topo)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("loadFirewallFile: %v", err)
				}
				return
			}
			var fe *FirewallError
			if !errors.As(err, &fe) || fe.File != file || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), file) {
				t.Fatalf("loadFirewallFile = %v, want a *FirewallError naming %s and saying %q", err, file, tc.want)
			}
		})
	}
}
