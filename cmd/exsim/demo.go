package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/probe/report"
	"github.com/exsim/exsim/roles"
	"github.com/exsim/exsim/scenarios"
	"github.com/exsim/exsim/topology"
)

func newDemoCmd(g *globals) *cobra.Command {
	var exit bool
	var junit string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start the lab, probe every documented flow, run every built-in scenario, keep serving",
		Long: `The one command to see exsim work: starts the default lab (contoso: an Edge, two Mailbox
servers, DNS and an internet mail host) on loopback, waits for EdgeSync, checks every flow
of Microsoft's "Network ports for clients and mail flow" from its source server, runs every
built-in mail-flow scenario, prints the port matrix and the scenario report, writes the
topology picture (SVG), and keeps serving with hints for connecting real clients.
Without root it moves every port up by 10000 (--port-offset) by itself.
With --exit it stops after the report: exit code 0 when everything passed, 1 otherwise.`,
		Example: `  go run ./cmd/exsim demo
  exsim demo --exit --junit report.xml        # CI
  exsim demo --topology contoso-noedge`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("log-level") {
				// The scenarios break hops on purpose; their warnings would
				// drown the report.
				g.logLevel = "error"
			}
			return runDemo(cmd.Context(), g, exit, junit)
		},
	}
	cmd.Flags().BoolVar(&exit, "exit", false, "stop after the report (exit 1 when a flow or scenario failed)")
	cmd.Flags().StringVar(&junit, "junit", "", "also write the probe and scenario results as JUnit XML to this file")
	return cmd
}

func runDemo(ctx context.Context, g *globals, exit bool, junit string) error {
	t, err := g.loadTopology()
	if err != nil {
		return err
	}
	start := time.Now()
	rt, err := startLab(ctx, g, t, nil)
	rt, err = startMovingPorts(ctx, g, t, rt, err)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		rt.Close(sctx)
	}()
	simulateFirewall(rt)
	api, err := startAdmin(g, rt)
	if err != nil {
		return err
	}
	defer api.Shutdown(context.Background())
	done, err := recordRunning(g, rt, t, api)
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintf(g.stdout, "exsim demo: %s lab (%d servers) started in %s; dashboard and admin API %s/\n\n", t.Organization, len(t.Servers), time.Since(start).Round(time.Millisecond), api.URL())

	waitEdgeSync(ctx, g, rt)

	// The probe, in this process (every flow from its source's position),
	// through the admin API so that the dashboard shows its results.
	fmt.Fprintln(g.stdout, "== Probe: every documented flow, from its source server ==")
	token, _ := control.LoadOrCreateToken(rt.DataDir())
	env := demoEnv{c: &control.Client{BaseURL: api.URL(), Token: token}, t: t}
	t0 := time.Now()
	raw, err := env.c.Probe(ctx, control.ProbeRequest{Timeout: probe.DefaultTimeout})
	if err != nil {
		return err
	}
	var results []probe.Result
	if err := json.Unmarshal(raw, &results); err != nil {
		return fmt.Errorf("probe results: %w", err)
	}
	if err := report.WriteTable(g.stdout, results, colored(g.stdout)); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "(probe took %s)\n\n", time.Since(t0).Round(time.Millisecond))
	svg := filepath.Join(rt.DataDir(), "flows.svg")
	if f, err := os.Create(svg); err == nil {
		report.WriteSVG(f, t, results)
		f.Close()
	}

	// The scenarios, through the admin API like any client.
	fmt.Fprintln(g.stdout, "== Scenarios: mail flow along every row of the tables ==")
	all, err := scenarios.Builtin()
	if err != nil {
		return err
	}
	scs, skipped := scenarios.Select(all, t)
	for _, sk := range skipped {
		fmt.Fprintf(g.stderr, "skipped: %s: %s\n", sk.Scenario.Name, sk.Reason)
	}
	sres := runScenarios(ctx, g, env, scs)
	fmt.Fprintln(g.stdout)
	scenarios.WriteTable(g.stdout, sres, colored(g.stdout))
	fmt.Fprintf(g.stdout, "\nTopology picture: %s\n", svg)

	if junit != "" {
		if err := writeDemoJUnit(junit, results, sres); err != nil {
			return err
		}
	}
	ps, ss := probe.Summarize(results), scenarios.Summarize(sres)
	failed := ps.Failed > 0 || ss.Failed > 0
	if exit || ctx.Err() != nil {
		if failed {
			return checkFailed("%d of %d flows and %d of %d scenarios failed", ps.Failed, ps.Flows, ss.Failed, ss.Scenarios)
		}
		return nil
	}
	printHints(g.stdout, t, rt)
	<-ctx.Done()
	fmt.Fprintln(g.stdout, "stopping...")
	if failed {
		return checkFailed("%d of %d flows and %d of %d scenarios failed", ps.Failed, ps.Flows, ss.Failed, ss.Scenarios)
	}
	return nil
}

