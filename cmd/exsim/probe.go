package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/probe/report"
	"github.com/exsim/exsim/topology"
)

type probeFlags struct {
	format, output, from, to, table string
	flows                           []string
	timeout                         time.Duration
}

func newProbeCmd(g *globals) *cobra.Command {
	var f probeFlags
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Check every documented flow from its source server and print the port matrix",
		Long: `Derives every flow of Microsoft's "Network ports for clients and mail flow" for the
topology (client access; mail flow with or without an Edge; EdgeSync; DNS; open proxy
detection; and the ground rules: unrestricted between internal Exchange servers, closed
from the Internet and the Edge) and checks each one from its source server's own position,
through the running lab's admin API. A flow is open only when the expected server answers
as itself; otherwise refused, filtered, wrong-peer, tls-intercepted or starttls-stripped.
Exit code 1 when any flow fails.`,
		Example: `  exsim probe
  exsim probe --format junit --output probe.xml
  exsim probe --format svg --output flows.svg
  exsim probe --from EX01 --to EDGE01
  exsim probe --flow edgesync-EX01-EDGE01-50636`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runProbe(cmd.Context(), g, f) },
	}
	fl := cmd.Flags()
	formatFlag(cmd, &f.format, report.Formats...)
	fl.StringVarP(&f.output, "output", "o", "", "write the report to a file (default: standard output)")
	g.serverFlag(cmd, "from", &f.from, "only flows from this server")
	g.serverFlag(cmd, "to", &f.to, "only flows to this server")
	enumFlag(cmd, &f.table, "table", "", "", "only one table", probeTables()...)
	fl.StringSliceVar(&f.flows, "flow", nil, "only these flow ids")
	completeWith(cmd, "flow", g.fromTopology(flowIDs))
	fl.DurationVar(&f.timeout, "timeout", probe.DefaultTimeout, "per-flow timeout")
	return cmd
}

// probeTables are the values of --table: the catalogue's tables.
func probeTables() []string {
	out := []string{""}
	for _, t := range probe.Tables {
		out = append(out, string(t))
	}
	return out
}

// selectFlows filters the catalogue by the command's flags.
func selectFlows(t *topology.Topology, f probeFlags) ([]probe.Flow, error) {
	var out []probe.Flow
	for _, fl := range probe.Flows(t) {
		if f.from != "" && !strings.EqualFold(fl.Source, f.from) || f.to != "" && !strings.EqualFold(fl.Dest, f.to) ||
			f.table != "" && string(fl.Table) != f.table || len(f.flows) > 0 && !slices.Contains(f.flows, fl.ID) {
			continue
		}
		out = append(out, fl)
	}
	if len(out) == 0 {
		return nil, usageError("no flow matches (see exsim probe --format json for the ids)")
	}
	return out, nil
}

func runProbe(ctx context.Context, g *globals, f probeFlags) error {
	t, err := g.labTopology()
	if err != nil {
		return err
	}
	flows, err := selectFlows(t, f)
	if err != nil {
		return err
	}
	if f.from == "" && len(f.flows) == 0 {
		if flows, err = flowsServedHere(ctx, g, flows); err != nil {
			return err
		}
	}
	results, err := probeThroughAdmin(ctx, g, flows, f.timeout)
	if err != nil {
		return err
	}
	return writeProbeReport(g, t, f.format, f.output, results)
}

// probeThroughAdmin asks the process running each flow's source to run
// it: one request per process, all processes at once, so the matrix takes
// about one timeout. Flows are grouped by the server identity that
// adminClients keys its clients by (the source server's name, or "*" when
// one process runs every server), never by URL: every server of a
// namespace lab has its admin API on the same 127.0.0.1:9925, each in its
// own namespace, so one URL names five different processes.
func probeThroughAdmin(ctx context.Context, g *globals, flows []probe.Flow, timeout time.Duration) ([]probe.Result, error) {
	cs, err := g.adminClients()
	if err != nil {
		return nil, err
	}
	byProcess := map[string][]string{}
	clients := map[string]*control.Client{}
	for _, fl := range flows {
		key := strings.ToUpper(fl.Source)
		c, ok := cs[key]
		if !ok {
			if c, ok = cs["*"]; !ok {
				_, err := g.adminFor(fl.Source) // says which servers it knows
				return nil, err
			}
			key = "*"
		}
		byProcess[key] = append(byProcess[key], fl.ID)
		clients[key] = c
	}
	type answer struct {
		rs  []probe.Result
		err error
	}
	answers := make(chan answer, len(byProcess))
	for key, ids := range byProcess {
		go func() {
			c := clients[key]
			raw, err := c.Probe(ctx, control.ProbeRequest{Flows: ids, Timeout: timeout})
			if err != nil {
				who := "the admin API of " + key
				if key == "*" {
					who = c.BaseURL
				}
				answers <- answer{err: adminError(fmt.Errorf("probe through %s: %w", who, err))}
				return
			}
			var rs []probe.Result
			if err := json.Unmarshal(raw, &rs); err != nil {
				answers <- answer{err: fmt.Errorf("probe: %w", err)}
				return
			}
			answers <- answer{rs: rs}
		}()
	}
	got := map[string]probe.Result{}
	var firstErr error
	for range byProcess {
		a := <-answers
		if a.err != nil && firstErr == nil {
			firstErr = a.err
		}
		for _, r := range a.rs {
			got[r.Flow.ID] = r
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	out := make([]probe.Result, 0, len(flows))
	for _, fl := range flows {
		if r, ok := got[fl.ID]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// writeProbeReport writes the report and sets the exit code.
func writeProbeReport(g *globals, t *topology.Topology, format, output string, results []probe.Result) error {
	w, color, done, err := openReport(g, format, output)
	if err != nil {
		return err
	}
	defer done()
	if err := report.Write(w, format, t, results, color); err != nil {
		return err
	}
	if s := probe.Summarize(results); s.Failed > 0 {
		if output != "" {
			fmt.Fprintf(g.stderr, "%d of %d flows failed (report in %s)\n", s.Failed, s.Flows, output)
		}
		return checkFailed("%d of %d flows failed", s.Failed, s.Flows)
	}
	return nil
}
