package probe

import (
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/topology"
)

// SimulatedFirewall returns the fault table rules that make a lab on one
// host (loopback, no namespaces, no nftables) behave like the firewall the
// seed asks for, as far as the catalogue can tell: every closed flow is
// dropped (or reset) at its source. Without it every closed flow of a
// loopback lab is open and fails, because nothing stands between the
// servers. Add the faults to the process's labnet.Faults before probing.
func SimulatedFirewall(t *topology.Topology, flows []Flow, action labnet.Action) []labnet.Fault {
	var out []labnet.Fault
	for _, f := range flows {
		if f.Expect != ExpectClosed {
			continue
		}
		dst := t.Server(f.Dest)
		if dst == nil {
			continue
		}
		out = append(out, labnet.Fault{
			From: f.Source, To: dst.Address, Port: f.Port, Transport: f.Transport,
			Action: action, Note: "simulated firewall: " + f.ID,
		})
	}
	return out
}
