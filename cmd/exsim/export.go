package main

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/lab"
	"github.com/exsim/exsim/lab/kubernetes"
	"github.com/exsim/exsim/topology"
)

func newExportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export nftables|compose|kubernetes",
		Short: "Generate the minimal firewall ruleset, a docker-compose lab or Kubernetes manifests for a topology",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newExportNftablesCmd(g), newExportComposeCmd(g), newExportKubernetesCmd(g))
	return cmd
}

// networkTopology is --config/--topology on real networks: every server
// moved into its zone's subnet.
func (g *globals) networkTopology() (*topology.Topology, error) {
	t, err := g.loadTopology()
	if err != nil {
		return nil, err
	}
	nt, err := t.ForNetwork()
	if err != nil {
		return nil, usageError("%v", err)
	}
	return nt, nil
}

func newExportNftablesCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "nftables",
		Short: "Write the nftables ruleset that allows exactly the documented flows between the zones",
		Long: `Writes "table inet exsim": a forward chain with policy drop that accepts established
traffic, the ICMP errors a path needs, and one rule per documented flow that crosses
zones (source address, destination address, protocol, port), commented with the flow
ID and the seed's words. Flows inside a zone never reach a router; flows that must stay
closed get no rule. Addresses are the topology's on real networks (each zone's subnet).
Load it with nft -f, or test a changed copy with exsim lab test --firewall.`,
		Example: `  exsim export nftables > exchange.nft
  nft -c -f exchange.nft                      # syntax check
  exsim export nftables --port-offset 10000 --config lab.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.networkTopology()
			if err != nil {
				return err
			}
			rs, err := lab.MinimalRuleset(t)
			if err != nil {
				return usageError("%v", err)
			}
			var b bytes.Buffer
			if err := rs.WriteNft(&b); err != nil {
				return err
			}
			return writeOutput(g.stdout, output, b.Bytes(), 0o644)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to FILE instead of standard output")
	return cmd
}

func newExportComposeCmd(g *globals) *cobra.Command {
	var dir, image string
	var adminPort int
	cmd := &cobra.Command{
		Use:   "compose",
		Short: "Generate a docker-compose lab: a container per server, a network per zone, a firewall between them",
		Long: `Without --dir, prints docker-compose.yml. With --dir, writes a complete compose lab:
DIR/docker-compose.yml, and the image's build context DIR/deploy/ with its Dockerfile
(FROM scratch), the topology on the compose networks (lab.yaml) and the admin API
endpoints for the host's exsim commands (admin-endpoints.json); when this exsim binary
is static it is copied there too, otherwise build one with CGO_ENABLED=0.
Zone subnets avoid every network this host routes or has an address in (and a built-in
topology's RFC 5737 ranges): such a zone moves to a free /24 of 10.231.0.0/16, said on
standard error. The server containers write the lab CA to DIR/deploy/certs (a bind
mount), so host-side commands given --data DIR/deploy trust the servers.
The repository's docker-compose.yml is this command's output for the default topology.`,
		Example: `  exsim export compose --dir ./mylab --config lab.yaml
  cd mylab && docker compose up --build -d   # or docker-compose (Compose v1)
  exsim export compose > docker-compose.yml   # the compose file alone`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.composeTopology()
			if err != nil {
				return err
			}
			files, err := lab.Compose(t, lab.ComposeOptions{Image: image, AdminPortBase: adminPort})
			if err != nil {
				return usageError("%v", err)
			}
			if dir == "" {
				_, err := g.stdout.Write(files[lab.ComposeFile])
				return err
			}
			return writeComposeDir(g, dir, files)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "write the compose lab (compose file and build context) into DIR")
	cmd.Flags().StringVar(&image, "image", "", "image name of the services (default exsim-lab:latest)")
	cmd.Flags().IntVar(&adminPort, "admin-port", 19925, "host port (127.0.0.1) of the first server's admin API; the others follow")
	return cmd
}

// newExportKubernetesCmd writes the lab as Kubernetes objects (lab/kubernetes).
func newExportKubernetesCmd(g *globals) *cobra.Command {
	dir, o := "", kubernetes.Options{}
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

// writeFiles writes files (by slash-separated path under dir) in path
// order, naming each; the paths in executable get mode 0755.
func writeFiles(g *globals, dir string, files map[string][]byte, executable ...string) error {
	names := slices.Sorted(maps.Keys(files))
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if slices.Contains(executable, n) {
			mode = 0o755
		}
		if err := os.WriteFile(p, files[n], mode); err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, "wrote", p)
	}
	return nil
}

func writeComposeDir(g *globals, dir string, files lab.ComposeFiles) error {
	if err := writeFiles(g, dir, files); err != nil {
		return err
	}
	bin := filepath.Join(dir, filepath.FromSlash(lab.ComposeBinary))
	exe, err := os.Executable()
	if err == nil && isStatic(exe) {
		b, err := os.ReadFile(exe)
		if err != nil {
			return err
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, "wrote", bin, "(this exsim binary: it is static)")
	} else {
		fmt.Fprintf(g.stdout, "\nThis exsim binary is not static: build one for the image with\n  CGO_ENABLED=0 GOOS=linux go build -o %s ./cmd/exsim\n", bin)
	}
	fmt.Fprintf(g.stdout, "\nThen: cd %s && docker compose up --build -d   (or docker-compose, Compose v1)\n", dir)
	return nil
}

// composeTopology is --config/--topology on the networks of a compose lab
// on this host: zones off the host's own networks (and a built-in
// topology off the RFC 5737 ranges), each move said on standard error.
func (g *globals) composeTopology() (*topology.Topology, error) {
	t, err := g.loadTopology()
	if err != nil {
		return nil, err
	}
	used, err := lab.HostNetworks()
	if err != nil {
		return nil, err
	}
	nt, notes, err := lab.ComposeNetwork(t, used, g.config == "")
	if err != nil {
		return nil, usageError("%v", err)
	}
	for _, n := range notes {
		fmt.Fprintln(g.stderr, "exsim: compose:", n)
	}
	return nt, nil
}

// isStatic reports whether the ELF file has no program interpreter (no
// dynamic loader): it runs in a scratch image.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// writeOutput writes b to path, or to w when path is "" or "-".
func writeOutput(w io.Writer, path string, b []byte, mode os.FileMode) error {
	if path == "" || path == "-" {
		_, err := w.Write(b)
		return err
	}
	return os.WriteFile(path, b, mode)
}
