package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// Which rule decided a flow is read from the kernel, not guessed from the
// rule text: a table of exsim's own marks the first packet of every
// connection for nftables tracing (meta nftrace set 1) before any chain
// of the user's, and `nft -a monitor trace` in the router's namespace
// reports each chain, rule handle and verdict the packet met. The
// packets are matched to flows by addresses, protocol and destination
// port, so every flow can be probed at once.

// traceTable is exsim's tracing table in the router.
const traceTable = "exsim_trace"

// markerPort is the UDP port of the marker packets the tracer sends to
// itself (the router's loopback) to know that the monitor listens and
// that every earlier event has been read.
const markerPort = 9

// traceRuleset marks TCP SYNs and UDP datagrams entering the router (the
// lowest priority on the prerouting hook: before every chain of the
// user's, before conntrack) and the tracer's own marker packets.
var traceRuleset = fmt.Sprintf(`table inet %[1]s {
	chain trace_new {
		type filter hook prerouting priority -2147483647; policy accept;
		tcp flags & (syn | ack) == syn meta nftrace set 1
		meta l4proto udp meta nftrace set 1
	}
	chain trace_marker {
		type filter hook output priority -2147483647; policy accept;
		ip daddr 127.0.0.1 udp dport %[2]d meta nftrace set 1
	}
}
`, traceTable, markerPort)

// flowKey is what a traced packet and a flow have in common.
type flowKey struct {
	src, dst string
	proto    string
	dport    int
}

func keyOf(t *topology.Topology, f probe.Flow) (flowKey, bool) {
	src, dst := t.Server(f.Source), t.Server(f.Dest)
	if src == nil || dst == nil {
		return flowKey{}, false
	}
	return flowKey{src.Addr().String(), dst.Addr().String(), f.Transport, f.Port}, true
}

// traceEvent is one line of a trace: a rule's verdict or a chain's policy.
type traceEvent struct {
	chain   ChainRef
	policy  bool
	verdict string // accept, drop, continue, jump X, return...
	handle  int
}

type traceRecord struct {
	key    flowKey
	sport  int
	keyed  bool
	events []traceEvent
}

// tracer runs `nft monitor trace` in a namespace.
type tracer struct {
	ns   string
	cmd  *exec.Cmd
	done chan struct{}

	mu      sync.Mutex
	records map[string]*traceRecord
	order   []string
	markers map[int]bool
}

var (
	traceLineRE = regexp.MustCompile(`^trace id (\S+) (\S+) (\S+) (\S+) (packet: |rule |policy |verdict )(.*)$`)
	addrRE      = regexp.MustCompile(`\bip6? (saddr|daddr) (\S+)`)
	portRE      = regexp.MustCompile(`\b(tcp|udp) (sport|dport) (\d+)`)
	ruleTailRE  = regexp.MustCompile(`# handle (\d+) \(verdict ([^)]*)\)\s*$`)
)

// startTracer installs the tracing table in namespace ns (whose ruleset
// is loaded already) and starts the monitor; it returns once the monitor
// reports.
func startTracer(ns string) (*tracer, error) {
	if _, err := nftRun(ns, []byte(traceRuleset), "-f", "-"); err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		return nil, err
	}
	tr := &tracer{ns: ns, done: make(chan struct{}), records: map[string]*traceRecord{}, markers: map[int]bool{}}
	tr.cmd = exec.Command(nft, "-a", "monitor", "trace")
	out, err := tr.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := inNetns(ns, tr.cmd.Start); err != nil {
		return nil, fmt.Errorf("trace: nft monitor trace: %w", err)
	}
	go tr.read(out)
	if err := tr.barrier(); err != nil {
		tr.stop()
		return nil, err
	}
	return tr, nil
}

func (tr *tracer) read(r io.Reader) {
	defer close(tr.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		tr.parse(sc.Text())
	}
}

func (tr *tracer) parse(line string) {
	m := traceLineRE.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		return
	}
	id, chain, kind, rest := m[1], ChainRef{m[2], m[3], m[4]}, strings.TrimSpace(m[5]), m[6]
	tr.mu.Lock()
	defer tr.mu.Unlock()
	rec := tr.records[id]
	if rec == nil {
		rec = &traceRecord{}
		tr.records[id] = rec
		tr.order = append(tr.order, id)
	}
	switch kind {
	case "packet:":
		if rec.keyed {
			return
		}
		for _, a := range addrRE.FindAllStringSubmatch(rest, -1) {
			if a[1] == "saddr" {
				rec.key.src = a[2]
			} else {
				rec.key.dst = a[2]
			}
		}
		for _, p := range portRE.FindAllStringSubmatch(rest, -1) {
			n, _ := strconv.Atoi(p[3])
			rec.key.proto = p[1]
			if p[2] == "dport" {
				rec.key.dport = n
			} else {
				rec.sport = n
			}
		}
		rec.keyed = rec.key.src != "" && rec.key.proto != ""
		if rec.keyed && chain.Table == traceTable && rec.key.dst == "127.0.0.1" && rec.key.dport == markerPort {
			tr.markers[rec.sport] = true
		}
	case "rule":
		t := ruleTailRE.FindStringSubmatch(rest)
		if t == nil {
			return
		}
		h, _ := strconv.Atoi(t[1])
		rec.events = append(rec.events, traceEvent{chain: chain, verdict: t[2], handle: h})
	case "policy":
		rec.events = append(rec.events, traceEvent{chain: chain, policy: true, verdict: strings.TrimSpace(rest)})
	}
}

