package labnet

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Action is what a fault does to a flow.
type Action string

const (
	ActionDrop  Action = "drop"  // nothing answers: the flow looks filtered
	ActionReset Action = "reset" // the connection is refused: the flow looks closed
	ActionDelay Action = "delay" // the connection is set up after Delay
	// ActionIdle sets the connection up and cuts it once Idle passes
	// without traffic either way: a reverse proxy, load balancer or
	// firewall with an idle timeout, which breaks long polls (ActiveSync
	// Ping, EWS streaming, RPC over HTTP channels) that stay quiet longer.
	ActionIdle Action = "idle"
)

// Fault is one rule of the fault table. Empty fields match anything.
type Fault struct {
	ID int `json:"id"`
	// From is the source server name ("" or "*" for any).
	From string `json:"from,omitempty"`
	// To is the destination address ("" for any).
	To string `json:"to,omitempty"`
	// Port is the destination port (0 for any).
	Port int `json:"port,omitempty"`
	// Transport is tcp or udp ("" for both).
	Transport string        `json:"transport,omitempty"`
	Action    Action        `json:"action"`
	Delay     time.Duration `json:"delay,omitempty"`
	// Idle is the idle timeout of ActionIdle.
	Idle time.Duration `json:"idle,omitempty"`
	// Note says why the fault exists (shown in listings).
	Note string `json:"note,omitempty"`
}

// Validate checks a fault before it enters the table.
func (f *Fault) Validate() error {
	switch f.Action {
	case ActionDrop, ActionReset:
	case ActionDelay:
		if f.Delay <= 0 {
			return fmt.Errorf("fault: delay needs a positive duration")
		}
	case ActionIdle:
		if f.Idle <= 0 {
			return fmt.Errorf("fault: idle needs a positive duration")
		}
	default:
		return fmt.Errorf("fault: action %q: use drop, reset, delay or idle", f.Action)
	}
	if f.To != "" {
		if _, err := netip.ParseAddr(f.To); err != nil {
			return fmt.Errorf("fault: to %q is not an address", f.To)
		}
	}
	if f.Port < 0 || f.Port > 65535 {
		return fmt.Errorf("fault: port %d", f.Port)
	}
	switch f.Transport {
	case "", "tcp", "udp":
	default:
		return fmt.Errorf("fault: transport %q: use tcp or udp", f.Transport)
	}
	return nil
}

func (f *Fault) String() string {
	from, to, port := f.From, f.To, "*"
	if from == "" {
		from = "*"
	}
	if to == "" {
		to = "*"
	}
	if f.Port != 0 {
		port = fmt.Sprint(f.Port)
	}
	s := fmt.Sprintf("#%d %s %s -> %s:%s", f.ID, f.Action, from, to, port)
	switch f.Action {
	case ActionDelay:
		s += " by " + f.Delay.String()
	case ActionIdle:
		s += " after " + f.Idle.String() + " without traffic"
	}
	return s
}

// Faults is the fault table shared by the dialers of one process.
type Faults struct {
	mu     sync.RWMutex
	next   int
	faults []Fault
}

// Add inserts a fault and returns it with its id.
func (t *Faults) Add(f Fault) (Fault, error) {
	if err := f.Validate(); err != nil {
		return Fault{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	f.ID = t.next
	t.faults = append(t.faults, f)
	return f, nil
}

// Remove deletes the fault with id; it reports whether one existed.
func (t *Faults) Remove(id int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.faults)
	t.faults = slices.DeleteFunc(t.faults, func(f Fault) bool { return f.ID == id })
	return len(t.faults) != n
}

// Clear removes every fault.
func (t *Faults) Clear() {
	t.mu.Lock()
	t.faults = nil
	t.mu.Unlock()
}

// List returns the faults in insertion order.
func (t *Faults) List() []Fault {
	if t == nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.faults)
}

func (t *Faults) match(server string, src netip.Addr, dst netip.AddrPort, transport string) *Fault {
	if t == nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := range t.faults {
		f := &t.faults[i]
		if f.From != "" && f.From != "*" && !strings.EqualFold(f.From, server) && f.From != src.String() {
			continue
		}
		if f.To != "" && netip.MustParseAddr(f.To).Unmap() != dst.Addr() {
			continue
		}
		if f.Port != 0 && f.Port != int(dst.Port()) {
			continue
		}
		if f.Transport != "" && f.Transport != transport {
			continue
		}
		c := *f
		return &c
	}
	return nil
}
