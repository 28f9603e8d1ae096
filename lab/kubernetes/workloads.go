package kubernetes

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	np "github.com/exsim/exsim/lab/networkpolicy"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

var (
	typeNamespace   = metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}
	typeConfigMap   = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
	typeSecret      = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
	typeService     = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	typeDeployment  = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	typeStatefulSet = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}
)

func namespace(zone topology.Zone) *corev1.Namespace {
	meta := metav1.ObjectMeta{Name: zone.Name, Labels: np.NamespaceLabels(zone.Name)}
	if zone.Description != "" {
		meta.Annotations = map[string]string{"exsim.io/description": zone.Description}
	}
	return &corev1.Namespace{TypeMeta: typeNamespace, ObjectMeta: meta}
}

// zoneConfig is what every pod of a zone mounts: the topology and the
// admin token.
func zoneConfig(zone string, topo []byte, o Options) []any {
	return []any{
		&corev1.ConfigMap{TypeMeta: typeConfigMap, ObjectMeta: metav1.ObjectMeta{Name: topologyMap, Namespace: zone},
			Data: map[string]string{topologyKey: string(topo)}},
		&corev1.Secret{TypeMeta: typeSecret, ObjectMeta: metav1.ObjectMeta{Name: adminSecret, Namespace: zone},
			StringData: map[string]string{tokenKey: o.AdminToken}},
	}
}

// listenerPorts are the server's listeners as Service ports: every
// enabled one except loopback-only ones (AD LDS 50389), on its documented
// port.
func listenerPorts(t *topology.Topology, s *topology.Server) []corev1.ServicePort {
	var out []corev1.ServicePort
	for _, l := range t.Listeners(s) {
		if l.Enabled && !l.Bind.IsLoopback() {
			out = addPort(out, l.Transport, l.BasePort)
		}
	}
	return out
}

// addPort adds transport/port to ports unless it is there already.
func addPort(ports []corev1.ServicePort, transport string, port int) []corev1.ServicePort {
	proto := corev1.ProtocolTCP
	if transport == "udp" {
		proto = corev1.ProtocolUDP
	}
	for _, p := range ports {
		if p.Protocol == proto && int(p.Port) == port {
			return ports
		}
	}
	return append(ports, corev1.ServicePort{
		Name: fmt.Sprintf("%s-%d", transport, port), Protocol: proto,
		Port: int32(port), TargetPort: intstr.FromInt32(int32(port)),
	})
}

// service is server s's Service: its ClusterIP is the server's address.
// Its ports are the listeners and the ports of every documented flow to
// the server that nothing binds (the RPC samples between Mailbox servers):
// a ClusterIP forwards only the ports its Service names, so without them
// such a flow would vanish (filtered) instead of being refused by the pod.
func service(t *topology.Topology, s *topology.Server, flows []probe.Flow) *corev1.Service {
	ports := listenerPorts(t, s)
	for _, f := range flows {
		if f.Dest == s.Name && f.Expect != probe.ExpectClosed {
			ports = addPort(ports, f.Transport, f.BasePort)
		}
	}
	return &corev1.Service{
		TypeMeta:   typeService,
		ObjectMeta: metav1.ObjectMeta{Name: dnsLabel(s.Name), Namespace: s.Zone, Labels: np.PodLabels(s)},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: s.Address, ClusterIPs: []string{s.Address},
			Selector: np.PodLabels(s), Ports: ports,
		},
	}
}

// podTemplate runs `exsim serve --pod` for server s.
func podTemplate(t *topology.Topology, s *topology.Server, o Options) corev1.PodTemplateSpec {
	var ports []corev1.ContainerPort
	for _, p := range listenerPorts(t, s) {
		ports = append(ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.Port, Protocol: p.Protocol})
	}
	ports = append(ports, corev1.ContainerPort{Name: "admin", ContainerPort: adminPort, Protocol: corev1.ProtocolTCP})
	hostPath := corev1.HostPathDirectoryOrCreate
	spec := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: containerName, Image: o.Image, ImagePullPolicy: corev1.PullIfNotPresent,
			Args: []string{"serve", "--server", s.Name, "--pod", "--config", topologyDir + "/" + topologyKey,
				"--data", dataDir, "--admin", fmt.Sprintf("0.0.0.0:%d", adminPort)},
			Env: []corev1.EnvVar{{Name: "EXSIM_ADMIN_TOKEN", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: adminSecret}, Key: tokenKey},
			}}},
			Ports: ports,
			VolumeMounts: []corev1.VolumeMount{
				{Name: "topology", MountPath: topologyDir, ReadOnly: true},
				{Name: "data", MountPath: dataDir},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "topology", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: topologyMap}}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: o.HostPath, Type: &hostPath}}},
		},
		// Every pod of the lab on one node: they share the hostPath data.
		Affinity: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{np.LabelApp: np.AppName}},
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: np.LabelZone, Operator: metav1.LabelSelectorOpExists}}},
				TopologyKey:       "kubernetes.io/hostname",
			}},
		}},
		EnableServiceLinks: new(false),
	}
	if dns := t.ServersByRole(topology.RoleDNS); len(dns) > 0 {
		// The lab DNS is the pods' resolver, as a server's NIC points at
		// the organization's DNS (exsim itself asks it directly).
		spec.DNSPolicy = corev1.DNSNone
		cfg := &corev1.PodDNSConfig{Searches: []string{t.DefaultDomain()}}
		for i, d := range dns {
			if i < 3 { // the resolver's limit
				cfg.Nameservers = append(cfg.Nameservers, d.Address)
			}
		}
		spec.DNSConfig = cfg
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: np.PodLabels(s)}, Spec: spec}
}

// workload is a StatefulSet for a Mailbox server (its mailbox database
// and queues: one pod at a time, stable identity) and a Deployment that
// replaces its pod for any other server.
func workload(t *topology.Topology, s *topology.Server, o Options) any {
	meta := metav1.ObjectMeta{Name: dnsLabel(s.Name), Namespace: s.Zone, Labels: np.PodLabels(s)}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{np.LabelServer: strings.ToLower(s.Name)}}
	if s.Role == topology.RoleMailbox {
		return &appsv1.StatefulSet{TypeMeta: typeStatefulSet, ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{
			Replicas: new(int32(1)), Selector: sel, ServiceName: dnsLabel(s.Name), Template: podTemplate(t, s, o),
		}}
	}
	return &appsv1.Deployment{TypeMeta: typeDeployment, ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
		Replicas: new(int32(1)), Selector: sel, Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
		Template: podTemplate(t, s, o),
	}}
}
