package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/lab"
)

// endpointsFile maps server names to the admin API of the process that
// runs them, for labs of several processes (exsim lab up, compose).
const endpointsFile = "admin-endpoints.json"

// Endpoint is one process's admin API.
type Endpoint struct {
	URL string `json:"url"`
	// Netns is the network namespace the API listens in (lab up), "" for
	// the host.
	Netns string `json:"netns,omitempty"`
}

// adminClients returns the admin API clients by server name: from
// DATA/admin-endpoints.json when a lab wrote one, else --admin for all.
func (g *globals) adminClients() (map[string]*control.Client, error) {
	dir, err := g.dataDir()
	if err != nil {
		return nil, err
	}
	token, err := control.LoadToken(dir)
	if err != nil {
		return nil, noLab(err) // no lab has run from dir: it made no token
	}
	out := map[string]*control.Client{}
	if g.adminURL == "" {
		if b, err := os.ReadFile(filepath.Join(dir, endpointsFile)); err == nil {
			var eps map[string]Endpoint
			if err := json.Unmarshal(b, &eps); err != nil {
				return nil, usageError("%s: %v", filepath.Join(dir, endpointsFile), err)
			}
			for name, ep := range eps {
				out[strings.ToUpper(name)] = g.clientFor(ep, token)
			}
			return out, nil
		}
	}
	u := g.adminURL
	if u == "" {
		u = control.DefaultAddr
		if r, err := loadRunning(dir); err == nil && r != nil && r.Admin != "" {
			u = r.Admin // the admin API of the lab running from --data, wherever it listens
		}
	}
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	out["*"] = &control.Client{BaseURL: u, Token: token}
	return out, nil
}

// adminFor returns the client of the process running server.
func (g *globals) adminFor(server string) (*control.Client, error) {
	cs, err := g.adminClients()
	if err != nil {
		return nil, err
	}
	if c, ok := cs[strings.ToUpper(server)]; ok {
		return c, nil
	}
	if c, ok := cs["*"]; ok {
		return c, nil
	}
	names := make([]string, 0, len(cs))
	for n := range cs {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, usageError("no admin API for server %s (known: %s)", server, strings.Join(names, ", "))
}

// requireLab asks every process of the lab whether it runs, before a
// command whose failures would otherwise read as failed checks (scenario
// run): a lab that does not answer is "no lab running" (exit code 3).
func (g *globals) requireLab(ctx context.Context) error {
	cs, err := g.adminProcesses()
	if err != nil {
		return err
	}
	for _, c := range cs {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.Health(hctx)
		cancel()
		if err := adminError(err); err != nil {
			return err
		}
	}
	return nil
}

// clientFor builds the client of one endpoint; an API inside a network
// namespace is reached by dialling from inside it.
func (g *globals) clientFor(ep Endpoint, token string) *control.Client {
	c := &control.Client{BaseURL: ep.URL, Token: token}
	if ep.Netns != "" {
		c.HTTP = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DialContext: lab.DialIn(ep.Netns)}}
	}
	return c
}
