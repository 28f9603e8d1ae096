package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exsim/exsim/lab"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// ConfigEnv names the topology file commands use when neither --config nor
// --topology is given. The compose image sets it (/etc/exsim/lab.yaml), so
// `docker compose exec ex01 exsim queue` needs no --config.
const ConfigEnv = "EXSIM_CONFIG"

// configFile is the topology file loadTopology reads: --config, else
// $EXSIM_CONFIG unless --topology names a built-in one ("" for the
// built-in --topology).
func (g *globals) configFile() string {
	if g.config != "" || g.flagChanged("topology") {
		return g.config
	}
	return os.Getenv(ConfigEnv)
}

// composeDataTopology is the topology of the compose lab whose build
// context dir is (exsim export compose writes lab.yaml and
// admin-endpoints.json there; a namespace lab keeps a state file beside
// them instead, and labTopology asked for it first): host-side commands
// given --data deploy use the lab's addresses without --config. It
// returns "" when dir holds no compose lab or a topology was named.
func (g *globals) composeDataTopology(dir string) string {
	if g.configFile() != "" || g.flagChanged("topology") {
		return ""
	}
	for _, name := range []string{"lab.yaml", lab.EndpointsFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return ""
		}
	}
	return filepath.Join(dir, "lab.yaml")
}

// servedHere returns the servers the lab's one admin API runs, when every
// server is reached through one API (no endpoints file): inside a server
// container that is the container's own server, so commands that go
// through every server ask it about its own and no other. ok is false
// when each server has its API (endpoints file), or the API does not
// answer: then nothing is left out, and the caller reports what fails.
func (g *globals) servedHere(ctx context.Context) (map[string]bool, bool) {
	cs, err := g.adminClients()
	if err != nil {
		return nil, false
	}
	c, one := cs["*"]
	if !one {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, running, err := c.Topology(ctx)
	if err != nil || len(running) == 0 {
		return nil, false
	}
	set := map[string]bool{}
	for _, n := range running {
		set[strings.ToUpper(n)] = true
	}
	return set, true
}

// onlyServedHere keeps the names servedHere allows.
func (g *globals) onlyServedHere(ctx context.Context, names []string) []string {
	set, ok := g.servedHere(ctx)
	if !ok {
		return names
	}
	var out []string
	for _, n := range names {
		if set[strings.ToUpper(n)] {
			out = append(out, n)
		}
	}
	return out
}

// composeLabTopology loads the compose lab's topology at path, with the
// --port-offset given (the compose lab runs at offset 0).
func (g *globals) composeLabTopology(path string) (*topology.Topology, error) {
	t, err := topology.Load(path)
	if err == nil {
		err = t.SetPortOffset(g.portOffset)
	}
	if err != nil {
		return nil, usageError("%v", err)
	}
	fmt.Fprintf(g.stderr, "exsim: using the compose lab's topology %s\n", path)
	return t, nil
}

// flowsServedHere keeps the flows whose source the lab's one admin API
// runs (see servedHere): `exsim probe` inside a container checks the
// flows that start at its server.
func flowsServedHere(ctx context.Context, g *globals, flows []probe.Flow) ([]probe.Flow, error) {
	set, ok := g.servedHere(ctx)
	if !ok {
		return flows, nil
	}
	var out []probe.Flow
	for _, fl := range flows {
		if set[strings.ToUpper(fl.Source)] {
			out = append(out, fl)
		}
	}
	if len(out) == 0 {
		return nil, usageError("no selected flow starts at a server this admin API runs")
	}
	return out, nil
}
