package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// DownOptions say which lab to remove.
type DownOptions struct {
	// DataDir holds the lab's state file ("" for none: prefix only).
	DataDir string
	// Prefix finds namespaces a crashed run left behind (default: the
	// state's, else DefaultPrefix).
	Prefix string
	// Grace is how long servers get to stop after SIGTERM (default 10 s).
	Grace  time.Duration
	Logger *slog.Logger
}

// DownReport is what Down removed.
type DownReport struct {
	Namespaces []string
	Processes  []Process
}

// Empty reports whether there was nothing to remove.
func (r *DownReport) Empty() bool { return len(r.Namespaces) == 0 && len(r.Processes) == 0 }

// Down stops every process inside the lab's namespaces and deletes the
// namespaces (their bridges and veths go with them), then the state and
// endpoint files. It finds the lab by its state file and by the prefix,
// so it also cleans up after a crash, and running it twice is harmless.
func Down(ctx context.Context, o DownOptions) (*DownReport, error) {
	if err := CheckHost(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	var st *State
	if o.DataDir != "" {
		var err error
		if st, err = LoadState(o.DataDir); err != nil {
			o.Logger.Warn("ignoring unreadable state", "err", err)
			st = nil
		}
	}
	prefixes := []string{}
	if o.Prefix != "" {
		if err := ValidPrefix(o.Prefix); err != nil {
			return nil, err
		}
		prefixes = append(prefixes, o.Prefix)
	}
	var names []string
	var recorded []Process
	if st != nil {
		if !slices.Contains(prefixes, st.Prefix) && ValidPrefix(st.Prefix) == nil {
			prefixes = append(prefixes, st.Prefix)
		}
		for _, n := range st.Namespaces {
			if netnsExists(n) {
				names = append(names, n)
			}
		}
		recorded = st.Servers
	}
	if len(prefixes) == 0 {
		prefixes = []string{DefaultPrefix}
	}
	for _, p := range prefixes {
		left, err := listNetns(p)
		if err != nil {
			return nil, err
		}
		for _, n := range left {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	rep := &DownReport{}
	// Every process inside the namespaces (a namespace lives on while a
	// process holds it), and the recorded servers wherever they are.
	procs := processesIn(names)
	for _, p := range recorded {
		if p.alive() && !slices.ContainsFunc(procs, func(q Process) bool { return q.PID == p.PID }) {
			procs = append(procs, p)
		}
	}
	for i := range procs {
		for _, r := range recorded {
			if r.PID == procs[i].PID {
				procs[i].Server, procs[i].Log = r.Server, r.Log
			}
		}
	}
	var errs []error
	if err := stopProcesses(ctx, procs, o.Grace); err != nil {
		errs = append(errs, err)
	}
	rep.Processes = procs
	for _, n := range names {
		if err := deleteNetns(n); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Namespaces = append(rep.Namespaces, n)
	}
	if st != nil && len(errs) == 0 {
		for _, p := range []string{statePath(o.DataDir), filepath.Join(o.DataDir, EndpointsFile)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("lab down: %w", errors.Join(errs...))
	}
	return rep, nil
}

// Down removes this lab.
func (l *Lab) Down(ctx context.Context) (*DownReport, error) {
	return Down(ctx, DownOptions{DataDir: l.DataDir, Prefix: l.Prefix})
}
