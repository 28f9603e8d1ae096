package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// DiffOptions describe one `exsim lab diff`: one lab, brought up once,
// whose router runs every flow through the ruleset before a change and
// then through the ruleset after it.
type DiffOptions struct {
	// Options is the lab (its Firewall and FirewallFormat are set from
	// Before and Format).
	Options
	// Before and After are the ruleset files.
	Before, After string
	// Format is the files' --firewall-format; "" detects each file's.
	Format       string
	ProbeMode    string
	ProbeTimeout time.Duration
	// RunScenarios also runs the scenarios under both rulesets; nil
	// skips them.
	RunScenarios ScenarioRunner
	OnPhase      func(string)
}

// FlowChange is a flow whose result differs between the two rulesets.
type FlowChange struct {
	Flow          probe.Flow
	Before, After probe.Result
	// Verdict is what the router did with the flow's packets under the
	// "after" ruleset, with the rule of the after file; nil when the
	// router saw none of its packets (a flow inside one zone).
	Verdict *Verdict
}

// ScenarioChange is a scenario whose result differs.
type ScenarioChange struct {
	Name          string
	Before, After ScenarioResult
}

// DiffReport is what a change of ruleset does to every flow.
type DiffReport struct {
	Before, After string
	Topology      *topology.Topology
	// Broken: documented flows that passed before and fail after.
	// Opened: flows that must be closed, closed before and reachable after.
	// Fixed: flows that failed before and pass after.
	Broken, Opened, Fixed []FlowChange
	Unchanged             int
	// UnchangedFlows are the results (after) of the unchanged flows.
	UnchangedFlows []probe.Result
	// Scenarios lists the scenarios whose result changed; ScenariosRun
	// says whether they ran at all.
	Scenarios     []ScenarioChange
	ScenariosRun  bool
	ScenarioError string
	Duration      time.Duration
}

// Passed reports whether the change broke nothing documented, opened
// nothing that must stay closed, and failed no scenario that passed.
func (r *DiffReport) Passed() bool {
	if len(r.Broken) > 0 || len(r.Opened) > 0 || r.ScenarioError != "" {
		return false
	}
	for _, s := range r.Scenarios {
		if s.Before.Pass && !s.After.Pass {
			return false
		}
	}
	return true
}

// ReadRulesets reads ruleset files and settles their formats.
func ReadRulesets(t *topology.Topology, format string, files ...string) ([]*RulesetFile, error) {
	var out []*RulesetFile
	for _, f := range files {
		rf, err := ReadRulesetFile(f, format, t)
		if err != nil {
			return nil, &FirewallError{File: f, Err: err}
		}
		out = append(out, rf)
	}
	return out, nil
}

// CheckRuleset loads a ruleset in a scratch namespace, which it removes
// again: a file that does not load is found without a lab. The
// namespace's name matches no lab prefix ("PREFIX-..."), so a lab of the
// prefix can come up meanwhile.
func CheckRuleset(prefix string, rf *RulesetFile) error {
	ns := fmt.Sprintf("fwcheck-%s-%d", prefix, os.Getpid())
	if err := createNetns(ns); err != nil {
		return err
	}
	defer deleteNetns(ns)
	if _, err := rf.Load(ns); err != nil {
		return err
	}
	return nil
}