// barrier sends marker packets until the monitor reports one: then the
// monitor listens, and every event before the marker has been read.
func (tr *tracer) barrier() error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var sport int
		err := inNetns(tr.ns, func() error {
			c, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(markerPort)))
			if err != nil {
				return err
			}
			defer c.Close()
			sport = c.LocalAddr().(*net.UDPAddr).Port
			_, err = c.Write([]byte("exsim trace marker"))
			return err
		})
		if err != nil {
			return fmt.Errorf("trace: marker packet: %w", err)
		}
		for range 10 {
			select {
			case <-tr.done:
				return errors.New("trace: nft monitor trace ended")
			case <-time.After(20 * time.Millisecond):
			}
			tr.mu.Lock()
			ok := tr.markers[sport]
			tr.mu.Unlock()
			if ok {
				return nil
			}
		}
	}
	return errors.New("trace: nft monitor trace reported nothing within 10s")
}

// stop ends the monitor and removes the tracing table.
func (tr *tracer) stop() {
	if tr.cmd.Process != nil {
		tr.cmd.Process.Kill()
		<-tr.done
		tr.cmd.Wait()
	}
	nftRun(tr.ns, nil, "delete", "table", "inet", traceTable)
}

// Verdict is what the router's ruleset did with a flow's packets, and
// the line of the user's file that did it.
type Verdict struct {
	// Action is "accept" or "drop" (a reject is a drop that answers).
	Action string `json:"action"`
	// Policy is set when the chain's default policy decided.
	Policy bool     `json:"policy,omitempty"`
	Chain  ChainRef `json:"-"`
	Rule   Origin   `json:"rule"`
}

// String is "dropped by exchange.nft:48: ip saddr ... drop", or for a
// policy "dropped by the policy of chain inet exsim forward (exchange.nft:12: ...)".
func (v *Verdict) String() string {
	verb := "dropped"
	if v.Action == "accept" {
		verb = "accepted"
	}
	if v.Policy {
		return fmt.Sprintf("%s by the default policy of chain %s (%s)", verb, v.Chain, v.Rule)
	}
	return verb + " by " + v.Rule.String()
}

// FlowVerdicts is what the trace saw of each flow (by ID): the drop that
// stopped its packets, and the last accept that let them through.
type FlowVerdicts struct {
	Drop, Accept map[string]*Verdict
}

// For is the verdict that explains a flow's outcome: the drop when the
// flow was dropped, the accept when it went through.
func (fv *FlowVerdicts) For(id string, reached bool) *Verdict {
	if fv == nil {
		return nil
	}
	if reached {
		if v := fv.Accept[id]; v != nil {
			return v
		}
		return fv.Drop[id]
	}
	if v := fv.Drop[id]; v != nil {
		return v
	}
	return fv.Accept[id]
}

// finish stops the tracer after a last barrier and decides each flow's
// verdicts from its packets' events.
func (tr *tracer) finish(t *topology.Topology, flows []probe.Flow, o *RuleOrigins) (*FlowVerdicts, error) {
	berr := tr.barrier()
	tr.stop()
	return tr.verdicts(t, flows, o), berr
}

// verdicts decides each flow's verdicts from its packets' events.
func (tr *tracer) verdicts(t *topology.Topology, flows []probe.Flow, o *RuleOrigins) *FlowVerdicts {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	byKey := map[flowKey][]*traceRecord{}
	for _, id := range tr.order {
		rec := tr.records[id]
		if rec.keyed {
			byKey[rec.key] = append(byKey[rec.key], rec)
		}
	}
	fv := &FlowVerdicts{Drop: map[string]*Verdict{}, Accept: map[string]*Verdict{}}
	for _, f := range flows {
		k, ok := keyOf(t, f)
		if !ok {
			continue
		}
		for _, rec := range byKey[k] {
			drop, accept := decide(rec.events, o)
			if drop != nil {
				fv.Drop[f.ID] = drop
			}
			if accept != nil {
				fv.Accept[f.ID] = accept
			}
		}
	}
	return fv
}

// decide reads one packet's events: the drop that ended it, or the last
// accept of a filtering chain (the forward hook or a chain jumped to).
func decide(events []traceEvent, o *RuleOrigins) (drop, accept *Verdict) {
	for _, e := range events {
		if e.chain.Table == traceTable {
			continue
		}
		action := ""
		switch {
		case e.verdict == "drop" || e.verdict == "reject":
			action = "drop"
		case e.verdict == "accept":
			action = "accept"
		default:
			continue
		}
		kc := o.Chains[e.chain]
		v := &Verdict{Action: action, Policy: e.policy, Chain: e.chain}
		if e.policy {
			v.Rule = kc.Decl
		} else if r, ok := o.Rules[RuleRef{e.chain, e.handle}]; ok {
			v.Rule = r
		} else {
			v.Rule = Origin{File: o.File, Text: fmt.Sprintf("rule handle %d of chain %s", e.handle, e.chain)}
		}
		if action == "drop" {
			return v, accept
		}
		if kc.Hook == "forward" || kc.Hook == "" {
			accept = v
		}
	}
	return nil, accept
}

// probeTraced probes flows while the tracer watches the router, and
// returns each flow's verdicts.
func (l *Lab) probeTraced(ctx context.Context, po ProbeOptions, o *RuleOrigins) ([]probe.Result, *FlowVerdicts, error) {
	tr, err := startTracer(l.Router)
	if err != nil {
		return nil, nil, err
	}
	res, err := l.Probe(ctx, po)
	if err != nil {
		tr.stop()
		return nil, nil, err
	}
	flows := po.Flows
	if flows == nil {
		flows = probe.Flows(l.t)
	}
	fv, err := tr.finish(l.t, flows, o)
	return res, fv, err
}
