package scenarios

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exsim/exsim/topology"
)

// Skipped is a scenario that does not run against a topology, and why.
type Skipped struct {
	Scenario *Scenario
	Reason   string
}

// Shapes of organization a scenario's topology field names.
const (
	// ShapeAny fits every topology.
	ShapeAny = "any"
	// ShapeEdge ("contoso") is an organization with an Edge Transport
	// server subscribed to its site.
	ShapeEdge = topology.DefaultName
	// ShapeNoEdge ("contoso-noedge") is one without an Edge.
	ShapeNoEdge = "contoso-noedge"
)

// Select returns the scenarios of all that fit topology t, in order, and
// the ones it skips with the reason. A scenario's topology field names
// the shape of organization it is written for, not a file: a user's
// lab.yaml with the contoso servers on other subnets runs the contoso
// scenarios. Scenarios for the other shape (with or without an Edge) do
// not apply and are left out, as for the built-in topologies; of the rest,
// one that names a server or a mailbox t lacks is skipped, naming them.
func Select(all []*Scenario, t *topology.Topology) (run []*Scenario, skipped []Skipped) {
	hasEdge := len(t.ServersByRole(topology.RoleEdge)) > 0
	for _, sc := range all {
		switch sc.Topology {
		case ShapeAny:
		case ShapeEdge:
			if !hasEdge {
				continue
			}
			if len(t.SubscribedEdges()) == 0 {
				skipped = append(skipped, Skipped{sc, "needs an Edge Transport server subscribed to the site; the topology's Edge has no Edge Subscription"})
				continue
			}
		case ShapeNoEdge:
			if hasEdge {
				continue
			}
		default:
			skipped = append(skipped, Skipped{sc, fmt.Sprintf("written for topology %q, which is neither %s, %s nor %s", sc.Topology, ShapeAny, ShapeEdge, ShapeNoEdge)})
			continue
		}
		if why := sc.missing(t); why != "" {
			skipped = append(skipped, Skipped{sc, why})
			continue
		}
		run = append(run, sc)
	}
	return run, skipped
}

// missing says which servers and mailboxes the scenario names that t
// lacks, or "" when it has them all.
func (sc *Scenario) missing(t *topology.Topology) string {
	var servers, mailboxes []string
	server := func(name string) {
		if name == "" || t.Server(name) != nil || t.ServerByFQDN(name) != nil || slices.Contains(servers, name) {
			return
		}
		servers = append(servers, name)
	}
	mailbox := func(addr string) {
		if addr == "" || t.Mailbox(addr) != nil || slices.Contains(mailboxes, addr) {
			return
		}
		mailboxes = append(mailboxes, addr)
	}
	logon := func(user string) {
		if user != "" && t.MailboxForLogon(user) == nil && !slices.Contains(mailboxes, user) {
			mailboxes = append(mailboxes, user)
		}
	}
	// A message the scenario expects rejected needs no mailbox.
	recipients := func(e Expect, to []string) {
		if e.Result != "rejected" {
			for _, r := range to {
				mailbox(r)
			}
		}
	}
	for _, st := range sc.Steps {
		switch {
		case st.Send != nil:
			server(st.Send.From)
			recipients(st.Send.Expect, st.Send.To)
		case st.Submit != nil:
			server(st.Submit.From)
			server(st.Submit.Server)
			logon(st.Submit.User)
			recipients(st.Submit.Expect, st.Submit.To)
		case st.Wait != nil:
			mailbox(st.Wait.Mailbox)
			server(st.Wait.Server)
		case st.NotDelivered != nil:
			mailbox(st.NotDelivered.Mailbox)
			server(st.NotDelivered.Server)
		case st.Path != nil:
			mailbox(st.Path.Mailbox)
			for _, hop := range st.Path.Received {
				from, rest, _ := strings.Cut(hop, "->")
				to, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
				server(strings.TrimSpace(from))
				server(to)
			}
			for _, ev := range st.Path.Tracking {
				server(firstWord(ev))
			}
		case st.Tracking != nil:
			for _, ev := range st.Tracking.Events {
				server(firstWord(ev))
			}
		case st.Queue != nil:
			server(st.Queue.Server)
		case st.Fault != nil:
			server(st.Fault.From)
			server(st.Fault.To)
		case st.RetryQueue != nil:
			server(st.RetryQueue.Server)
		case st.Read != nil:
			server(st.Read.From)
			server(st.Read.Server)
			logon(st.Read.User)
		case st.EdgeSync != nil:
			server(st.EdgeSync.Server)
		}
	}
	var parts []string
	if len(servers) > 0 {
		parts = append(parts, "server(s) "+strings.Join(servers, ", "))
	}
	if len(mailboxes) > 0 {
		parts = append(parts, "mailbox(es) "+strings.Join(mailboxes, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "names " + strings.Join(parts, " and ") + ", which the topology lacks"
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	return w
}
