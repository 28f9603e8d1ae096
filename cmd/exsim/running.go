package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/roles"
	"github.com/exsim/exsim/topology"
)

// runningFile records in DATA the loopback lab that `exsim up` or `demo`
// runs from that directory: its topology (written beside it, with the
// addresses it really binds), its port offset and its admin API. Commands
// given the same --data then talk to that lab and no other, even when
// another lab runs on loopback at the same time.
const (
	runningFile     = "running.json"
	runningTopology = "running.yaml"
)

type runningLab struct {
	PID        int    `json:"pid"`
	Topology   string `json:"topology"`
	Name       string `json:"name"` // the built-in name or the --config file it came from
	PortOffset int    `json:"port_offset"`
	Admin      string `json:"admin"`
}

// recordRunning writes DATA/running.json and DATA/running.yaml for a lab
// that just started, and returns the function that removes them when it
// stops.
func recordRunning(g *globals, rt *roles.Runtime, t *topology.Topology, api *control.Server) (func(), error) {
	dir := rt.DataDir()
	y, err := t.Marshal()
	if err != nil {
		return nil, err
	}
	ypath := filepath.Join(dir, runningTopology)
	if err := os.WriteFile(ypath, y, 0o644); err != nil {
		return nil, err
	}
	name := g.topologySource()
	b, err := json.MarshalIndent(runningLab{PID: os.Getpid(), Topology: ypath, Name: name, PortOffset: t.PortOffset(), Admin: api.URL()}, "", "  ")
	if err != nil {
		return nil, err
	}
	jpath := filepath.Join(dir, runningFile)
	if err := os.WriteFile(jpath, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return func() {
		os.Remove(jpath)
		os.Remove(ypath)
	}, nil
}

// loadRunning returns the loopback lab running from dir, or nil when none
// is: no record, or a record left by a process that has gone (kill -9).
func loadRunning(dir string) (*runningLab, error) {
	path := filepath.Join(dir, runningFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r runningLab
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if r.PID <= 0 || syscall.Kill(r.PID, 0) == syscall.ESRCH {
		return nil, nil
	}
	return &r, nil
}

// runningTopologyOf loads the topology of the loopback lab running from
// dir, with its port offset, or returns nil when no lab runs there.
func (g *globals) runningTopologyOf(dir string) (*topology.Topology, *runningLab, error) {
	r, err := loadRunning(dir)
	if err != nil || r == nil {
		return nil, nil, err
	}
	t, err := topology.Load(r.Topology)
	if err != nil {
		return nil, nil, err
	}
	if err := t.SetPortOffset(r.PortOffset); err != nil {
		return nil, nil, err
	}
	return t, r, nil
}
