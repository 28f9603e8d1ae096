package topology

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxPort is the highest TCP or UDP port.
const MaxPort = 65535

// The port offset (--port-offset N) moves every port of the lab up by N, so
// that a user without root can bind it. The topology carries it and applies
// it in one place: Port, Endpoint and Listeners answer with the port the lab
// really uses; everything else asks them instead of adding it itself.

// PortOffset is what SetPortOffset set: the offset every port of the lab
// is moved up by (0: the documented ports).
func (t *Topology) PortOffset() int { return t.portOffset }

// SetPortOffset makes every port the topology answers with move up by n,
// after CheckPortOffset; on error the topology keeps its offset.
func (t *Topology) SetPortOffset(n int) error {
	if err := t.CheckPortOffset(n); err != nil {
		return err
	}
	t.portOffset = n
	return nil
}

// CheckPortOffset reports whether n is a port offset the topology can take:
// 0 or more, and no port of the topology (a listener of any server, enabled
// or not, or a Send connector's port) moved past 65535. The error names the
// highest port that would overflow.
func (t *Topology) CheckPortOffset(n int) error {
	if n < 0 {
		return fmt.Errorf("--port-offset %d: the offset moves ports up; use 0 or more", n)
	}
	worst, what := 0, ""
	for i := range t.Servers {
		s := &t.Servers[i]
		for _, sp := range listenerSpecs(s.Role) {
			if sp.port > worst {
				worst, what = sp.port, fmt.Sprintf("%s %d on %s", strings.ToUpper(sp.protocol), sp.port, s.Name)
			}
		}
	}
	for _, c := range t.SendConnectors {
		if c.Port > worst {
			worst, what = c.Port, fmt.Sprintf("Send connector %q port %d", c.Name, c.Port)
		}
	}
	if worst > 0 && n > MaxPort-worst {
		return fmt.Errorf("--port-offset %d moves %s past %d (at most %d)", n, what, MaxPort, MaxPort-worst)
	}
	return nil
}

// Port is the port the lab uses for a documented port: documented plus the
// port offset.
func (t *Topology) Port(documented int) int { return documented + t.portOffset }

// Endpoint is the socket address of server s on a documented port, after
// the port offset: where to dial s's service.
func (t *Topology) Endpoint(s *Server, documented int) netip.AddrPort {
	return netip.AddrPortFrom(s.Addr(), uint16(t.Port(documented)))
}
