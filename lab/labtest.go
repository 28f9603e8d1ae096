package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// ScenarioEnv is what a scenario runner gets of a running lab: each
// server's admin API (reached inside its namespace) and the topology.
type ScenarioEnv struct {
	Topology *topology.Topology
	DataDir  string
	Admin    map[string]*control.Client
}

// ScenarioResult is the outcome of one mail-flow scenario.
type ScenarioResult struct {
	Name string
	Pass bool
	// Detail says what failed (or what was seen).
	Detail string
	// Feature is the Exchange feature a failure breaks.
	Feature  string
	Duration time.Duration
	// Skipped says why the scenario did not run (it does not fit the
	// topology); a skipped scenario is neither passed nor failed.
	Skipped string
}

// ScenarioRunner runs the built-in scenarios against a running lab. The
// command passes the scenarios package's runner; nil skips scenarios.
type ScenarioRunner func(ctx context.Context, env ScenarioEnv) ([]ScenarioResult, error)

// TestOptions describe one `exsim lab test` run.
type TestOptions struct {
	Options
	// ProbeMode is ProbeAdmin (the default) or ProbeNetns.
	ProbeMode    string
	ProbeTimeout time.Duration
	// RunScenarios runs the scenarios; nil skips them, and the report
	// says NoScenariosWhy.
	RunScenarios   ScenarioRunner
	NoScenariosWhy string
	// OnPhase is told what the test does next ("lab up", "probe", ...).
	OnPhase func(string)
}

// TestReport is what a lab test found.
type TestReport struct {
	Topology *topology.Topology
	Firewall string
	Flows    []probe.Result
	// Verdicts say which rule of the firewall file dropped or accepted
	// each flow (nil for the minimal and the open ruleset).
	Verdicts *FlowVerdicts
	// Scenarios are the scenario results; ScenariosSkipped says why there
	// are none.
	Scenarios        []ScenarioResult
	ScenariosSkipped string
	ScenarioError    string
	Down             *DownReport
	Duration         time.Duration
}

// Failures lists each failed flow and scenario in one line: what was
// expected, what was found, and the Exchange feature it breaks.
func (r *TestReport) Failures() []string {
	var out []string
	for _, res := range r.Flows {
		if res.Pass {
			continue
		}
		f := res.Flow
		found := string(res.Outcome)
		if res.Error != "" {
			found = "error (" + res.Error + ")"
		}
		what := "documented flow broken"
		if f.Expect == probe.ExpectClosed {
			what = "undocumented flow open"
		}
		by := ""
		if v := r.Verdicts.For(f.ID, f.Expect == probe.ExpectClosed); v != nil {
			by = "; " + v.String()
		}
		out = append(out, fmt.Sprintf("%s: %s %s -> %s:%d/%s: expected %s, found %s%s; breaks: %s",
			what, f.ID, f.Source, f.Dest, f.Port, f.Transport, f.Expect, found, by, f.Feature))
	}
	for _, s := range r.Scenarios {
		if !s.Pass && s.Skipped == "" {
			line := fmt.Sprintf("scenario failed: %s: %s", s.Name, s.Detail)
			if s.Feature != "" {
				line += "; breaks: " + s.Feature
			}
			out = append(out, line)
		}
	}
	if r.ScenarioError != "" {
		out = append(out, "scenarios could not run: "+r.ScenarioError)
	}
	return out
}

// Passed reports whether every flow and scenario passed.
func (r *TestReport) Passed() bool { return len(r.Failures()) == 0 }

// Test is the one-command CI job: lab up with the firewall under test,
// probe every flow from its source's namespace, run the scenarios, and
// lab down, always, also when ctx is cancelled (an interrupt). The error
// is for a lab that could not be tested at all, or for an interrupt, which
// gives no report; failed checks are in the report.
func Test(ctx context.Context, o TestOptions) (rep *TestReport, err error) {
	start := time.Now()
	phase := func(s string) {
		if o.OnPhase != nil {
			o.OnPhase(s)
		}
	}
	rep = &TestReport{Topology: o.Topology, Firewall: o.Firewall}
	if rep.Firewall == "" {
		rep.Firewall = FirewallMinimal
	}
	phase("lab up")
	l, err := Up(ctx, o.Options)
	if err != nil {
		return nil, err
	}
	defer func() {
		phase("lab down")
		d, derr := l.Down(context.Background())
		if rep != nil {
			rep.Down = d
			rep.Duration = time.Since(start)
		}
		err = errors.Join(err, derr)
	}()
	// Flows and scenarios cut short by an interrupt fail as errors, not
	// through the ruleset: no report is better than a wrong one (as in
	// Diff), which the command would write to --junit for CI.
	stage := "probe"
	defer func() {
		if ctx.Err() != nil {
			rep = nil
			if err == nil {
				err = fmt.Errorf("interrupted during the %s, no report: %w", stage, ctx.Err())
			}
		}
	}()
	phase("probe")
	po := ProbeOptions{Mode: o.ProbeMode, Timeout: o.ProbeTimeout}
	if l.Origins != nil {
		// A file: trace the probe, so that each failure names its rule.
		rep.Flows, rep.Verdicts, err = l.probeTraced(ctx, po, l.Origins)
	} else {
		rep.Flows, err = l.Probe(ctx, po)
	}
	if err != nil || ctx.Err() != nil {
		return rep, err
	}
	if o.RunScenarios == nil {
		rep.ScenariosSkipped = o.NoScenariosWhy
		if rep.ScenariosSkipped == "" {
			rep.ScenariosSkipped = "no scenario runner"
		}
		return rep, nil
	}
	stage = "scenario run"
	phase("scenarios")
	clients, err := l.Clients()
	if err != nil {
		return rep, err
	}
	rep.Scenarios, err = o.RunScenarios(ctx, ScenarioEnv{Topology: l.t, DataDir: l.DataDir, Admin: clients})
	if err != nil {
		rep.ScenarioError = err.Error()
	}
	return rep, nil
}
