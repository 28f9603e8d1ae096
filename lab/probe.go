package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/roles"
	"github.com/exsim/exsim/topology"
)

// Probe modes: where a flow's check runs. Both start every connection in
// the source server's own namespace with its own address.
const (
	// ProbeAdmin asks each source server's process to run its flows
	// (POST /v1/probe of its admin API).
	ProbeAdmin = "admin"
	// ProbeNetns runs the checks in this process, on sockets created in
	// each source server's namespace and bound to its address.
	ProbeNetns = "netns"
)

// ProbeOptions tune a probe of a lab.
type ProbeOptions struct {
	// Mode is ProbeAdmin (the default) or ProbeNetns.
	Mode string
	// Flows to check; nil means every flow of the topology.
	Flows   []probe.Flow
	Timeout time.Duration
	// OnResult is called as each flow finishes (one call at a time).
	OnResult func(probe.Result)
}

// Probe checks the lab's documented flows from each source's namespace.
func (l *Lab) Probe(ctx context.Context, o ProbeOptions) ([]probe.Result, error) {
	flows := o.Flows
	if flows == nil {
		flows = probe.Flows(l.t)
	}
	netnsOf := map[string]string{}
	for _, p := range l.Servers {
		netnsOf[p.Server] = p.Netns
	}
	switch o.Mode {
	case "", ProbeAdmin:
		clients, err := l.Clients()
		if err != nil {
			return nil, err
		}
		return ProbeThroughAdmin(ctx, clients, flows, o.Timeout, o.OnResult)
	case ProbeNetns:
		ca, err := certs.LoadOrCreate(filepath.Join(l.DataDir, "certs"), l.t.Organization)
		if err != nil {
			return nil, err
		}
		return ProbeInNamespaces(ctx, l.t, ca, netnsOf, flows, o.Timeout, o.OnResult), nil
	}
	return nil, fmt.Errorf("probe mode %q: use %s or %s", o.Mode, ProbeAdmin, ProbeNetns)
}

// ProbeInNamespaces checks flows from this process with sockets created
// in each source server's network namespace (netnsOf: server name to a
// namespace name or /proc/PID/ns/net path) and bound to its address. It
// needs root. A flow whose source has no namespace fails with an error.
func ProbeInNamespaces(ctx context.Context, t *topology.Topology, ca *certs.CA, netnsOf map[string]string, flows []probe.Flow, timeout time.Duration, onResult func(probe.Result)) []probe.Result {
	guard := roles.Guard(t)
	if timeout <= 0 {
		timeout = probe.DefaultTimeout
	}
	p := &probe.Prober{
		Topology: t, CA: ca, Timeout: timeout, OnResult: onResult,
		DialerFor: func(source string) probe.Dialer {
			s := t.Server(source)
			return newNamespaceDialer(netnsOf[s.Name], s.Name, s.Addr(), guard, timeout)
		},
	}
	var runnable, missing []probe.Flow
	for _, f := range flows {
		if s := t.Server(f.Source); s != nil && netnsOf[s.Name] != "" {
			runnable = append(runnable, f)
		} else {
			missing = append(missing, f)
		}
	}
	byID := map[string]probe.Result{}
	for _, r := range p.Run(ctx, runnable) {
		byID[r.Flow.ID] = r
	}
	for _, f := range missing {
		byID[f.ID] = probe.Result{Flow: f, Error: fmt.Sprintf("probe: no network namespace for source %s", f.Source)}
	}
	return ordered(flows, byID)
}

// ProbeThroughAdmin asks the process running each flow's source server to
// check it (POST /v1/probe), all sources at once, and returns the results
// in the order of flows.
func ProbeThroughAdmin(ctx context.Context, clients map[string]*control.Client, flows []probe.Flow, timeout time.Duration, onResult func(probe.Result)) ([]probe.Result, error) {
	bySource := map[string][]probe.Flow{}
	var sources []string
	for _, f := range flows {
		if _, ok := bySource[f.Source]; !ok {
			sources = append(sources, f.Source)
		}
		bySource[f.Source] = append(bySource[f.Source], f)
	}
	slices.Sort(sources)
	var mu sync.Mutex
	byID := map[string]probe.Result{}
	var wg sync.WaitGroup
	for _, src := range sources {
		wg.Go(func() {
			rs := probeSource(ctx, clients[src], src, bySource[src], timeout)
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rs {
				byID[r.Flow.ID] = r
				if onResult != nil {
					onResult(r)
				}
			}
		})
	}
	wg.Wait()
	return ordered(flows, byID), nil
}

// probeSource runs one source's flows through its admin API; a flow the
// API did not answer gets an error result.
func probeSource(ctx context.Context, c *control.Client, src string, flows []probe.Flow, timeout time.Duration) []probe.Result {
	fail := func(msg string) []probe.Result {
		out := make([]probe.Result, len(flows))
		for i, f := range flows {
			out[i] = probe.Result{Flow: f, Error: msg}
		}
		return out
	}
	if c == nil {
		return fail(fmt.Sprintf("probe: no admin API for source %s", src))
	}
	ids := make([]string, len(flows))
	for i, f := range flows {
		ids[i] = f.ID
	}
	raw, err := c.Probe(ctx, control.ProbeRequest{Flows: ids, Timeout: timeout})
	if err != nil {
		return fail(fmt.Sprintf("probe from %s: %v", src, err))
	}
	var got []probe.Result
	if err := json.Unmarshal(raw, &got); err != nil {
		return fail(fmt.Sprintf("probe from %s: the admin API answered %d bytes that are no list of results: %v", src, len(raw), err))
	}
	byID := map[string]probe.Result{}
	for _, r := range got {
		byID[r.Flow.ID] = r
	}
	out := make([]probe.Result, len(flows))
	for i, f := range flows {
		r, ok := byID[f.ID]
		if !ok {
			r = probe.Result{Flow: f, Error: fmt.Sprintf("probe from %s: the admin API returned no result for this flow", src)}
		}
		out[i] = r
	}
	return out
}

// ordered lists results in the order of flows.
func ordered(flows []probe.Flow, byID map[string]probe.Result) []probe.Result {
	out := make([]probe.Result, len(flows))
	for i, f := range flows {
		r, ok := byID[f.ID]
		if !ok {
			r = probe.Result{Flow: f, Error: "probe: no result"}
		}
		out[i] = r
	}
	return out
}
