package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/labtest"
)

// TestExportKubernetes: --dir writes the manifests, the topology on the
// Service network and an executable port-forward.sh; without --dir the
// manifests go to standard output; a Service network too small for the
// zones is bad input (exit 2) that names the flag's value.
func TestExportKubernetes(t *testing.T) {
	bin := labtest.Binary(t)
	dir := t.TempDir()
	out, code := exsim(t, bin, "export", "kubernetes", "--dir", dir, "--service-cidr", "10.43.0.0/16")
	if code != 0 || !strings.Contains(out, "kubectl apply -R -f "+filepath.Join(dir, "manifests")) {
		t.Fatalf("export kubernetes --dir = %d\n%s", code, out)
	}
	for _, f := range []string{"manifests/00-namespaces.yaml", "manifests/internal/servers.yaml", "manifests/perimeter/networkpolicies.yaml", "admin-endpoints.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "port-forward.sh")); err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("port-forward.sh: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "lab.yaml")); !strings.Contains(string(b), "address: 10.43.3.1") {
		t.Errorf("lab.yaml does not put EX01 on 10.43.3.1:\n%s", b)
	}
	out, code = exsim(t, bin, "export", "kubernetes", "--topology", "contoso-noedge")
	if code != 0 || !strings.HasPrefix(out, "# exsim: the Contoso lab on Kubernetes") || !strings.Contains(out, "kind: NetworkPolicy") {
		t.Errorf("export kubernetes = %d\n%.300s", code, out)
	}
	out, code = exsim(t, bin, "export", "kubernetes", "--service-cidr", "10.96.0.0/24")
	if code != 2 || !strings.Contains(out, "10.96.0.0/24") {
		t.Errorf("export kubernetes --service-cidr 10.96.0.0/24 = %d %q, want 2", code, out)
	}
}
