package networkpolicy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/exsim/exsim/lab"
	np "github.com/exsim/exsim/lab/networkpolicy"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// contosoNet is the contoso lab as the namespace lab and its router see it.
func contosoNet(t *testing.T) *topology.Topology {
	t.Helper()
	topo, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	if topo, err = topo.ForNetwork(); err != nil {
		t.Fatal(err)
	}
	return topo
}

func translateFile(t *testing.T, topo *topology.Topology, path string) ([]np.Policy, *np.Ruleset) {
	t.Helper()
	pols, _, err := np.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := np.Translate(topo, pols)
	if err != nil {
		t.Fatal(err)
	}
	return pols, rs
}

func packetOf(t *testing.T, topo *topology.Topology, f probe.Flow) np.Packet {
	t.Helper()
	src, dst := topo.Server(f.Source), topo.Server(f.Dest)
	if src == nil || dst == nil {
		t.Fatalf("flow %s names a server the topology lacks", f.ID)
	}
	// The documented port: policies are written against Exchange's ports.
	return np.Packet{Src: src.Addr(), Dst: dst.Addr(), Proto: f.Transport, Port: f.BasePort}
}

// TestContosoMinimumAllowsExactlyTheDocumentedFlows: the policy set of
// testdata/contoso-minimum.yaml allows every documented flow of the probe
// catalogue (open, unrestricted, reachable), denies every flow that must
// be closed, and allows nothing else between any two servers on any port
// the catalogue names (and a few it does not).
func TestContosoMinimumAllowsExactlyTheDocumentedFlows(t *testing.T) {
	topo := contosoNet(t)
	pols, rs := translateFile(t, topo, "testdata/contoso-minimum.yaml")
	checkExactlyDocumented(t, topo, pols, rs)
}

