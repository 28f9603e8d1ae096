package senderrep

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Outcome is what one probe found.
type Outcome string

const (
	// OpenProxy: the Edge's own SMTP banner came back through the sender.
	OpenProxy Outcome = "open-proxy"
	// NotProxy: the port answered but did not relay to the Edge.
	NotProxy Outcome = "not-proxy"
	// Closed: the connection was refused.
	Closed Outcome = "closed"
	// Filtered: nothing answered within the probe timeout.
	Filtered Outcome = "filtered"
	// Error: anything else (unreachable network, outbound proxy failure,
	// cancellation); Detail says what.
	Error Outcome = "error"
)

// ProbeResult is one protocol tested on one port of the sender.
type ProbeResult struct {
	Protocol Protocol      `json:"protocol"`
	Port     uint16        `json:"port"`
	Outcome  Outcome       `json:"outcome"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration"`
}

func (p ProbeResult) String() string {
	s := fmt.Sprintf("%s/%d %s", p.Protocol, p.Port, p.Outcome)
	if p.Detail != "" {
		s += " (" + p.Detail + ")"
	}
	return s
}

// Result is the open proxy test of one sender.
type Result struct {
	Addr netip.Addr `json:"address"`
	// Probes in protocol order, then in the port order of Options.Ports.
	Probes []ProbeResult `json:"probes"`
	// OpenProxy is true when any probe found an open proxy.
	OpenProxy bool          `json:"open_proxy"`
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"duration"`
}

// Open returns the probes that found an open proxy.
func (r Result) Open() []ProbeResult {
	var out []ProbeResult
	for _, p := range r.Probes {
		if p.Outcome == OpenProxy {
			out = append(out, p)
		}
	}
	return out
}

// Reason names the open proxies found, e.g. "open proxy: socks5/1080, http-connect/3128".
func (r Result) Reason() string {
	open := r.Open()
	if len(open) == 0 {
		return ""
	}
	names := make([]string, len(open))
	for i, p := range open {
		names[i] = fmt.Sprintf("%s/%d", p.Protocol, p.Port)
	}
	return "open proxy: " + strings.Join(names, ", ")
}
