package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/membudget"
	"github.com/exsim/exsim/lab"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/roles"
	"github.com/exsim/exsim/topology"
)

func newUpCmd(g *globals) *cobra.Command {
	var noFirewall bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run every server of the topology in one process, each on its own address",
		Long: `Runs every server of the topology in this process. Each server binds its own address
(the built-in labs use 127.0.x.y loopback addresses, so everything runs on one Linux host
with each server on its real ports) and every connection a server opens starts from its
own address. Nothing stands between loopback addresses, so exsim simulates the firewall
the document asks for: flows that must be closed are dropped at their source
(--no-firewall turns that off). Prints the listener table; Ctrl-C stops it cleanly.`,
		Example: `  sudo exsim up                          # the contoso lab on the real ports
  exsim up --port-offset 10000            # without root: port 25 becomes 10025
  exsim up --topology contoso-noedge`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveLab(cmd.Context(), g, nil, !noFirewall)
		},
	}
	cmd.Flags().BoolVar(&noFirewall, "no-firewall", false, "do not simulate the documented firewall (every port open between servers)")
	return cmd
}

func newServeCmd(g *globals) *cobra.Command {
	var server, routeVia string
	cmd := &cobra.Command{
		Use:     "serve --server NAME",
		Short:   "Run one server of the topology (for a container, a VM or a network namespace)",
		Example: `  exsim serve --server EX01 --config lab.yaml --data /var/lib/exsim`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				return usageError("--server is required: the name of a server of the topology")
			}
			if routeVia != "" {
				if err := lab.RouteVia(routeVia); err != nil {
					return usageError("%v", err)
				}
			}
			return serveLab(cmd.Context(), g, []string{server}, false)
		},
	}
	g.serverFlag(cmd, "server", &server, "the server to run, e.g. EX01")
	cmd.Flags().BoolVar(&g.bindAny, "pod", false, "run in a Kubernetes pod behind a Service whose ClusterIP is the server's topology address: listen on every address, connect from the pod's own (exsim export kubernetes)")
	cmd.Flags().StringVar(&routeVia, "route-via", "", "first make GW the default route of this network namespace: the zone's router, for a container (needs CAP_NET_ADMIN)")
	return cmd
}

// startLab starts the servers and reports bind problems as bad input.
func startLab(ctx context.Context, g *globals, t *topology.Topology, servers []string) (*roles.Runtime, error) {
	for _, name := range servers {
		if t.Server(name) == nil {
			var names []string
			for _, s := range t.Servers {
				names = append(names, s.Name)
			}
			return nil, usageError("no server %q in the topology (servers: %s)", name, strings.Join(names, ", "))
		}
	}
	dir, err := g.dataDir()
	if err != nil {
		return nil, err
	}
	rt, err := roles.Start(ctx, roles.Options{
		Topology: t, DataDir: dir, Servers: servers, Logger: g.logger(), BindAny: g.bindAny,
	})
	if err != nil {
		var be *roles.BindError
		if errors.As(err, &be) {
			// Bad input (exit 2), but still a *roles.BindError to
			// startMovingPorts, which moves the ports when it may.
			return nil, &exitError{code: exitUsage, err: be}
		}
		return nil, err
	}
	return rt, nil
}

// startMovingPorts retries a lab that could not bind a port below 1024
// (not root, no CAP_NET_BIND_SERVICE) with every port moved up by 10000,
// as the README promises for demo and up, unless the user chose the port
// offset. rt and err are startLab's first answer.
func startMovingPorts(ctx context.Context, g *globals, t *topology.Topology, rt *roles.Runtime, err error) (*roles.Runtime, error) {
	var be *roles.BindError
	if err == nil || !errors.As(err, &be) || !errors.Is(be.Err, syscall.EACCES) || t.PortOffset() != 0 || g.flagChanged("port-offset") {
		return rt, err
	}
	fmt.Fprintf(g.stderr, "exsim: cannot bind %s: ports below 1024 need root; every port moves up by %d (--port-offset %d)\n", be.Listener.AddrPort(), nonRootOffset, nonRootOffset)
	if err := t.SetPortOffset(nonRootOffset); err != nil {
		return nil, usageError("%v", err)
	}
	return startLab(ctx, g, t, nil)
}

// nonRootOffset is the port offset demo and up choose by themselves when
// they may not bind ports below 1024: port 25 becomes 10025.
const nonRootOffset = 10000

func serveLab(ctx context.Context, g *globals, servers []string, firewall bool) error {
	t, err := g.loadTopology()
	if err != nil {
		return err
	}
	membudget.ApplySoftLimit()
	rt, err := startLab(ctx, g, t, servers)
	if len(servers) == 0 {
		rt, err = startMovingPorts(ctx, g, t, rt, err)
	}
	if err != nil {
		return err
	}
	membudget.SetDir(filepath.Join(rt.DataDir(), "spill"))
	if firewall {
		simulateFirewall(rt)
	}
	api, err := startAdmin(g, rt)
	if err != nil {
		rt.Close(context.Background())
		return err
	}
	if len(servers) == 0 {
		done, err := recordRunning(g, rt, t, api)
		if err != nil {
			api.Shutdown(context.Background())
			rt.Close(context.Background())
			return err
		}
		defer done()
	}
	printListeners(g.stdout, rt)
	fmt.Fprintf(g.stdout, "\nLab CA: %s (trust it in clients)\nDashboard and admin API: %s/ (token in %s)\n", rt.CA().CertPath(), api.URL(), filepath.Join(rt.DataDir(), "admin.token"))
	fmt.Fprintf(g.stdout, "Health, readiness, metrics (no token): %[1]s%[2]s %[1]s%[3]s %[1]s%[4]s\nCtrl-C stops.\n", api.URL(), control.HealthzPath, control.ReadyzPath, control.MetricsPath)
	<-ctx.Done()
	fmt.Fprintln(g.stdout, "stopping...")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	api.Shutdown(sctx)
	return rt.Close(sctx)
}

// startAdmin serves the admin API of a running lab.
func startAdmin(g *globals, rt *roles.Runtime) (*control.Server, error) {
	token, err := control.LoadOrCreateToken(rt.DataDir())
	if err != nil {
		return nil, err
	}
	addr := g.adminURL
	if addr == "" {
		addr = control.DefaultAddr
	}
	addr = strings.TrimPrefix(addr, "http://")
	api, err := control.Listen(addr, token, rt, g.logger())
	if err != nil {
		return nil, usageError("%v", err)
	}
	return api, nil
}

// printListeners prints every server's listeners and their state.
func printListeners(w io.Writer, rt *roles.Runtime) {
	var rows [][]any
	for _, s := range rt.Servers() {
		for _, b := range s.Listeners() {
			state := "listening"
			switch {
			case b.Err != nil:
				state = "FAILED: " + b.Err.Error()
			case !b.Enabled:
				state = "closed (" + b.Why + ")"
			}
			rows = append(rows, []any{s.Config.Name, s.Config.Role, b.Name, fmt.Sprintf("%s/%s", b.AddrPort(), b.Transport), b.TLS, state})
		}
	}
	writeTable(w, "SERVER\tROLE\tLISTENER\tADDRESS\tTLS\tSTATE", rows)
}

// simulateFirewall makes a loopback lab behave like the firewall Microsoft's
// document asks for: every flow the catalogue marks closed is dropped at
// its source (there is no firewall between 127.x addresses).
func simulateFirewall(rt *roles.Runtime) {
	t := rt.Topology()
	for _, f := range probe.SimulatedFirewall(t, probe.Flows(t), labnet.ActionDrop) {
		rt.Faults().Add(f)
	}
}
