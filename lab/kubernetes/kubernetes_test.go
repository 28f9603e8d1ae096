package kubernetes_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/exsim/exsim/lab/kubernetes"
	np "github.com/exsim/exsim/lab/networkpolicy"
	"github.com/exsim/exsim/topology"
)

// decoded is every object of an export, by kind and namespace/name.
type decoded map[string]map[string]any

// decodeAll decodes every document of every manifest strictly (unknown or
// duplicate fields fail) into its k8s.io/api type; a kind the export must
// not write fails too.
func decodeAll(t *testing.T, files kubernetes.Files) decoded {
	t.Helper()
	newObj := map[string]func() any{
		"v1/Namespace":                       func() any { return &corev1.Namespace{} },
		"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
		"v1/Secret":                          func() any { return &corev1.Secret{} },
		"v1/Service":                         func() any { return &corev1.Service{} },
		"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
		"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
		"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
	}
	out := decoded{}
	for name, b := range files {
		if !strings.HasPrefix(name, kubernetes.Manifests+"/") {
			continue
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			j, err := yaml.YAMLToJSONStrict(doc)
			if err != nil {
				t.Fatalf("%s document %d: %v", name, i, err)
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct{ Name, Namespace string }
			}
			if err := json.Unmarshal(j, &head); err != nil {
				t.Fatalf("%s document %d: %v", name, i, err)
			}
			mk, ok := newObj[head.APIVersion+"/"+head.Kind]
			if !ok {
				t.Fatalf("%s document %d: unexpected %s %s", name, i, head.APIVersion, head.Kind)
			}
			obj := mk()
			strict, err := kjson.UnmarshalStrict(j, obj)
			if err != nil || len(strict) > 0 {
				t.Fatalf("%s document %d (%s %s): %v %v", name, i, head.Kind, head.Metadata.Name, err, strict)
			}
			if out[head.Kind] == nil {
				out[head.Kind] = map[string]any{}
			}
			key := head.Metadata.Namespace + "/" + head.Metadata.Name
			if _, dup := out[head.Kind][key]; dup {
				t.Errorf("%s %s written twice", head.Kind, key)
			}
			out[head.Kind][key] = obj
		}
	}
	return out
}

func export(t *testing.T, name string) (*topology.Topology, kubernetes.Files) {
	t.Helper()
	top, err := topology.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	files, err := kubernetes.Export(top, kubernetes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kt, err := topology.Parse("lab.yaml", files[kubernetes.TopologyFile])
	if err != nil {
		t.Fatalf("the exported lab.yaml does not load: %v", err)
	}
	return kt, files
}

// TestExportDecodes: every document decodes strictly; each zone is a
// namespace with lab/networkpolicy's labels; each server has a Service
// whose ClusterIP is its address in the exported topology, and a workload
// (a StatefulSet for a Mailbox server) whose pods carry the server's
// labels, run exsim serve --pod for it, and resolve through the lab DNS.
func TestExportDecodes(t *testing.T) {
	for _, name := range topology.BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			kt, files := export(t, name)
			objs := decodeAll(t, files)
			if len(objs["Namespace"]) != len(kt.Zones) {
				t.Errorf("%d namespaces for %d zones", len(objs["Namespace"]), len(kt.Zones))
			}
			for _, z := range kt.Zones {
				ns, ok := objs["Namespace"]["/"+z.Name].(*corev1.Namespace)
				if !ok || !maps.Equal(ns.Labels, np.NamespaceLabels(z.Name)) {
					t.Errorf("namespace %s: %+v", z.Name, ns)
				}
				cm, ok := objs["ConfigMap"][z.Name+"/exsim-topology"].(*corev1.ConfigMap)
				if !ok || !strings.HasSuffix(string(files[kubernetes.TopologyFile]), cm.Data["lab.yaml"]) {
					t.Errorf("zone %s: the ConfigMap's topology is not lab.yaml's", z.Name)
				}
			}
			dns := kt.ServersByRole(topology.RoleDNS)[0].Address
			for _, s := range kt.Servers {
				key := s.Zone + "/" + strings.ToLower(s.Name)
				svc, ok := objs["Service"][key].(*corev1.Service)
				if !ok || svc.Spec.ClusterIP != s.Address || !maps.Equal(svc.Spec.Selector, np.PodLabels(&s)) {
					t.Errorf("%s: Service %+v, want ClusterIP %s", s.Name, svc, s.Address)
				}
				var tmpl corev1.PodTemplateSpec
				if sts, ok := objs["StatefulSet"][key].(*appsv1.StatefulSet); ok {
					tmpl = sts.Spec.Template
				} else if d, ok := objs["Deployment"][key].(*appsv1.Deployment); ok {
					tmpl = d.Spec.Template
				} else {
					t.Fatalf("%s: no workload", s.Name)
				}
				if _, sts := objs["StatefulSet"][key]; sts != (s.Role == topology.RoleMailbox) {
					t.Errorf("%s (%s): StatefulSet = %v", s.Name, s.Role, sts)
				}
				args := strings.Join(tmpl.Spec.Containers[0].Args, " ")
				if !maps.Equal(tmpl.Labels, np.PodLabels(&s)) || !strings.Contains(args, "serve --server "+s.Name+" --pod") {
					t.Errorf("%s: pod labels %v, args %q", s.Name, tmpl.Labels, args)
				}
				if tmpl.Spec.DNSPolicy != corev1.DNSNone || tmpl.Spec.DNSConfig == nil || !slices.Equal(tmpl.Spec.DNSConfig.Nameservers, []string{dns}) {
					t.Errorf("%s: DNS %s %+v, want the lab DNS %s", s.Name, tmpl.Spec.DNSPolicy, tmpl.Spec.DNSConfig, dns)
				}
			}
			var eps map[string]struct{ URL string }
			if err := json.Unmarshal(files[kubernetes.EndpointsFile], &eps); err != nil || len(eps) != len(kt.Servers) {
				t.Errorf("admin-endpoints.json = %v, %v", eps, err)
			}
			for zone := range objs["Namespace"] {
				zone = strings.TrimPrefix(zone, "/")
				if _, ok := objs["NetworkPolicy"][zone+"/default-deny"]; !ok {
					t.Errorf("namespace %s has no default-deny policy", zone)
				}
			}
		})
	}
}

