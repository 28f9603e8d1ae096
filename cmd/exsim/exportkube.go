package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/lab/kubernetes"
)

func newExportKubernetesCmd(g *globals) *cobra.Command {
	var dir string
	var o kubernetes.Options
	cmd := &cobra.Command{
		Use:   "kubernetes",
		Short: "Generate Kubernetes manifests: a namespace per zone, a workload and Service per server, NetworkPolicies for the documented flows",
		Long: `Without --dir, prints every manifest as one YAML stream (for kubectl apply -f -). With
--dir, writes DIR/manifests/ (for kubectl apply -R -f): the namespaces, and per zone its
servers (ConfigMap with the topology, admin token Secret, a Service and a Deployment, or
a StatefulSet for a Mailbox server, running exsim serve --pod) and its NetworkPolicies
(a default deny, then exactly the documented flows of each server). Beside them:
lab.yaml (the topology on the Service network), admin-endpoints.json and
port-forward.sh, for exsim's commands on this machine.

Each server's Service has a fixed ClusterIP in --service-cidr (kind: 10.96.0.0/16, the
default; k3s: 10.43.0.0/16), which the lab DNS serves; the lab DNS is every pod's
resolver. The servers share a hostPath directory (--host-path) and one node.`,
		Example: `  exsim export kubernetes --dir ./k8s
  kubectl apply -R -f ./k8s/manifests
  exsim export kubernetes --service-cidr 10.43.0.0/16 | kubectl apply -f -   # k3s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.loadTopology()
			if err != nil {
				return err
			}
			files, err := kubernetes.Export(t, o)
			if err != nil {
				return usageError("%v", err)
			}
			if dir == "" {
				_, err := g.stdout.Write(files.Stream(t))
				return err
			}
			if err := writeFiles(g, dir, files, kubernetes.PortForward); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "\nThen: kubectl apply -R -f %s\n", filepath.Join(dir, kubernetes.Manifests))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "write the manifests and exsim's files for the host into DIR")
	fl.StringVar(&o.Image, "image", "", "image of the servers (default exsim-lab:latest, built from deploy/)")
	fl.StringVar(&o.ServiceCIDR, "service-cidr", "", "the cluster's Service network, for the fixed ClusterIPs (default 10.96.0.0/16: kind; k3s: 10.43.0.0/16)")
	fl.StringVar(&o.HostPath, "host-path", "", "node directory of the lab's shared data (default /var/lib/exsim/<organization>)")
	fl.IntVar(&o.AdminPortBase, "admin-port", 19925, "local port of the first server's admin API port-forward; the others follow")
	return cmd
}
