package kubernetes

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	np "github.com/exsim/exsim/lab/networkpolicy"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

var typeNetworkPolicy = metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}

var bothDirections = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}

// defaultDeny isolates every pod of a zone in both directions: what no
// other policy of the namespace allows is dropped.
func defaultDeny(zone string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   typeNetworkPolicy,
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny", Namespace: zone},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{}, PolicyTypes: bothDirections},
	}
}

// peerRule collects the ports of the documented flows between a server
// and one peer; all means a flow allows every port (the ground rule
// between internal Exchange servers).
type peerRule struct {
	peer  *topology.Server
	ports []networkingv1.NetworkPolicyPort
	all   bool
	ids   []string
}

func (r *peerRule) add(f probe.Flow) {
	r.ids = append(r.ids, f.ID)
	if f.Expect == probe.ExpectUnrestricted {
		r.all = true
		return
	}
	proto := corev1.ProtocolTCP
	if f.Transport == "udp" {
		proto = corev1.ProtocolUDP
	}
	p := networkingv1.NetworkPolicyPort{Protocol: &proto, Port: new(intstr.FromInt32(int32(f.BasePort)))}
	if !slices.ContainsFunc(r.ports, func(q networkingv1.NetworkPolicyPort) bool {
		return *q.Protocol == *p.Protocol && q.Port.IntVal == p.Port.IntVal
	}) {
		r.ports = append(r.ports, p)
	}
}

// podPeer selects exactly server s's pod, in its zone's namespace.
func podPeer(s *topology.Server) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{np.LabelNamespaceName: s.Zone}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{np.LabelServer: strings.ToLower(s.Name)}},
	}
}

// serverPolicy allows server s's documented flows: in, from each flow's
// source; out, to each flow's destination; and to and from itself (a
// server reaching its own Service, as EX01's Front End Transport hands
// mail to its own Transport service on 2525). Flows that must be closed
// get no rule: the default deny drops them.
func serverPolicy(t *topology.Topology, s *topology.Server, flows []probe.Flow) *networkingv1.NetworkPolicy {
	in, out := map[string]*peerRule{}, map[string]*peerRule{}
	var inOrder, outOrder []string
	collect := func(rules map[string]*peerRule, order *[]string, peer *topology.Server, f probe.Flow) {
		r, ok := rules[peer.Name]
		if !ok {
			r = &peerRule{peer: peer}
			rules[peer.Name] = r
			*order = append(*order, peer.Name)
		}
		r.add(f)
	}
	for _, f := range flows {
		if f.Expect == probe.ExpectClosed || f.Source == f.Dest {
			continue
		}
		src, dst := t.Server(f.Source), t.Server(f.Dest)
		if src == nil || dst == nil {
			continue
		}
		if dst.Name == s.Name {
			collect(in, &inOrder, src, f)
		}
		if src.Name == s.Name {
			collect(out, &outOrder, dst, f)
		}
	}
	self := podPeer(s)
	spec := networkingv1.NetworkPolicySpec{
		PodSelector: *self.PodSelector,
		PolicyTypes: bothDirections,
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{self}}},
		Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{self}}},
	}
	for _, name := range inOrder {
		r := in[name]
		spec.Ingress = append(spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{podPeer(r.peer)}, Ports: r.portsOrAll()})
	}
	for _, name := range outOrder {
		r := out[name]
		spec.Egress = append(spec.Egress, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{podPeer(r.peer)}, Ports: r.portsOrAll()})
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta: typeNetworkPolicy,
		ObjectMeta: metav1.ObjectMeta{
			Name: dnsLabel(s.Name), Namespace: s.Zone, Labels: np.PodLabels(s),
			Annotations: map[string]string{"exsim.io/flows": flowList(in, inOrder, out, outOrder)},
		},
		Spec: spec,
	}
}

func (r *peerRule) portsOrAll() []networkingv1.NetworkPolicyPort {
	if r.all {
		return nil
	}
	return r.ports
}

// flowList names the flows a policy allows, for a reader of the YAML.
func flowList(in map[string]*peerRule, inOrder []string, out map[string]*peerRule, outOrder []string) string {
	var ids []string
	for _, n := range inOrder {
		ids = append(ids, in[n].ids...)
	}
	for _, n := range outOrder {
		ids = append(ids, out[n].ids...)
	}
	slices.Sort(ids)
	return strings.Join(slices.Compact(ids), " ")
}
