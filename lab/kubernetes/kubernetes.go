// Package kubernetes writes a lab as Kubernetes objects (`exsim export
// kubernetes`): a namespace per zone, a workload and a Service per server
// running `exsim serve --pod` from the image deploy/ builds, the lab DNS
// as every pod's resolver, and NetworkPolicies that allow exactly the
// flows of Microsoft's port document (probe.Flows) behind a default deny
// in each namespace. Namespaces and pods carry the labels of
// lab/networkpolicy, so `exsim lab diff --firewall-format networkpolicy`
// reviews a change to these policies like any other ruleset.
//
// # Addresses
//
// Pods get their addresses from the cluster, but Exchange's servers are
// found by the addresses the lab DNS serves. So each server's topology
// address becomes its Service's ClusterIP, fixed in spec.clusterIP inside
// the cluster's Service network (Options.ServiceCIDR): zone i takes the
// i+1'th /24 of it, and a server keeps the last byte of its address (EX01
// 127.0.20.1 in the third zone of 10.96.0.0/16 becomes 10.96.3.1). The pod
// listens on every address (serve --pod) and NetworkPolicies match pods
// by label, so neither depends on the pod IPs.
//
// # Data
//
// exsim's servers share one data directory, as the compose lab's
// containers share a volume: the lab CA, the Edge Subscription file the
// Mailbox servers import, the EdgeSync credentials. Namespaces cannot
// share a PersistentVolumeClaim, so the data is a hostPath directory of the
// node, and a required pod affinity keeps every pod of the lab on one node.
// Mailbox servers run as StatefulSets (one pod at a time on a mailbox
// database, stable identity); the other servers as Deployments that
// replace their pod (strategy Recreate).
package kubernetes

import (
	"fmt"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/exsim/exsim/topology"
)

// Options tune the export.
type Options struct {
	// Image is the image of every server (default "exsim-lab:latest", the
	// image `docker build deploy/` makes after deploy/build.sh).
	Image string
	// ServiceCIDR is the cluster's Service network, from which Services
	// get their fixed ClusterIPs (default 10.96.0.0/16, kind's; k3s uses
	// 10.43.0.0/16). It needs a /24 per zone after the first.
	ServiceCIDR string
	// HostPath is the node directory of the lab's data (default
	// /var/lib/exsim/<organization in lower case>).
	HostPath string
	// AdminToken is the admin APIs' bearer token (default
	// "exsim-kubernetes"); the APIs are reached by kubectl port-forward
	// only: no NetworkPolicy admits port 9925.
	AdminToken string
	// AdminPortBase is the local port of the first server's port-forward
	// in admin-endpoints.json and port-forward.sh; the others follow
	// (default 19925).
	AdminPortBase int
}

func (o *Options) defaults(t *topology.Topology) {
	if o.Image == "" {
		o.Image = "exsim-lab:latest"
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.96.0.0/16"
	}
	if o.HostPath == "" {
		o.HostPath = "/var/lib/exsim/" + dnsLabel(t.Organization)
	}
	if o.AdminToken == "" {
		o.AdminToken = "exsim-kubernetes"
	}
	if o.AdminPortBase == 0 {
		o.AdminPortBase = 19925
	}
}

// In the image and the pods.
const (
	topologyDir   = "/etc/exsim" // the ConfigMap, over the image's lab.yaml
	topologyKey   = "lab.yaml"
	dataDir       = "/exsim-data"
	adminPort     = 9925
	tokenKey      = "token"
	topologyMap   = "exsim-topology"
	adminSecret   = "exsim-admin"
	containerName = "exsim"
)

// ForServices returns a copy of t for the cluster: every server's address
// is its Service's ClusterIP in cidr, and each zone's subnet the /24 its
// servers are in.
func ForServices(t *topology.Topology, cidr string) (*topology.Topology, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("service CIDR %q: want an IPv4 network such as 10.96.0.0/16", cidr)
	}
	p = p.Masked()
	if p.Bits() > 24 || (1<<(24-p.Bits())) <= len(t.Zones) {
		return nil, fmt.Errorf("service CIDR %s: too small for %d zones (a /24 per zone after the first)", p, len(t.Zones))
	}
	b, err := t.Marshal()
	if err != nil {
		return nil, err
	}
	out, err := topology.Parse("kubernetes topology", b)
	if err != nil {
		return nil, err
	}
	base := p.Addr().As4()
	subnet := map[string][4]byte{}
	for i := range out.Zones {
		z := &out.Zones[i]
		if errs := validation.IsDNS1123Label(z.Name); len(errs) > 0 {
			return nil, fmt.Errorf("zone %q cannot name a namespace: %s", z.Name, strings.Join(errs, "; "))
		}
		n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 + uint32(i+1)<<8
		a := [4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), 0}
		subnet[z.Name] = a
		z.Subnet = netip.PrefixFrom(netip.AddrFrom4(a), 24).String()
	}
	for i := range out.Servers {
		s := &out.Servers[i]
		if !s.Addr().Is4() {
			return nil, fmt.Errorf("%s: address %s: the export gives servers IPv4 ClusterIPs by their last byte", s.Name, s.Address)
		}
		// A Service's name is a DNS-1035 label: it starts with a letter.
		if errs := validation.IsDNS1035Label(dnsLabel(s.Name)); len(errs) > 0 {
			return nil, fmt.Errorf("server %q cannot name a Service: %s", s.Name, strings.Join(errs, "; "))
		}
		a := subnet[s.Zone]
		a[3] = s.Addr().As4()[3]
		if a[3] == 0 || a[3] == 255 {
			return nil, fmt.Errorf("%s: host number %d of %s is not usable", s.Name, a[3], s.Address)
		}
		s.Address = netip.AddrFrom4(a).String()
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("topology on the Service network: %w", err)
	}
	return out, nil
}

// dnsLabel is s in lower case with anything but [a-z0-9-] made '-': a
// Kubernetes object name.
func dnsLabel(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}
