package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/scenarios"
	"github.com/exsim/exsim/topology"
)

// adminEnv is a running lab reached through its admin APIs.
type adminEnv struct {
	g *globals
	t *topology.Topology
}

func (e adminEnv) Client(server string) (*control.Client, error) { return e.g.adminFor(server) }
func (e adminEnv) Topology() *topology.Topology                  { return e.t }

func newScenarioCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenario",
		Short: "Mail-flow scenarios: run them against a running lab, or list the built-in ones",
	}
	var format, output string
	run := &cobra.Command{
		Use:   "run [FILE|ID...]",
		Short: "Run scenarios: files, built-in ids, or (none given) the built-in ones for the topology",
		Long: `Runs mail-flow scenarios against a running lab through its admin API: send mail from a
server's position or as an authenticated client, wait for delivery, assert the path
(Received chain and tracking events), assert queue states, inject and clear faults, read
mail over IMAP, POP3 or HTTPS. Without files it runs the built-in scenarios that fit the
topology: one per row of Microsoft's tables, a blocked hop that must lose nothing, and an
unknown recipient rejected at the Edge. Exit code 1 when any scenario fails.`,
		Example: `  exsim scenario run
  exsim scenario run --format junit --output scenarios.xml
  exsim scenario run 24-edgesync 30         # built-in scenarios by id or number
  exsim scenario run my-scenario.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := g.labTopology()
			if err != nil {
				return err
			}
			scs, err := pickScenarios(g, t, args)
			if err != nil {
				return err
			}
			if err := g.requireLab(cmd.Context()); err != nil {
				return err
			}
			results := runScenarios(cmd.Context(), g, adminEnv{g, t}, scs)
			return writeScenarioReport(g, format, output, results)
		},
	}
	formatFlag(run, &format, scenarios.Formats...)
	run.ValidArgsFunction = scenarioIDs
	run.Flags().StringVarP(&output, "output", "o", "", "write the report to a file")
	var listFormat string
	list := noArgsCmd("list", "List the built-in scenarios", func(cmd *cobra.Command) error {
		all, err := scenarios.Builtin()
		if err != nil {
			return err
		}
		items := make([]scenarioItem, 0, len(all))
		for _, s := range all {
			items = append(items, scenarioItem{ID: s.ID, Topology: s.Topology, Table: s.Table, Name: s.Name, Flows: append([]string{}, s.Flows...)})
		}
		return writeListing(g, listFormat, items, "ID\tTOPOLOGY\tTABLE\tNAME", func(s scenarioItem) []any {
			return []any{s.ID, s.Topology, s.Table, s.Name}
		})
	})
	formatFlag(list, &listFormat, "table", "json")
	cmd.AddCommand(run, list)
	return cmd
}

// scenarioItem is a built-in scenario as scenario list shows it.
type scenarioItem struct {
	ID       string   `json:"id"`
	Topology string   `json:"topology"`
	Table    string   `json:"table"`
	Name     string   `json:"name"`
	Flows    []string `json:"flows"`
}

// pickScenarios loads files and built-in scenarios named by id, or with
// no arguments the built-in scenarios that fit the topology (saying on
// standard error which it skips and why).
func pickScenarios(g *globals, t *topology.Topology, args []string) ([]*scenarios.Scenario, error) {
	all, err := scenarios.Builtin()
	if err != nil {
		return nil, err
	}
	if len(args) > 0 {
		var scs []*scenarios.Scenario
		for _, a := range args {
			if _, err := os.Stat(a); err != nil {
				if sc := scenarios.Find(all, a); sc != nil {
					scs = append(scs, sc)
					continue
				}
				return nil, usageError("%s: no such file, and no built-in scenario of that id (exsim scenario list)", a)
			}
			loaded, err := scenarios.Load(a)
			if err != nil {
				return nil, usageError("%v", err)
			}
			scs = append(scs, loaded...)
		}
		return scs, nil
	}
	scs, skipped := scenarios.Select(all, t)
	for _, sk := range skipped {
		fmt.Fprintf(g.stderr, "skipped: %s: %s\n", sk.Scenario.Name, sk.Reason)
	}
	if len(scs) == 0 {
		return nil, usageError("no built-in scenario fits the topology of %s; give scenario files", t.Organization)
	}
	return scs, nil
}

// runScenarios runs scenarios with progress on standard error.
func runScenarios(ctx context.Context, g *globals, env scenarios.Env, scs []*scenarios.Scenario) []scenarios.Result {
	r := &scenarios.Runner{Env: env}
	var results []scenarios.Result
	for i, sc := range scs {
		fmt.Fprintf(g.stderr, "[%d/%d] %s ... ", i+1, len(scs), sc.Name)
		res := r.RunOne(ctx, sc)
		if res.Pass {
			fmt.Fprintf(g.stderr, "ok (%s)\n", res.Duration.Round(1e7))
		} else {
			fmt.Fprintf(g.stderr, "FAIL\n    %s\n", res.Error)
		}
		results = append(results, res)
		if ctx.Err() != nil {
			break
		}
	}
	return results
}

func writeScenarioReport(g *globals, format, output string, results []scenarios.Result) error {
	w, color, done, err := openReport(g, format, output)
	if err != nil {
		return err
	}
	defer done()
	if err := scenarios.Write(w, format, results, color); err != nil {
		return err
	}
	if s := scenarios.Summarize(results); s.Failed > 0 {
		return checkFailed("%d of %d scenarios failed", s.Failed, s.Scenarios)
	}
	return nil
}
