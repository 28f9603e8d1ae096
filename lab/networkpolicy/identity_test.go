package networkpolicy

import (
	"maps"
	"net/netip"
	"testing"
)

func TestIdentities(t *testing.T) {
	topo := contoso(t)
	want := map[string]struct {
		ns, role string
		ip       netip.Addr
	}{
		"EDGE01": {"perimeter", "edge", edge01}, "EX01": {"internal", "mailbox", ex01}, "EX02": {"internal", "mailbox", ex02},
		"DNS01": {"internal", "dns", dns01}, "INET01": {"internet", "internet", inet01},
	}
	pods := Pods(topo)
	if len(pods) != len(want) {
		t.Fatalf("Pods = %d pods, want %d", len(pods), len(want))
	}
	for _, p := range pods {
		w, ok := want[p.Server]
		if !ok {
			t.Fatalf("unexpected pod %s", p.Server)
		}
		wantLabels := map[string]string{
			"app.kubernetes.io/name": "exsim", "exsim.io/role": w.role,
			"exsim.io/server": map[string]string{"EDGE01": "edge01", "EX01": "ex01", "EX02": "ex02", "DNS01": "dns01", "INET01": "inet01"}[p.Server],
		}
		if p.Namespace != w.ns || p.IP != w.ip || !maps.Equal(p.Labels, wantLabels) {
			t.Errorf("pod %s = %s %s %v, want %s %s %v", p.Server, p.Namespace, p.IP, p.Labels, w.ns, w.ip, wantLabels)
		}
	}
	nss := Namespaces(topo)
	if len(nss) != 3 {
		t.Fatalf("Namespaces = %v, want the three zones", nss)
	}
	for _, n := range nss {
		if want := map[string]string{"kubernetes.io/metadata.name": n.Name, "exsim.io/zone": n.Name}; !maps.Equal(n.Labels, want) {
			t.Errorf("namespace %s labels = %v, want %v", n.Name, n.Labels, want)
		}
	}
	// On real networks the pod IP is the address the router sees.
	net, err := topo.ForNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if got := Pods(net)[1].IP; got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("EX01's pod IP on real networks = %s, want 192.0.2.1", got)
	}
}