// checkExactlyDocumented checks, with both evaluators (the nft text of rs
// and NetworkPolicy semantics applied to pols), that the policies allow
// every documented flow of topo's probe catalogue (open, unrestricted,
// reachable), deny every flow that must be closed, and allow nothing else
// between any two servers on any port the catalogue names (and a few it
// does not).
func checkExactlyDocumented(t *testing.T, topo *topology.Topology, pols []np.Policy, rs *np.Ruleset) {
	t.Helper()
	prog := np.ParseNft(t, rs.Text())
	flows := probe.Flows(topo)
	if len(flows) < 30 {
		t.Fatalf("probe.Flows gave %d flows; the contoso catalogue has more", len(flows))
	}
	closed := 0
	for _, f := range flows {
		p := packetOf(t, topo, f)
		want := f.Expect != probe.ExpectClosed
		if !want {
			closed++
		}
		got, trail := prog.Eval(t, p)
		if got != want {
			t.Errorf("flow %s (%s, %v): ruleset allows = %v, want %v; rules %v", f.ID, f.Expect, p, got, want, trail)
		}
		if sem := np.Allowed(rs.Pods, pols, p); sem != want {
			t.Errorf("flow %s (%v): NetworkPolicy semantics allow = %v, want %v", f.ID, p, sem, want)
		}
	}
	if closed == 0 {
		t.Fatal("no must-be-closed flow checked")
	}

	// Exactly: what is allowed is what a documented flow covers.
	documented := func(p np.Packet) bool {
		for _, f := range flows {
			if f.Expect == probe.ExpectClosed {
				continue
			}
			fp := packetOf(t, topo, f)
			if fp.Src != p.Src || fp.Dst != p.Dst {
				continue
			}
			if f.Expect == probe.ExpectUnrestricted || (fp.Proto == p.Proto && fp.Port == p.Port) {
				return true
			}
		}
		return false
	}
	ports := []int{1, 22, 1082, 3389, 8080, 50389, 65535}
	for _, f := range flows {
		if !slices.Contains(ports, f.BasePort) {
			ports = append(ports, f.BasePort)
		}
	}
	n := 0
	for _, src := range topo.Servers {
		for _, dst := range topo.Servers {
			if src.Name == dst.Name {
				continue
			}
			for _, proto := range []string{"tcp", "udp", "sctp"} {
				for _, port := range ports {
					p := np.Packet{Src: src.Addr(), Dst: dst.Addr(), Proto: proto, Port: port}
					if got, want := np.Allowed(rs.Pods, pols, p), documented(p); got != want {
						got2, _ := prog.Eval(t, p)
						t.Errorf("%s -> %s %s/%d: allowed = %v (ruleset %v), documented = %v", src.Name, dst.Name, proto, port, got, got2, want)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d flows and %d connections checked", len(flows), n)
}

// TestContosoWithoutEdgeSync: the policies without EdgeSync's rule on
// either side (the Edge's 50636 ingress rule; EX01's egress policy
// edgesync-out) deny exactly the EdgeSync flow, and the ruleset says why:
// the isolation of the side whose rule is gone, by the policy selecting
// it.
func TestContosoWithoutEdgeSync(t *testing.T) {
	topo := contosoNet(t)
	_, before := translateFile(t, topo, "testdata/contoso-minimum.yaml")
	progBefore := np.ParseNft(t, before.Text())
	for _, tc := range []struct {
		file, denied string
		// allowedBy is the direction whose allow the flow still passed
		// before the isolation of the other side denied it (empty: the
		// trail is not checked for it).
		allowedBy np.Direction
	}{
		{"testdata/contoso-no-edgesync.yaml", "testdata/contoso-no-edgesync.yaml:142: EDGE01 ingress denied: selected by edge (testdata/contoso-no-edgesync.yaml:142); none of their ingress rules allows it", np.Egress},
		{"testdata/contoso-no-edgesync-egress.yaml", "testdata/contoso-no-edgesync-egress.yaml:12: EX01 egress denied: selected by mailbox (testdata/contoso-no-edgesync-egress.yaml:12); none of their egress rules allows it", ""},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			pols, after := translateFile(t, topo, tc.file)
			progAfter := np.ParseNft(t, after.Text())
			found := false
			for _, f := range probe.Flows(topo) {
				p := packetOf(t, topo, f)
				was, _ := progBefore.Eval(t, p)
				is, trail := progAfter.Eval(t, p)
				if f.ID != "edgesync-EX01-EDGE01-50636" {
					if is != was {
						t.Errorf("flow %s: allowed %v before, %v after removing the EdgeSync rule", f.ID, was, is)
					}
					continue
				}
				found = true
				if !was || is || np.Allowed(after.Pods, pols, p) {
					t.Errorf("EdgeSync flow: allowed before = %v, after = %v; want true, false", was, is)
					continue
				}
				last, ok := after.Lookup(trail[len(trail)-1])
				if !ok || last.Origin.Kind != np.KindDefaultDeny || last.Origin.String() != tc.denied {
					t.Errorf("EdgeSync denied by %+v\nwant %s", last.Origin, tc.denied)
				}
				if tc.allowedBy == "" {
					continue
				}
				// The side that kept its rule still allowed it: the trail
				// shows that rule.
				var sawAllow bool
				for _, c := range trail {
					r, _ := after.Lookup(c)
					sawAllow = sawAllow || (r.Origin.Kind == np.KindAllow && r.Origin.Direction == tc.allowedBy && r.Origin.Ports == "tcp 50636")
				}
				if !sawAllow {
					t.Errorf("EdgeSync trail %v lacks the %s allow", trail, tc.allowedBy)
				}
			}
			if !found {
				t.Fatal("the catalogue has no flow edgesync-EX01-EDGE01-50636")
			}
		})
	}
}

// TestSameTableAsTheLab: the text replaces the lab's own firewall table.
func TestSameTableAsTheLab(t *testing.T) {
	if np.TableName != lab.TableName || np.ChainName != lab.ChainName {
		t.Errorf("table %s chain %s, the lab's are %s and %s", np.TableName, np.ChainName, lab.TableName, lab.ChainName)
	}
}

// TestNftAcceptsTheText: nft itself accepts the generated ruleset (check
// mode), and after loading it in a private network namespace lists every
// rule with its np:<n> comment, the key the lab's traces will carry.
func TestNftAcceptsTheText(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: nft talks to the kernel even in check mode")
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (apt-get install nftables)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not installed (util-linux): no private network namespace to load into")
	}
	topo := contosoNet(t)
	for _, file := range []string{"testdata/contoso-minimum.yaml", "testdata/contoso-no-edgesync.yaml", "testdata/contoso-no-edgesync-egress.yaml"} {
		_, rs := translateFile(t, topo, file)
		path := filepath.Join(t.TempDir(), "np.nft")
		if err := os.WriteFile(path, []byte(rs.Text()), 0o644); err != nil {
			t.Fatal(err)
		}
		// -n: a fresh network namespace, so nothing of the host is touched.
		out, err := exec.Command(unshare, "-n", nft, "-c", "-f", path).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "unshare failed") {
				t.Skipf("cannot create a network namespace: %s", out)
			}
			t.Fatalf("nft -c -f %s: %v\n%s", file, err, out)
		}
		out, err = exec.Command(unshare, "-n", "sh", "-c", `"$0" -f "$1" && "$0" -a list ruleset`, nft, path).CombinedOutput()
		if err != nil {
			t.Fatalf("nft -f, list: %v\n%s", err, out)
		}
		listed := regexp.MustCompile(`comment "(np:\d+)"`).FindAllStringSubmatch(string(out), -1)
		if len(listed) != len(rs.Rules) {
			t.Errorf("%s: nft lists %d commented rules, the ruleset has %d", file, len(listed), len(rs.Rules))
		}
		for i, m := range listed {
			if i < len(rs.Rules) && m[1] != rs.Rules[i].Comment {
				t.Errorf("%s: listed rule %d has comment %s, want %s", file, i, m[1], rs.Rules[i].Comment)
			}
		}
	}
}
