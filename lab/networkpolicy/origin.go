package networkpolicy

import (
	"fmt"
	"strings"
)

// Direction is the side of a connection a policy rule governs.
type Direction string

const (
	Ingress Direction = "ingress"
	Egress  Direction = "egress"
)

// Kind says why a rule is in the ruleset.
type Kind string

const (
	// KindReply: the rule accepting replies and related packets (ICMP errors)
	// of connections the policies allowed.
	KindReply Kind = "reply"
	// KindCheck: the forward chain's jumps to the egress and ingress checks
	// of a new connection.
	KindCheck Kind = "check"
	// KindIsolated: a pod is selected by policies of the direction, so only
	// what they allow passes; the rule sends its traffic to its chain.
	KindIsolated Kind = "isolated"
	// KindAllow: an ingress or egress rule item of one policy allows the
	// traffic (for one peer and one port of the item).
	KindAllow Kind = "allow"
	// KindDefaultDeny: the pod is isolated and no rule item of the policies
	// selecting it allowed the traffic.
	KindDefaultDeny Kind = "default-deny"
	// KindNotIsolated: no policy of the direction selects the pod (or the
	// address is no pod): Kubernetes allows everything.
	KindNotIsolated Kind = "not-isolated"
)

// PolicyRef names a policy and where it is.
type PolicyRef struct {
	File      string
	Line      int
	Namespace string
	Name      string
}

func (r PolicyRef) String() string {
	return fmt.Sprintf("%s (%s:%d)", r.Name, r.File, r.Line)
}

// Origin is where a rule of the ruleset comes from.
type Origin struct {
	Kind      Kind
	Direction Direction // empty for KindReply and KindCheck
	// Server is the pod the rule is about (its topology name, EX01); empty
	// for rules about every pod.
	Server string
	// Policies: for KindAllow the one policy the rule item is in; for
	// KindIsolated and KindDefaultDeny every policy selecting Server for
	// Direction, in file order.
	Policies []PolicyRef
	// File and Line: for KindAllow the line of the rule item
	// (spec.ingress[Item]); for KindIsolated and KindDefaultDeny the first
	// policy's line; zero for rules no line of a file made.
	File string
	Line int
	// Item is the index of the rule item in spec.ingress or spec.egress
	// (KindAllow).
	Item int
	// Peer describes the peer the rule matches ("podSelector
	// exsim.io/role=edge", "ipBlock 10.0.0.0/8 except 10.1.0.0/16",
	// "anywhere"); Ports the ports ("tcp 25", "udp 1000-2000", "tcp",
	// "all ports") (KindAllow).
	Peer  string
	Ports string
}

// String is the origin as a reviewer reads it, e.g.
// `policies.yaml:23: allow-smtp ingress[0] from podSelector exsim.io/role=edge tcp 25`.
func (o Origin) String() string {
	at := ""
	if o.File != "" {
		at = fmt.Sprintf("%s:%d: ", o.File, o.Line)
	}
	names := func() string {
		s := make([]string, len(o.Policies))
		for i, p := range o.Policies {
			s[i] = p.String()
		}
		return strings.Join(s, ", ")
	}
	switch o.Kind {
	case KindAllow:
		dir := "from"
		if o.Direction == Egress {
			dir = "to"
		}
		name := ""
		if len(o.Policies) > 0 {
			name = o.Policies[0].Name + " "
		}
		return fmt.Sprintf("%s%s%s[%d] %s %s %s", at, name, o.Direction, o.Item, dir, o.Peer, o.Ports)
	case KindDefaultDeny:
		return fmt.Sprintf("%s%s %s denied: selected by %s; none of their %s rules allows it", at, o.Server, o.Direction, names(), o.Direction)
	case KindIsolated:
		return fmt.Sprintf("%s%s %s isolated by %s", at, o.Server, o.Direction, names())
	case KindNotIsolated:
		if o.Direction == Egress {
			return "source not selected by any policy with policyType Egress (or not a pod): egress allowed"
		}
		return "destination not selected by any policy with policyType Ingress (or not a pod): ingress allowed"
	case KindReply:
		return "reply or related packet of an allowed connection"
	case KindCheck:
		return fmt.Sprintf("new connection: the %s check", o.Direction)
	}
	return at + string(o.Kind)
}
