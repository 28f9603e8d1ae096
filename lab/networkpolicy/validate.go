package networkpolicy

import (
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// validate checks what Kubernetes' own validation of a NetworkPolicy
// checks and what exsim needs to translate it: a name and a namespace,
// valid selectors, peers that say one thing, TCP/UDP/SCTP ports given by
// number, CIDRs that parse. Every error names the key.
func (p *Policy) validate() error {
	var errs []error
	add := func(e *Error) { errs = append(errs, e) }
	o := &p.Object
	if o.Name == "" {
		add(p.errAt("metadata.name", "required"))
	}
	if o.Namespace == "" {
		// kubectl would use the context's namespace; exsim has no context,
		// and a policy silently landing in a namespace without pods would
		// review as "no change".
		add(p.errAt("metadata.namespace", "required: the zone the policy applies in (exsim's namespaces are its zones)"))
	}
	if _, err := selector(&o.Spec.PodSelector); err != nil {
		add(p.errAt("spec.podSelector", "%v", err))
	}
	for i, t := range o.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			add(p.errAt(fmt.Sprintf("spec.policyTypes[%d]", i), "%q is neither Ingress nor Egress", t))
		}
	}
	for i, r := range o.Spec.Ingress {
		p.validateRule(fmt.Sprintf("spec.ingress[%d]", i), "from", r.From, r.Ports, add)
	}
	for i, r := range o.Spec.Egress {
		p.validateRule(fmt.Sprintf("spec.egress[%d]", i), "to", r.To, r.Ports, add)
	}
	return errors.Join(errs...)
}

// validateRule checks the peers (under the key peersKey: from or to) and
// the ports of the ingress or egress rule at base.
func (p *Policy) validateRule(base, peersKey string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, add func(*Error)) {
	for j := range peers {
		p.validatePeer(&peers[j], fmt.Sprintf("%s.%s[%d]", base, peersKey, j), add)
	}
	for j := range ports {
		p.validatePort(&ports[j], fmt.Sprintf("%s.ports[%d]", base, j), add)
	}
}

func (p *Policy) validatePeer(peer *networkingv1.NetworkPolicyPeer, path string, add func(*Error)) {
	if peer.PodSelector == nil && peer.NamespaceSelector == nil && peer.IPBlock == nil {
		add(p.errAt(path, "a peer needs podSelector, namespaceSelector or ipBlock"))
		return
	}
	if peer.IPBlock != nil && (peer.PodSelector != nil || peer.NamespaceSelector != nil) {
		add(p.errAt(path, "ipBlock cannot be combined with podSelector or namespaceSelector in one peer"))
		return
	}
	if peer.PodSelector != nil {
		if _, err := selector(peer.PodSelector); err != nil {
			add(p.errAt(path+".podSelector", "%v", err))
		}
	}
	if peer.NamespaceSelector != nil {
		if _, err := selector(peer.NamespaceSelector); err != nil {
			add(p.errAt(path+".namespaceSelector", "%v", err))
		}
	}
	if b := peer.IPBlock; b != nil {
		cidr, err := netip.ParsePrefix(b.CIDR)
		if err != nil {
			add(p.errAt(path+".ipBlock.cidr", "%q is not a CIDR (e.g. 192.0.2.0/24)", b.CIDR))
			return
		}
		for k, e := range b.Except {
			ep, err := netip.ParsePrefix(e)
			kp := fmt.Sprintf("%s.ipBlock.except[%d]", path, k)
			switch {
			case err != nil:
				add(p.errAt(kp, "%q is not a CIDR", e))
			case ep.Addr().Is4() != cidr.Addr().Is4() || ep.Bits() < cidr.Bits() || !cidr.Contains(ep.Addr()):
				add(p.errAt(kp, "%s is not inside the cidr %s", e, b.CIDR))
			}
		}
	}
}

func (p *Policy) validatePort(port *networkingv1.NetworkPolicyPort, path string, add func(*Error)) {
	if port.Protocol != nil {
		switch *port.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			add(p.errAt(path+".protocol", "%q: a NetworkPolicy port is TCP, UDP or SCTP", *port.Protocol))
		}
	}
	if port.Port == nil {
		if port.EndPort != nil {
			add(p.errAt(path+".endPort", "endPort needs a numeric port"))
		}
		return
	}
	if port.Port.Type == intstr.String {
		add(p.errAt(path+".port", "named port %q: exsim's servers have no container port names; give the port number (the documented port, e.g. 25)", port.Port.StrVal))
		return
	}
	n := port.Port.IntVal
	if n < 1 || n > 65535 {
		add(p.errAt(path+".port", "%d is not a port (1-65535)", n))
		return
	}
	if port.EndPort != nil && (*port.EndPort < n || *port.EndPort > 65535) {
		add(p.errAt(path+".endPort", "%d: endPort must be between port (%d) and 65535", *port.EndPort, n))
	}
}

// selector converts a LabelSelector, checking its operators and values.
func selector(s *metav1.LabelSelector) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, err
	}
	return sel, nil
}
