package control

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/probe/report"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// liveView is what the live sections show.
type liveView struct {
	Org      string
	Running  []string
	Servers  []serverView
	Probing  bool
	LastRun  time.Time
	Summary  probe.Summary // of the flows probed so far
	Picture  template.HTML // probe/report's SVG of the flows
	Flows    []flowView
	Queues   []queueGroup
	Faults   []faultView // injected
	Firewall []faultView // the simulated firewall of a loopback lab
	EdgeSync []edgeSyncView
	Counters []counterRow
}

// pageView is the whole page: the live sections, the forms and the
// tracking search of the page's query.
type pageView struct {
	liveView
	Flash    string
	Names    []string // every server of the topology, for the fault form
	Tracking trackView
}

// serverView is one server of the topology, with its listeners' state when
// this process runs it.
type serverView struct {
	*topology.Server
	Here                      bool
	Listening, Closed, Failed int
}

// flowView is one documented flow and its last probe result (nil: not
// probed since this process started).
type flowView struct {
	probe.Flow
	Result *probe.Result
}

// State is pass, fail or unknown (for the row's class and data-state).
func (f flowView) State() string {
	switch {
	case f.Result == nil:
		return "unknown"
	case f.Result.Pass:
		return "pass"
	}
	return "fail"
}

// queueGroup is Get-Queue of one server.
type queueGroup struct {
	Server string
	Queues []transport.QueueInfo
	Err    string
}

// faultView is one fault, its destination named as a server.
type faultView struct {
	labnet.Fault
	ToName string
}

// edgeSyncView is one server's EdgeSync state, or why it is unknown.
type edgeSyncView struct {
	EdgeSyncStatus
	Err string
}

// counterRow counts one connector's tracking events (RECEIVE on a Receive
// connector, SEND on a Send connector, DELIVER through the store driver).
type counterRow struct {
	Server, Connector                             string
	Received, Sent, Delivered, Deferred, Failures int
}

func (d *dashboard) pageData(ctx context.Context, q url.Values, flash string) pageView {
	v := pageView{liveView: d.liveData(ctx, true), Flash: flash}
	for _, s := range d.lab.Topology().Servers {
		v.Names = append(v.Names, s.Name)
	}
	v.Tracking = d.track(q)
	return v
}

// liveData gathers the live sections; the connector counters (which read
// the whole tracking log) only when counters is set.
func (d *dashboard) liveData(ctx context.Context, counters bool) liveView {
	t := d.lab.Topology()
	v := liveView{Org: cmp.Or(t.Organization, t.DefaultDomain()), Running: d.running()}
	health := map[string]ServerHealth{}
	for _, h := range d.lab.Health() {
		health[h.Name] = h
	}
	for i := range t.Servers {
		s := &t.Servers[i]
		sv := serverView{Server: s}
		if h, ok := health[s.Name]; ok {
			sv.Here = true
			for _, l := range h.Listeners {
				switch l.State {
				case "listening":
					sv.Listening++
				case "failed":
					sv.Failed++
				default:
					sv.Closed++
				}
			}
		}
		v.Servers = append(v.Servers, sv)
	}
	d.flows(t, &v)
	for _, name := range d.running() {
		q, err := d.lab.Queues(name)
		if noTransport(err) {
			continue
		}
		g := queueGroup{Server: name, Queues: q}
		if err != nil {
			g.Err = err.Error()
		}
		v.Queues = append(v.Queues, g)
		if counters {
			v.Counters = append(v.Counters, d.counters(name)...)
		}
	}
	for _, name := range d.exchangeServers() {
		es, err := d.lab.EdgeSync(name)
		ev := edgeSyncView{EdgeSyncStatus: es}
		if err != nil {
			ev.Server, ev.Err = name, err.Error()
		}
		v.EdgeSync = append(v.EdgeSync, ev)
	}
	for _, f := range d.lab.Faults().List() {
		fv := faultView{Fault: f, ToName: f.To}
		for _, s := range t.Servers {
			if s.Address == f.To {
				fv.ToName = s.Name
			}
		}
		if strings.HasPrefix(f.Note, SimulatedFirewallNote) {
			v.Firewall = append(v.Firewall, fv)
		} else {
			v.Faults = append(v.Faults, fv)
		}
	}
	return v
}

// flows fills in the flows, their last results and the picture.
func (d *dashboard) flows(t *topology.Topology, v *liveView) {
	d.mu.Lock()
	v.Probing, v.LastRun = d.probing > 0, d.lastRun
	var results []probe.Result
	for _, f := range probe.Flows(t) {
		fv := flowView{Flow: f}
		if r, ok := d.last[f.ID]; ok {
			fv.Result = &r
			results = append(results, r)
		}
		v.Flows = append(v.Flows, fv)
	}
	d.mu.Unlock()
	// Failures first, then flows not probed yet, then the ones that passed.
	rank := map[string]int{"fail": 0, "unknown": 1, "pass": 2}
	slices.SortStableFunc(v.Flows, func(a, b flowView) int { return rank[a.State()] - rank[b.State()] })
	v.Summary = probe.Summarize(results)
	var b bytes.Buffer
	if err := report.WriteSVG(&b, t, results); err != nil {
		d.log.Warn("dashboard: picture", "error", err)
		return
	}
	svg := b.String()
	if i := strings.Index(svg, "<svg"); i > 0 {
		svg = svg[i:] // the XML declaration has no place inside HTML
	}
	v.Picture = template.HTML(svg) // report.WriteSVG escapes every name it draws
}

// noTransport reports whether err is the Lab's answer for a server that
// has no transport (no queues, no tracking log): a DNS server.
func noTransport(err error) bool {
	var bi *BadInputError
	return errors.As(err, &bi)
}

