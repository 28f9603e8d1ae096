package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// DefaultPrefix names a lab's namespaces: exsim-router, exsim-ex01, ...
const DefaultPrefix = "exsim"

// netnsDir is where named namespaces live (iproute2's `ip netns`).
const netnsDir = "/run/netns"

// EndpointsFile is where a lab writes each server's admin API, for the
// CLI (cmd/exsim/adminclient.go reads it).
const EndpointsFile = "admin-endpoints.json"

// prefixRE: no hyphen, so the namespaces of "exsim" ("exsim-...") and of
// "exsim2" ("exsim2-...") never match each other's prefix.
var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)

// ValidPrefix checks a --prefix.
func ValidPrefix(p string) error {
	if !prefixRE.MatchString(p) {
		return fmt.Errorf("--prefix %q: use 1-16 lower-case letters and digits, starting with a letter (no hyphen)", p)
	}
	return nil
}

// State is what a running lab made, in DATA/lab/state.json, so that
// `exsim lab down` removes exactly that (and, by the prefix, whatever a
// crashed run left behind).
type State struct {
	Prefix     string    `json:"prefix"`
	DataDir    string    `json:"data_dir"`
	Topology   string    `json:"topology"` // DATA/lab.yaml
	PortOffset int       `json:"port_offset"`
	Firewall   string    `json:"firewall"` // "minimal", "open" or the file
	Created    time.Time `json:"created"`
	// Router is the router namespace; Namespaces lists every namespace,
	// the router's first.
	Router     string   `json:"router"`
	Namespaces []string `json:"namespaces"`
	// Links are the bridges and veth pairs, all inside the namespaces:
	// none is ever created in the host's.
	Links   []Link    `json:"links"`
	Servers []Process `json:"servers"`
}

// Link is one network interface the lab made.
type Link struct {
	Name  string `json:"name"`
	Netns string `json:"netns"`
	Kind  string `json:"kind"` // bridge, veth
	// Peer is the other end of a veth pair.
	Peer      string `json:"peer,omitempty"`
	PeerNetns string `json:"peer_netns,omitempty"`
	// Zone and Address: a bridge's zone and router address, a server
	// end's address.
	Zone    string `json:"zone,omitempty"`
	Address string `json:"address,omitempty"`
}

func statePath(dataDir string) string { return filepath.Join(dataDir, "lab", "state.json") }

// LoadState reads DATA/lab/state.json; (nil, nil) when there is none.
func LoadState(dataDir string) (*State, error) {
	b, err := os.ReadFile(statePath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", statePath(dataDir), err)
	}
	return &s, nil
}

// save writes the state atomically.
func (s *State) save() error {
	p := statePath(s.DataDir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// Endpoint is one server's admin API as DATA/admin-endpoints.json holds
// it (the shape cmd/exsim/adminclient.go reads).
type Endpoint struct {
	URL   string `json:"url"`
	Netns string `json:"netns,omitempty"`
}

// writeEndpoints writes DATA/admin-endpoints.json.
func writeEndpoints(dataDir string, eps map[string]Endpoint) error {
	b, err := json.MarshalIndent(eps, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dataDir, EndpointsFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// nsName is the namespace of a server (or "router") in a lab.
func nsName(prefix, server string) string {
	return prefix + "-" + composeName(server)
}

// ifNameMax is IFNAMSIZ-1.
const ifNameMax = 15

// linkName makes base an interface name (at most 15 characters of
// [a-z0-9._-]), falling back to the index when it is taken.
func linkName(prefix, base string, i int, taken map[string]bool) string {
	n := prefix + composeName(base)
	if len(n) > ifNameMax {
		n = n[:ifNameMax]
	}
	if taken[n] {
		n = prefix + strconv.Itoa(i)
	}
	taken[n] = true
	return n
}