// waitEdgeSync waits (bounded) until the subscribed Edges have their first
// EdgeSync data, so the scenarios do not race the first push.
func waitEdgeSync(ctx context.Context, g *globals, rt *roles.Runtime) {
	edges := rt.Topology().SubscribedEdges()
	if len(edges) == 0 {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, e := range edges {
		for time.Now().Before(deadline) && ctx.Err() == nil {
			st, err := rt.EdgeSync(e.Name)
			if err == nil && !st.LastSuccess.IsZero() && st.RecipientEntries > 0 {
				fmt.Fprintf(g.stdout, "EdgeSync: %s has the organization's configuration and %d recipients\n\n", e.Name, st.RecipientEntries)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

type demoEnv struct {
	c *control.Client
	t *topology.Topology
}

func (e demoEnv) Client(string) (*control.Client, error) { return e.c, nil }
func (e demoEnv) Topology() *topology.Topology           { return e.t }

func writeDemoJUnit(path string, results []probe.Result, sres []scenarios.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return usageError("%v", err)
	}
	doc := report.JUnit(results)
	doc.Name = "exsim demo"
	doc.Add(scenarios.JUnitSuite(sres))
	return errors.Join(doc.Write(f), f.Close())
}

// printHints tells how to connect real clients to the running lab.
func printHints(w io.Writer, t *topology.Topology, rt *roles.Runtime) {
	off, p := t.PortOffset(), t.Port
	ca := rt.CA().CertPath()
	var mbx, edge *topology.Server
	for i := range t.Servers {
		s := &t.Servers[i]
		switch {
		case s.Role == topology.RoleMailbox && mbx == nil:
			mbx = s
		case s.Role == topology.RoleEdge && edge == nil:
			edge = s
		}
	}
	if mbx == nil {
		return
	}
	front := mbx
	if edge != nil {
		front = edge
	}
	user := "alice@" + t.DefaultDomain()
	if ms := t.MailboxesOn(mbx.Name); len(ms) > 0 {
		user = ms[0].Address
	}
	fmt.Fprintf(w, "\n== The lab keeps running. Connect real clients (password P@ssw0rd; trust %s) ==\n", ca)
	fmt.Fprintf(w, "  swaks --server %s --port %d --from carol@fabrikam.com --to %s         # internet mail into %s\n", front.Address, p(25), user, front.Name)
	fmt.Fprintf(w, "  swaks --server %s --port %d --tls --tls-ca-path %s --auth LOGIN --auth-user %s --auth-password 'P@ssw0rd' --to carol@fabrikam.com\n", mbx.Address, p(587), ca, user)
	fmt.Fprintf(w, "  curl --cacert %s --login-options AUTH=PLAIN -u '%s:P@ssw0rd' imaps://%s:%d/INBOX?ALL --resolve %s:%d:%s\n", ca, user, mbx.FQDN, p(993), mbx.FQDN, p(993), mbx.Address)
	fmt.Fprintf(w, "  curl --cacert %s -sI https://%s:%d/owa/ --resolve %s:%d:%s\n", ca, mbx.FQDN, p(443), mbx.FQDN, p(443), mbx.Address)
	fmt.Fprintf(w, "  browser: add \"%s %s\" to /etc/hosts, trust %s, open https://%s:%d/owa/\n", mbx.Address, mbx.FQDN, ca, mbx.FQDN, p(443))
	fmt.Fprintf(w, "  dig @%s -p %d %s MX\n", t.ServersByRole(topology.RoleDNS)[0].Address, p(53), t.DefaultDomain())
	fmt.Fprintf(w, "  exsim track --subject demo   /   exsim queue   /   exsim probe   (add --port-offset %d)\n", off)
	fmt.Fprintln(w, "Ctrl-C stops.")
}
