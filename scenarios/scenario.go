// Package scenarios runs mail-flow scenarios against a running lab: send
// mail from a server's position or as an authenticated client, wait for
// delivery, assert the path (Received chain and tracking events), assert
// queue states, inject and clear faults, read mail over IMAP, POP3 or
// HTTPS. Scenarios are YAML, decoded strictly; the built-in ones (one per
// row of Microsoft's tables, and a few about failures) are embedded.
package scenarios

import (
	"bytes"
	"embed"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/exsim/exsim/topology"
)

// Scenario is one YAML scenario file.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Topology is the built-in topology the scenario is written for
	// ("contoso", "contoso-noedge"), or "any".
	Topology string `yaml:"topology"`
	// Table and Row tie the scenario to the seed document.
	Table string `yaml:"table,omitempty"`
	Row   string `yaml:"row,omitempty"`
	// Flows are the probe flow ids the scenario depends on: when it fails,
	// these are the firewall rules to look at.
	Flows []string `yaml:"flows,omitempty"`
	Steps []Step   `yaml:"steps"`
	// ID is the built-in scenario's file name without .yaml
	// ("24-edgesync"); empty for a scenario read from a file.
	ID string `yaml:"-"`
	// File is where the scenario came from (not in YAML).
	File string `yaml:"-"`
}

// Step is one action or assertion; exactly one field is set.
type Step struct {
	Send         *SendStep     `yaml:"send,omitempty"`
	Submit       *SubmitStep   `yaml:"submit,omitempty"`
	Wait         *WaitStep     `yaml:"wait_delivery,omitempty"`
	Path         *PathStep     `yaml:"assert_path,omitempty"`
	Queue        *QueueStep    `yaml:"assert_queue,omitempty"`
	Fault        *FaultStep    `yaml:"fault,omitempty"`
	ClearFaults  *bool         `yaml:"clear_faults,omitempty"`
	RetryQueue   *RetryStep    `yaml:"retry_queue,omitempty"`
	Read         *ReadStep     `yaml:"read,omitempty"`
	EdgeSync     *EdgeSyncStep `yaml:"wait_edgesync,omitempty"`
	Tracking     *TrackingStep `yaml:"assert_tracking,omitempty"`
	Sleep        *Duration     `yaml:"sleep,omitempty"`
	NotDelivered *NotDelivered `yaml:"assert_not_delivered,omitempty"`
}

// SendStep sends from a server's position (MX through the lab DNS).
type SendStep struct {
	From    string   `yaml:"from"` // server
	Sender  string   `yaml:"sender"`
	To      []string `yaml:"to"`
	Subject string   `yaml:"subject,omitempty"`
	Count   int      `yaml:"count,omitempty"` // several messages (default 1)
	// Queue hands the messages to the server's own queue (retries).
	Queue  bool   `yaml:"queue,omitempty"`
	Expect Expect `yaml:"expect,omitempty"`
}

// SubmitStep submits as an authenticated client from a server's position
// (an internet client is INET01's position) to a server's port.
type SubmitStep struct {
	From     string   `yaml:"from"`   // the client's position
	Server   string   `yaml:"server"` // where it submits
	Port     int      `yaml:"port,omitempty"`
	TLS      string   `yaml:"tls,omitempty"`
	User     string   `yaml:"user"`
	Password string   `yaml:"password"`
	Sender   string   `yaml:"sender,omitempty"`
	To       []string `yaml:"to"`
	Subject  string   `yaml:"subject,omitempty"`
	Expect   Expect   `yaml:"expect,omitempty"`
}

// Expect is the expected outcome of a send: "accepted" (default) or
// "rejected", and optionally the reply (a prefix).
type Expect struct {
	Result string `yaml:"result,omitempty"` // accepted | rejected
	Reply  string `yaml:"reply,omitempty"`
}

// WaitStep waits until the last sent messages are in a mailbox.
type WaitStep struct {
	Mailbox string    `yaml:"mailbox"`
	Server  string    `yaml:"server,omitempty"` // default: the mailbox's home
	Subject string    `yaml:"subject,omitempty"`
	Timeout *Duration `yaml:"timeout,omitempty"`
}

// NotDelivered asserts a message did not (yet) arrive.
type NotDelivered struct {
	Mailbox string `yaml:"mailbox"`
	Server  string `yaml:"server,omitempty"`
}

// PathStep asserts the route of the last delivered message.
type PathStep struct {
	Mailbox string `yaml:"mailbox"`
	// Received lists the hops oldest first: "INET01 -> EDGE01",
	// "EDGE01 -> EX01 via Frontend Transport"; server names or FQDNs.
	Received []string `yaml:"received,omitempty"`
	// Tracking lists events that must exist: "EDGE01 RECEIVE", "EDGE01
	// SEND EdgeSync - Inbound to Default-First-Site-Name".
	Tracking []string `yaml:"tracking,omitempty"`
}

// TrackingStep asserts tracking events of the last sent message, or with
// any_message of any message (agent events such as sender reputation's
// are about a sender, not a message).
type TrackingStep struct {
	Events     []string  `yaml:"events"`
	AnyMessage bool      `yaml:"any_message,omitempty"`
	Timeout    *Duration `yaml:"timeout,omitempty"`
}

// QueueStep waits until a queue reaches a state.
type QueueStep struct {
	Server        string    `yaml:"server"`
	NextHopDomain string    `yaml:"next_hop_domain,omitempty"`
	DeliveryType  string    `yaml:"delivery_type,omitempty"`
	Identity      string    `yaml:"identity,omitempty"`
	Status        string    `yaml:"status,omitempty"`
	MessageCount  *int      `yaml:"message_count,omitempty"`
	LastError     string    `yaml:"last_error_contains,omitempty"`
	Timeout       *Duration `yaml:"timeout,omitempty"`
}

