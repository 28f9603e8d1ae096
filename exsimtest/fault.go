package exsimtest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/probe"
)

// Fault breaks one flow of the lab, as a firewall rule or a dead link
// would, without root: connections the lab's servers open that match it
// are dropped, refused or delayed at their source.
type Fault struct {
	// From is the source server ("" for any).
	From string
	// To is the destination server ("" for any).
	To string
	// Port is the destination port as documented (25, 50636; 0 for any).
	Port int
	// Transport is "tcp" or "udp" ("" for both).
	Transport string
	// Action is "drop" (nothing answers: filtered), "reset" (refused) or
	// "delay" (set up after Delay).
	Action string
	Delay  time.Duration
}

// Fault adds f to the lab's fault table and returns the function that
// removes it again. Faults end with the lab. Only connections between the
// lab's servers pass the fault table: a client of the test process dials
// Addr directly.
func (l *Lab) Fault(f Fault) (remove func(), err error) {
	lf := labnet.Fault{From: f.From, Port: f.Port, Transport: f.Transport, Action: labnet.Action(f.Action), Delay: f.Delay, Note: "exsimtest"}
	if f.From != "" {
		s := l.top.Server(f.From)
		if s == nil {
			return nil, fmt.Errorf("exsimtest: fault from %q: no such server", f.From)
		}
		lf.From = s.Name
	}
	if f.To != "" {
		s := l.top.Server(f.To)
		if s == nil {
			return nil, fmt.Errorf("exsimtest: fault to %q: no such server", f.To)
		}
		lf.To = s.Address
	}
	if f.Port != 0 {
		lf.Port = l.top.Port(f.Port)
	}
	added, err := l.rt.Faults().Add(lf)
	if err != nil {
		return nil, fmt.Errorf("exsimtest: %w", err)
	}
	return func() { l.rt.Faults().Remove(added.ID) }, nil
}

// Probe checks flows of Microsoft's port tables (the ids `exsim probe
// --format json` prints, e.g. "edgesync-EX01-EDGE01-50636"; none means every
// flow) from each flow's source server, as `exsim probe` does. A result
// with Pass false is a flow that does not behave as documented: a flow
// that must be open is not, or one that must be closed answers.
func (l *Lab) Probe(ctx context.Context, flows ...string) ([]probe.Result, error) {
	all := probe.Flows(l.top)
	run := all
	if len(flows) > 0 {
		run = nil
		for _, id := range flows {
			i := slices.IndexFunc(all, func(f probe.Flow) bool { return f.ID == id })
			if i < 0 {
				return nil, fmt.Errorf("exsimtest: no flow %q in the lab's catalogue", id)
			}
			run = append(run, all[i])
		}
	}
	return l.rt.ProbeFlows(ctx, run, probe.DefaultTimeout, nil)
}
