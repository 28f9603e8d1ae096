//go:build !linux

package lab

import (
	"context"
	"errors"

	"github.com/exsim/exsim/topology"
)

// Network namespaces, veth, bridges and nftables are Linux's: elsewhere
// the lab's network functions report errNotLinux (CheckHost says so
// first), while the ruleset text and the compose export work everywhere.

var errNotLinux = errors.New("exsim lab needs Linux (network namespaces, nftables)")

// Apply needs Linux's nftables.
func (rs *Ruleset) Apply(nsFd int) error { return errNotLinux }

// RouteVia needs Linux.
func RouteVia(gw string) error { return errNotLinux }

// BecomeRouter needs Linux.
func BecomeRouter(rs *Ruleset) ([]string, error) { return nil, errNotLinux }

// KeepNoDefaultRoute needs Linux.
func KeepNoDefaultRoute(ctx context.Context, removed func(string)) error { return errNotLinux }

type nsID struct{ dev, ino uint64 }

func loadFirewallFile(ns, file string, t *topology.Topology) error  { return errNotLinux }
func checkForwardChain(ns, file string, t *topology.Topology) error { return errNotLinux }
func flushConntrack(ns string) error                                { return errNotLinux }

func createNetns(name string) error                          { return errNotLinux }
func deleteNetns(name string) error                          { return errNotLinux }
func netnsExists(name string) bool                           { return false }
func listNetns(prefix string) ([]string, error)              { return nil, nil }
func statNetns(path string) (nsID, error)                    { return nsID{}, errNotLinux }
func writeSysctl(ns, key, value string, optional bool) error { return errNotLinux }
func readSysctl(ns, key string) (string, error)              { return "", errNotLinux }

func buildRouter(st *State, t *topology.Topology) (map[string]Link, error) {
	return nil, errNotLinux
}

func attachServer(st *State, t *topology.Topology, s *topology.Server, ns string, bridge Link, idx int, taken map[string]bool) error {
	return errNotLinux
}
