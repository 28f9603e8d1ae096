package roles

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/probe"
)

// ProbeFlows runs flows whose source server runs in this process, each
// dialled from its source's position (its address and this process's
// fault table), and returns the results in catalogue order. A flow whose
// source runs elsewhere is an error: ask that server's process.
func (rt *Runtime) ProbeFlows(ctx context.Context, flows []probe.Flow, timeout time.Duration, onResult func(probe.Result)) ([]probe.Result, error) {
	for _, f := range flows {
		if rt.Server(f.Source) == nil {
			return nil, &control.BadInputError{Msg: fmt.Sprintf("flow %s starts at %s, which this process does not run (it runs %s)", f.ID, f.Source, strings.Join(rt.Running(), ", "))}
		}
	}
	if len(flows) == 0 {
		// Not nil: Prober.Run takes nil for every flow of the catalogue,
		// whose sources this process may not run (a DNS server's process
		// has no flow of its own).
		return []probe.Result{}, nil
	}
	p := &probe.Prober{
		Topology: rt.o.Topology, CA: rt.ca, Timeout: timeout, OnResult: onResult,
		DialerFor: func(source string) probe.Dialer { return rt.Server(source).dialer },
		ClientCert: func(source string) *tls.Certificate {
			s := rt.Server(source)
			if s == nil || !s.Config.IsExchange() {
				return nil
			}
			return &s.cert
		},
	}
	res := p.Run(ctx, flows)
	rt.metrics.probed(res, rt.o.Now())
	return res, nil
}

// Probe implements the admin API: the requested flows (all flows that
// start here when none are named).
func (rt *Runtime) Probe(ctx context.Context, req control.ProbeRequest) (control.ProbeResponse, error) {
	all := probe.Flows(rt.o.Topology)
	var flows []probe.Flow
	for _, f := range all {
		here := rt.Server(f.Source) != nil
		switch {
		case len(req.Flows) == 0 && here:
			flows = append(flows, f)
		case slices.Contains(req.Flows, f.ID):
			flows = append(flows, f)
		}
	}
	if len(req.Flows) > 0 && len(flows) != len(req.Flows) {
		for _, id := range req.Flows {
			if !slices.ContainsFunc(flows, func(f probe.Flow) bool { return f.ID == id }) {
				return control.ProbeResponse{}, &control.NotFoundError{What: "flow " + id}
			}
		}
	}
	res, err := rt.ProbeFlows(ctx, flows, req.Timeout, nil)
	if err != nil {
		return control.ProbeResponse{}, err
	}
	b, err := json.Marshal(res)
	return control.ProbeResponse{Results: b}, err
}