// running names the servers of this process in the topology's order.
func (d *dashboard) running() []string {
	here := d.lab.Running()
	var out []string
	for _, s := range d.lab.Topology().Servers {
		if slices.ContainsFunc(here, func(n string) bool { return strings.EqualFold(n, s.Name) }) {
			out = append(out, s.Name)
		}
	}
	return out
}

// exchangeServers are the Edge and Mailbox servers of this process: the
// ones that take part in EdgeSync.
func (d *dashboard) exchangeServers() []string {
	var out []string
	t := d.lab.Topology()
	for _, name := range d.running() {
		if t.Server(name).IsExchange() {
			out = append(out, name)
		}
	}
	return out
}

// counters counts the tracking events of server per connector: messages
// received by each Receive connector, sent by each Send connector,
// delivered to mailboxes, deferred and failed. Exchange keeps such
// counters as performance counters; exsim reads them from its own
// message tracking log, so they survive restarts like the log does.
func (d *dashboard) counters(server string) []counterRow {
	events, err := d.lab.Track(server, transport.TrackingQuery{})
	if err != nil {
		return []counterRow{{Server: server, Connector: "(tracking log unreadable: " + err.Error() + ")"}}
	}
	rows := map[string]*counterRow{}
	var order []string
	for _, e := range events {
		c := e.ConnectorID
		if c == "" { // a DEFER or FAIL before any connector, a DSN...
			c = "(" + e.Source + ", no connector)"
		}
		r := rows[c]
		if r == nil {
			r = &counterRow{Server: server, Connector: c}
			rows[c] = r
			order = append(order, c)
		}
		switch e.EventID {
		case "RECEIVE":
			r.Received++
		case "SEND":
			r.Sent++
		case "DELIVER":
			r.Delivered++
		case "DEFER":
			r.Deferred++
		case "FAIL":
			r.Failures++
		}
	}
	slices.Sort(order)
	out := make([]counterRow, 0, len(order))
	for _, c := range order {
		if r := rows[c]; r.Received+r.Sent+r.Delivered+r.Deferred+r.Failures > 0 {
			out = append(out, *r)
		}
	}
	return out
}

// maxTracked bounds the messages one tracking search shows.
const maxTracked = 20

// trackView is a message tracking search and the messages it found.
type trackView struct {
	Sender, Recipient, Subject, MessageID string
	Searched                              bool
	Messages                              []trackedMessage
	More                                  bool // more than maxTracked matched
	Errors                                []string
}

// trackedMessage is one message's path: its tracking events on every
// server of this process, oldest first.
type trackedMessage struct {
	MessageID, Subject, Sender string
	Path                       []string // the servers it reached, in order of arrival
	Events                     []transport.TrackingEvent
}

// track runs Get-MessageTrackingLog on every server of this process with the page's filters, then follows each message found across
// all of them by its Message-ID.
func (d *dashboard) track(q url.Values) trackView {
	v := trackView{Sender: strings.TrimSpace(q.Get("sender")), Recipient: strings.TrimSpace(q.Get("recipient")),
		Subject: strings.TrimSpace(q.Get("subject")), MessageID: strings.TrimSpace(q.Get("message_id"))}
	if v.Sender+v.Recipient+v.Subject+v.MessageID == "" {
		return v
	}
	v.Searched = true
	servers := d.running()
	search := func(tq transport.TrackingQuery) []transport.TrackingEvent {
		var all []transport.TrackingEvent
		for _, s := range servers {
			ev, err := d.lab.Track(s, tq)
			if noTransport(err) {
				continue
			}
			if err != nil {
				v.Errors = append(v.Errors, s+": "+err.Error())
				continue
			}
			all = append(all, ev...)
		}
		slices.SortStableFunc(all, func(a, b transport.TrackingEvent) int { return a.Timestamp.Compare(b.Timestamp) })
		return all
	}
	var ids []string
	for _, e := range search(transport.TrackingQuery{Sender: v.Sender, Recipient: v.Recipient, Subject: v.Subject, MessageID: v.MessageID}) {
		if e.MessageID != "" && !slices.Contains(ids, e.MessageID) {
			ids = append(ids, e.MessageID)
		}
	}
	if len(ids) > maxTracked {
		ids, v.More = ids[len(ids)-maxTracked:], true // the newest
	}
	// One more read of each log for every event of those messages (not
	// one a message: a load test's log takes seconds to read).
	byID := map[string][]transport.TrackingEvent{}
	for _, e := range search(transport.TrackingQuery{}) {
		if slices.Contains(ids, e.MessageID) {
			byID[e.MessageID] = append(byID[e.MessageID], e)
		}
	}
	for _, id := range slices.Backward(ids) {
		m := trackedMessage{MessageID: id, Events: byID[id]}
		for _, e := range m.Events {
			m.Subject, m.Sender = cmp.Or(m.Subject, e.MessageSubject), cmp.Or(m.Sender, e.Sender)
			if !slices.Contains(m.Path, e.Server) {
				m.Path = append(m.Path, e.Server)
			}
		}
		v.Messages = append(v.Messages, m)
	}
	return v
}

// templateFuncs are the page's template helpers.
var templateFuncs = template.FuncMap{
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("15:04:05")
	},
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
	},
	"join": strings.Join,
	"lower": func(s any) string {
		return strings.ToLower(strings.TrimSpace(strings.ReplaceAll(fmt.Sprint(s), " ", "-")))
	},
	"outcome": func(r *probe.Result) string {
		if r == nil {
			return "not probed"
		}
		if r.Error != "" || r.Outcome == "" {
			return "error"
		}
		return string(r.Outcome)
	},
	"detail": func(r *probe.Result) string {
		if r == nil {
			return ""
		}
		return cmp.Or(r.Error, r.Detail)
	},
}
