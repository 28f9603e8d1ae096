package networkpolicy

import (
	"net/netip"
	"strings"

	"github.com/exsim/exsim/topology"
)

// The labels of exsim's Kubernetes identities. A future `exsim export
// kubernetes` writes the same labels on its namespaces and pods, so a
// policy written against one works against the other.
const (
	// LabelNamespaceName is the label Kubernetes itself puts on every
	// namespace (since 1.22): its name, here the zone's name.
	LabelNamespaceName = "kubernetes.io/metadata.name"
	// LabelZone is on every namespace and names its zone.
	LabelZone = "exsim.io/zone"
	// LabelApp is on every pod, with the value AppName.
	LabelApp = "app.kubernetes.io/name"
	// AppName is the value of LabelApp.
	AppName = "exsim"
	// LabelServer is on every pod: the server's name in lower case (ex01).
	LabelServer = "exsim.io/server"
	// LabelRole is on every pod: the server's role as the topology names it
	// (edge, mailbox, dns, internet).
	LabelRole = "exsim.io/role"
)

// Namespace is a zone of the topology seen as a Kubernetes namespace.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Pod is a server of the topology seen as a Kubernetes pod.
type Pod struct {
	// Server is the topology's name of the server (EX01).
	Server    string
	Namespace string
	Labels    map[string]string
	// IP is the server's topology address.
	IP netip.Addr
}

// NamespaceLabels are the labels of the namespace of zone.
func NamespaceLabels(zone string) map[string]string {
	return map[string]string{LabelNamespaceName: zone, LabelZone: zone}
}

// PodLabels are the labels of the pod of server s.
func PodLabels(s *topology.Server) map[string]string {
	return map[string]string{
		LabelApp:    AppName,
		LabelServer: strings.ToLower(s.Name),
		LabelRole:   string(s.Role),
	}
}

// Namespaces returns the namespaces of topology t: one per zone, in the
// topology's order.
func Namespaces(t *topology.Topology) []Namespace {
	out := make([]Namespace, 0, len(t.Zones))
	for _, z := range t.Zones {
		out = append(out, Namespace{Name: z.Name, Labels: NamespaceLabels(z.Name)})
	}
	return out
}

// Pods returns the pods of topology t: one per server, in the topology's
// order, with the server's address as pod IP. For a lab on real networks
// pass the topology of topology.ForNetwork, whose addresses the router sees.
func Pods(t *topology.Topology) []Pod {
	out := make([]Pod, 0, len(t.Servers))
	for i := range t.Servers {
		s := &t.Servers[i]
		out = append(out, Pod{Server: s.Name, Namespace: s.Zone, Labels: PodLabels(s), IP: s.Addr()})
	}
	return out
}