// FaultStep injects a fault (no root needed).
type FaultStep struct {
	From   string    `yaml:"from"`
	To     string    `yaml:"to,omitempty"`
	Port   int       `yaml:"port,omitempty"`
	Action string    `yaml:"action"`
	Delay  *Duration `yaml:"delay,omitempty"`
	// Idle is the idle timeout of action idle.
	Idle *Duration `yaml:"idle,omitempty"`
}

// RetryStep runs Retry-Queue on the queue to a next hop (by its domain or
// its delivery type).
type RetryStep struct {
	Server        string `yaml:"server"`
	NextHopDomain string `yaml:"next_hop_domain,omitempty"`
	DeliveryType  string `yaml:"delivery_type,omitempty"`
}

// ReadStep reads a mailbox as a client from a server's position.
type ReadStep struct {
	From     string `yaml:"from"`
	Protocol string `yaml:"protocol"` // imap, pop3, https, ews-stream, activesync-ping, rpc-http, http
	Server   string `yaml:"server"`
	TLS      string `yaml:"tls,omitempty"`
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// ExpectLast: the last sent message must be listed.
	ExpectLast bool `yaml:"expect_last,omitempty"`
	// Hold is how long ews-stream, activesync-ping and rpc-http hold
	// their connection.
	Hold *Duration `yaml:"hold,omitempty"`
	// ExpectCut: the held connection must end early (an idle timeout in
	// the path); without it, it must last the whole hold.
	ExpectCut bool `yaml:"expect_cut,omitempty"`
}

// EdgeSyncStep waits until EdgeSync succeeded on a server.
type EdgeSyncStep struct {
	Server  string    `yaml:"server"`
	Timeout *Duration `yaml:"timeout,omitempty"`
}

// Duration is a YAML duration ("30s", or seconds).
type Duration = topology.Duration

// kind is the step's YAML key; a step must have exactly one.
func (s *Step) kind() (string, error) {
	given := map[string]bool{
		"send": s.Send != nil, "submit": s.Submit != nil, "wait_delivery": s.Wait != nil, "assert_path": s.Path != nil,
		"assert_queue": s.Queue != nil, "fault": s.Fault != nil, "clear_faults": s.ClearFaults != nil,
		"retry_queue": s.RetryQueue != nil, "read": s.Read != nil, "wait_edgesync": s.EdgeSync != nil,
		"assert_tracking": s.Tracking != nil, "sleep": s.Sleep != nil, "assert_not_delivered": s.NotDelivered != nil,
	}
	var kinds []string
	for name, set := range given {
		if set {
			kinds = append(kinds, name)
		}
	}
	switch len(kinds) {
	case 1:
		return kinds[0], nil
	case 0:
		// The list comes from the map, so a new kind of step cannot be
		// left out of it (assert_not_delivered was).
		return "", fmt.Errorf("empty step: give one of %s", strings.Join(slices.Sorted(maps.Keys(given)), ", "))
	}
	slices.Sort(kinds)
	return "", fmt.Errorf("a step does one thing; this one has %s", strings.Join(kinds, " and "))
}

// Parse decodes a scenario strictly (unknown keys are errors) and checks
// it; name is used in errors.
func Parse(name string, data []byte) (*Scenario, error) {
	var sc Scenario
	if err := yaml.UnmarshalWithOptions(data, &sc, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("%s: %s", name, yaml.FormatError(err, false, true))
	}
	sc.File = name
	if sc.Name == "" {
		return nil, fmt.Errorf("%s: name is required", name)
	}
	if sc.Topology == "" {
		return nil, fmt.Errorf("%s: topology is required (a built-in topology name, or any)", name)
	}
	if len(sc.Steps) == 0 {
		return nil, fmt.Errorf("%s: steps are required", name)
	}
	for i := range sc.Steps {
		if _, err := sc.Steps[i].kind(); err != nil {
			return nil, fmt.Errorf("%s: steps[%d]: %v", name, i, err)
		}
	}
	return &sc, nil
}

// Load reads scenario files.
func Load(paths ...string) ([]*Scenario, error) {
	var out []*Scenario
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sc, err := Parse(p, b)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtin returns the built-in scenarios, in file order.
func Builtin() ([]*Scenario, error) {
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		return nil, err
	}
	var out []*Scenario
	for _, e := range entries {
		b, err := builtinFS.ReadFile(path.Join("builtin", e.Name()))
		if err != nil {
			return nil, err
		}
		sc, err := Parse("built-in "+e.Name(), bytes.TrimSpace(b))
		if err != nil {
			return nil, err
		}
		sc.ID = strings.TrimSuffix(e.Name(), ".yaml")
		out = append(out, sc)
	}
	return out, nil
}

// Find returns the built-in scenario named by id: its whole file name
// ("24-edgesync", "24-edgesync.yaml") or its number ("24").
func Find(all []*Scenario, id string) *Scenario {
	id = strings.TrimSuffix(id, ".yaml")
	for _, s := range all {
		if s.ID != "" && (s.ID == id || strings.HasPrefix(s.ID, id+"-")) {
			return s
		}
	}
	return nil
}

// For returns the scenarios that apply to a topology name.
func For(all []*Scenario, topologyName string) []*Scenario {
	var out []*Scenario
	for _, s := range all {
		if s.Topology == "any" || s.Topology == topologyName {
			out = append(out, s)
		}
	}
	return out
}

func dur(d *Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return time.Duration(*d)
}