// TestStreamIsEveryManifest: the stream (no --dir) holds the same
// documents as the files, namespaces first.
func TestStreamIsEveryManifest(t *testing.T) {
	kt, files := export(t, "contoso")
	stream := files.Stream(kt)
	want := 0
	for name, b := range files {
		if strings.HasPrefix(name, kubernetes.Manifests+"/") {
			want += bytes.Count(b, []byte("\nkind: "))
		}
	}
	if got := bytes.Count(stream, []byte("\nkind: ")); got != want || !bytes.Contains(stream[:200], []byte("kind: Namespace")) {
		t.Errorf("stream has %d objects (want %d), starting %q", got, want, stream[:200])
	}
	all := decodeAll(t, kubernetes.Files{kubernetes.Manifests + "/all.yaml": stream})
	if n := len(all["NetworkPolicy"]); n != len(kt.Servers)+len(kt.Zones) {
		t.Errorf("stream has %d NetworkPolicies, want one per server and zone", n)
	}
}

func TestForServicesErrors(t *testing.T) {
	top, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cidr, want string }{
		{"10.96.0.0/24", "too small"},
		{"fd00::/64", "IPv4"},
		{"banana", "IPv4"},
	} {
		if _, err := kubernetes.ForServices(top, tc.cidr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ForServices(%s) = %v, want %q", tc.cidr, err, tc.want)
		}
	}
	bad := strings.Replace(string(must(top.Marshal())), "name: EX02", "name: 2EX", 1)
	bad = strings.ReplaceAll(bad, "server: EX02", "server: 2EX")
	if badTop, err := topology.Parse("bad.yaml", []byte(bad)); err != nil {
		t.Fatal(err)
	} else if _, err := kubernetes.ForServices(badTop, "10.96.0.0/16"); err == nil || !strings.Contains(err.Error(), `server "2EX" cannot name a Service`) {
		t.Errorf("ForServices with a server named 2EX = %v", err)
	}
	kt, err := kubernetes.ForServices(top, "10.43.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(kt.Server("EX01").Address, " ", kt.Server("EDGE01").Address); got != "10.43.3.1 10.43.2.1" {
		t.Errorf("k3s addresses: EX01 EDGE01 = %s", got)
	}
	if err := top.SetPortOffset(10000); err != nil {
		t.Fatal(err)
	}
	if _, err := kubernetes.Export(top, kubernetes.Options{}); err == nil || !strings.Contains(err.Error(), "port offset") {
		t.Errorf("Export with a port offset = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
