// Package networkpolicy translates Kubernetes NetworkPolicies
// (networking.k8s.io/v1) into the nftables ruleset of exsim's lab router,
// so that a firewall change written as NetworkPolicy YAML can be reviewed
// against Microsoft's documented Exchange flows like any other ruleset.
//
// # Identities
//
// The topology is mapped to Kubernetes objects, with the labels a future
// `exsim export kubernetes` writes (the Label* constants):
//   - each zone is a namespace named after the zone, labelled
//     kubernetes.io/metadata.name=<zone> and exsim.io/zone=<zone>;
//   - each server is a pod in its zone's namespace, labelled
//     app.kubernetes.io/name=exsim, exsim.io/server=<name in lower case,
//     ex01> and exsim.io/role=<edge|mailbox|dns|internet>, with its
//     topology address as pod IP (pass topology.ForNetwork's topology for
//     the namespace lab).
//
// # Parsing
//
// Parse reads a multi-document file strictly: unknown or duplicate keys,
// wrong types and anything exsim cannot translate are errors naming the
// file, the line and the key ("policies.yaml:14: spec.ingres: unknown
// field"). Namespace documents are skipped with a note, since exsim's
// namespaces are its zones and their labels are fixed; any other kind is
// an error, since exsim's pods are its servers. metadata.namespace is
// required (there is no kubectl context to default it from), and must be
// a zone. Named ports are errors: the lab's pods have no container ports.
//
// # Semantics
//
// Translate implements NetworkPolicy semantics for the lab's fixed set of
// pods, resolving every selector to concrete addresses at translation time:
//   - a pod is open for ingress (and, separately, egress) until a policy
//     whose policyTypes include that direction selects it (policyTypes
//     defaults to Ingress, plus Egress when the policy has egress rules);
//     then only the union of what those policies' rule items allow passes;
//   - a connection between two pods needs the source's egress and the
//     destination's ingress; to or from an address that is no pod (an
//     ipBlock peer) only the pod's side applies;
//   - a peer is a podSelector (in the policy's namespace), a
//     namespaceSelector (every pod of the matching namespaces), both (pods
//     matching podSelector in the matching namespaces), or an ipBlock with
//     except; an ipBlock matches pod addresses too. Empty selectors select
//     everything; a rule item without peers allows every address, one
//     without ports every protocol and port;
//   - ports are TCP (the default), UDP or SCTP, a number or a port..endPort
//     range, or a protocol alone;
//   - replies and related packets (ICMP errors) of allowed connections pass
//     (ct state established,related).
//
// # The ruleset
//
// The text replaces the table "inet exsim" with a forward chain (policy
// drop) as `exsim export nftables` does, so it loads into the router
// namespace the same way. The forward chain accepts replies, then jumps to
// np-egress and np-ingress. np-egress sends each egress-isolated pod's
// traffic (by source address) to its chain egress-<pod>, whose rules
// "return" what a rule item allows and drop the rest; np-ingress does the
// same by destination address with chains ingress-<pod>, whose rules
// accept, and ends accepting traffic to pods no Ingress policy selects.
// Traffic between pods of one zone crosses a bridge, not the router: its
// rules are written, but the namespace lab cannot enforce them.
//
// # Attribution
//
// Every rule carries the nft comment "np:<n>", n its index in
// Ruleset.Rules; comments survive into `nft -a list ruleset` and into nft
// traces, so a later step that learns from the kernel which rule accepted
// or dropped a packet calls Ruleset.Lookup with the comment and prints the
// rule's Origin: the policy's file and line, the line of the ingress or
// egress rule item, the peer and the ports
// ("policies.yaml:23: allow-smtp ingress[0] from podSelector
// exsim.io/role=edge tcp 25"). A drop at the end of a pod's chain is the
// "default deny because a policy selects the pod" decision; its Origin
// lists every policy selecting the pod for that direction.
package networkpolicy