// Diff brings the lab up with the "before" ruleset, probes every flow
// (and runs the scenarios) while tracing the router, swaps in the "after"
// ruleset, does the same again, and brings the lab down, always.
func Diff(ctx context.Context, o DiffOptions) (rep *DiffReport, err error) {
	start := time.Now()
	phase := func(s string) {
		if o.OnPhase != nil {
			o.OnPhase(s)
		}
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if err := CheckHost(); err != nil {
		return nil, err
	}
	files, err := ReadRulesets(o.Topology, o.Format, o.Before, o.After)
	if err != nil {
		return nil, err
	}
	// The after file is tried in a scratch namespace while the lab comes
	// up with the before file: a bad file of either is bad input.
	checked := make(chan error, 1)
	go func() { checked <- CheckRuleset(o.Prefix, files[1]) }()
	o.Firewall, o.FirewallFormat = o.Before, files[0].Format.Name()
	phase("lab up")
	l, err := Up(ctx, o.Options)
	if cerr := <-checked; cerr != nil {
		if l != nil {
			_, derr := l.Down(context.Background())
			return nil, errors.Join(cerr, derr)
		}
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		phase("lab down")
		_, derr := l.Down(context.Background())
		if rep != nil {
			rep.Duration = time.Since(start)
		}
		err = errors.Join(err, derr)
	}()
	po := ProbeOptions{Mode: o.ProbeMode, Timeout: o.ProbeTimeout}
	var scErrs []error
	run := func(name string, origins *RuleOrigins) (res []probe.Result, fv *FlowVerdicts, scs []ScenarioResult, err error) {
		stage := "probe"
		defer func() {
			if err == nil && ctx.Err() != nil {
				// Flows and scenarios cut short by the interrupt failed
				// as errors, not through the ruleset: no report is
				// better than a wrong one.
				err = fmt.Errorf("interrupted during the %s %s, no report: %w", name, stage, ctx.Err())
			}
		}()
		phase("probe " + name)
		res, fv, err = l.probeTraced(ctx, po, origins)
		if err != nil || ctx.Err() != nil || o.RunScenarios == nil {
			return res, fv, nil, err
		}
		stage = "scenario run"
		phase("scenarios " + name)
		clients, err := l.Clients()
		if err != nil {
			return res, fv, nil, err
		}
		scs, err = o.RunScenarios(ctx, ScenarioEnv{Topology: l.t, DataDir: l.DataDir, Admin: clients})
		if err != nil {
			scErrs = append(scErrs, fmt.Errorf("%s: %w", name, err))
		}
		return res, fv, scs, nil
	}
	before, _, scBefore, err := run("before", l.Origins)
	if err != nil {
		return nil, err
	}
	phase("load " + o.After)
	after, err := l.swapRuleset(files[1])
	if err != nil {
		return nil, err
	}
	resAfter, fv, scAfter, err := run("after", after)
	if err != nil {
		return nil, err
	}
	rep = compareRuns(o.Before, o.After, l.t, before, resAfter, fv)
	if o.RunScenarios != nil {
		rep.ScenariosRun = true
		rep.Scenarios = compareScenarios(scBefore, scAfter)
		if e := errors.Join(scErrs...); e != nil {
			rep.ScenarioError = e.Error()
		}
	}
	return rep, nil
}

// swapRuleset replaces the router's ruleset and forgets the connections
// the old one let through, so that no flow rides on an earlier accept.
func (l *Lab) swapRuleset(rf *RulesetFile) (*RuleOrigins, error) {
	o, err := rf.Load(l.Router)
	if err != nil {
		return nil, err
	}
	l.Origins = o
	if err := flushConntrack(l.Router); err != nil {
		return nil, err
	}
	return o, nil
}

// compareRuns sorts every flow into broken, opened, fixed or unchanged.
func compareRuns(beforeFile, afterFile string, t *topology.Topology, before, after []probe.Result, fv *FlowVerdicts) *DiffReport {
	rep := &DiffReport{Before: beforeFile, After: afterFile, Topology: t,
		Broken: []FlowChange{}, Opened: []FlowChange{}, Fixed: []FlowChange{}}
	was := map[string]probe.Result{}
	for _, r := range before {
		was[r.Flow.ID] = r
	}
	for _, a := range after {
		b, ok := was[a.Flow.ID]
		if !ok || b.Pass == a.Pass {
			rep.Unchanged++
			rep.UnchangedFlows = append(rep.UnchangedFlows, a)
			continue
		}
		closed := a.Flow.Expect == probe.ExpectClosed
		reached := a.Outcome != probe.OutcomeFiltered && a.Outcome != ""
		c := FlowChange{Flow: a.Flow, Before: b, After: a, Verdict: fv.For(a.Flow.ID, reached)}
		switch {
		case a.Pass:
			rep.Fixed = append(rep.Fixed, c)
		case closed:
			c.Verdict = fv.For(a.Flow.ID, true)
			rep.Opened = append(rep.Opened, c)
		default:
			c.Verdict = fv.For(a.Flow.ID, false)
			rep.Broken = append(rep.Broken, c)
		}
	}
	return rep
}

// compareScenarios lists the scenarios whose pass/fail changed.
func compareScenarios(before, after []ScenarioResult) []ScenarioChange {
	out := []ScenarioChange{}
	was := map[string]ScenarioResult{}
	for _, s := range before {
		was[s.Name] = s
	}
	for _, a := range after {
		if b, ok := was[a.Name]; ok && b.Pass != a.Pass {
			out = append(out, ScenarioChange{Name: a.Name, Before: b, After: a})
		}
	}
	return out
}
