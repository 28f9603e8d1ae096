package networkpolicy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestRandomPoliciesAgreeWithSemantics generates policy sets over the
// contoso lab's labels (a fixed seed: failures reproduce) and compares
// the translated ruleset with the direct semantics on every connection.
func TestRandomPoliciesAgreeWithSemantics(t *testing.T) {
	topo := contoso(t)
	rng := rand.New(rand.NewPCG(10, 2026))
	addrs := []netip.Addr{edge01, ex01, ex02, dns01, inet01, nopod}
	ports := []int{25, 53, 443, 1000, 1500}
	compared, allowed := 0, 0
	for set := range 300 {
		var pols []Policy
		for i := range 1 + rng.IntN(4) {
			pols = append(pols, randomPolicy(rng, fmt.Sprintf("p%d", i)))
		}
		rs, err := Translate(topo, pols)
		if err != nil {
			t.Fatalf("set %d: Translate: %v", set, err)
		}
		prog := ParseNft(t, rs.Text())
		for p := range connections(addrs, ports) {
			want := Allowed(rs.Pods, pols, p)
			got, trail := prog.Eval(t, p)
			if got != want {
				t.Fatalf("set %d: Eval(%v) = %v, semantics say %v (rules %v)\npolicies: %+v\n%s", set, p, got, want, trail, pols, rs.Text())
			}
			compared++
			if got {
				allowed++
			}
		}
	}
	// Both outcomes must be common, or the comparison proves little.
	if allowed < compared/10 || allowed > compared*9/10 {
		t.Errorf("%d of %d connections allowed: the generator is lopsided", allowed, compared)
	}
	t.Logf("%d connections compared, %d allowed", compared, allowed)
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

func randomSelector(rng *rand.Rand, ns bool) *metav1.LabelSelector {
	if ns {
		switch rng.IntN(4) {
		case 0:
			return &metav1.LabelSelector{}
		case 1:
			return &metav1.LabelSelector{MatchLabels: map[string]string{LabelZone: pick(rng, "internet", "perimeter", "internal")}}
		case 2:
			return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: LabelNamespaceName, Operator: metav1.LabelSelectorOpNotIn, Values: []string{pick(rng, "internet", "internal")}}}}
		}
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: LabelZone, Operator: metav1.LabelSelectorOpExists}}}
	}
	switch rng.IntN(6) {
	case 0:
		return &metav1.LabelSelector{}
	case 1:
		return &metav1.LabelSelector{MatchLabels: map[string]string{LabelRole: pick(rng, "edge", "mailbox", "dns", "internet")}}
	case 2:
		return &metav1.LabelSelector{MatchLabels: map[string]string{LabelServer: pick(rng, "ex01", "ex02", "edge01", "dns01", "inet01")}}
	case 3:
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: LabelServer, Operator: pick(rng, metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn), Values: []string{"ex01", "inet01"}}}}
	case 4:
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: pick(rng, LabelRole, "nothere"), Operator: pick(rng, metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist)}}}
	}
	return &metav1.LabelSelector{MatchLabels: map[string]string{LabelApp: AppName}}
}

func randomPeers(rng *rand.Rand) []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for range rng.IntN(3) {
		var p networkingv1.NetworkPolicyPeer
		switch rng.IntN(4) {
		case 0:
			p.PodSelector = randomSelector(rng, false)
		case 1:
			p.NamespaceSelector = randomSelector(rng, true)
		case 2:
			p.PodSelector, p.NamespaceSelector = randomSelector(rng, false), randomSelector(rng, true)
		default:
			p.IPBlock = pick(rng,
				&networkingv1.IPBlock{CIDR: "127.0.0.0/8"},
				&networkingv1.IPBlock{CIDR: "127.0.0.0/8", Except: []string{"127.0.30.0/24"}},
				&networkingv1.IPBlock{CIDR: "127.0.20.0/24", Except: []string{"127.0.20.53/32", "127.0.20.2/32"}},
				&networkingv1.IPBlock{CIDR: "127.0.99.0/24"})
		}
		out = append(out, p)
	}
	return out
}

func randomPorts(rng *rand.Rand) []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for range rng.IntN(3) {
		var p networkingv1.NetworkPolicyPort
		if rng.IntN(3) > 0 {
			proto := pick(rng, corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)
			p.Protocol = &proto
		}
		if rng.IntN(4) > 0 {
			port := intstr.FromInt32(pick[int32](rng, 25, 53, 443, 1000))
			p.Port = &port
			if rng.IntN(3) == 0 {
				end := port.IntVal + pick[int32](rng, 0, 1, 500)
				p.EndPort = &end
			}
		}
		out = append(out, p)
	}
	return out
}

func randomPolicy(rng *rand.Rand, name string) Policy {
	var p Policy
	p.File, p.Line = "random", 1
	p.Object.Name, p.Object.Namespace = name, pick(rng, "internet", "perimeter", "internal")
	p.Object.Spec.PodSelector = *randomSelector(rng, false)
	p.Object.Spec.PolicyTypes = pick(rng, nil,
		[]networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		[]networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
		[]networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress})
	for range rng.IntN(3) {
		p.Object.Spec.Ingress = append(p.Object.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: randomPeers(rng), Ports: randomPorts(rng)})
	}
	for range rng.IntN(3) {
		p.Object.Spec.Egress = append(p.Object.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: randomPeers(rng), Ports: randomPorts(rng)})
	}
	return p
}
