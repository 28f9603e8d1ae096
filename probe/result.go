package probe

import (
	"time"

	"github.com/exsim/exsim/internal/junit"
)

// Outcome is what a check found (SPEC section 5).
type Outcome string

const (
	// OutcomeOpen: the expected service answered and identified itself as
	// the expected server (banner, greeting, certificate, headers, DNS answer).
	OutcomeOpen Outcome = "open"
	// OutcomeRefused: the connection was refused (RST or ICMP unreachable).
	OutcomeRefused Outcome = "refused"
	// OutcomeFiltered: nothing answered within the timeout.
	OutcomeFiltered Outcome = "filtered"
	// OutcomeWrongPeer: something else answered: another banner, greeting,
	// server name, or a connection that was accepted and then said nothing
	// useful (a NAT or routing error, a proxy).
	OutcomeWrongPeer Outcome = "wrong-peer"
	// OutcomeTLSIntercepted: a certificate not issued by the lab CA, or
	// issued for a name that is no server of the lab.
	OutcomeTLSIntercepted Outcome = "tls-intercepted"
	// OutcomeStartTLSStripped: the EHLO, CAPABILITY or CAPA reply lacks the
	// STARTTLS (STLS) the listener offers, or the upgrade was refused.
	OutcomeStartTLSStripped Outcome = "starttls-stripped"
)

// Outcomes lists every outcome.
var Outcomes = []Outcome{OutcomeOpen, OutcomeRefused, OutcomeFiltered, OutcomeWrongPeer, OutcomeTLSIntercepted, OutcomeStartTLSStripped}

// Result is the outcome of one flow.
type Result struct {
	Flow    Flow
	Outcome Outcome // "" when the check could not run (see Error)
	Pass    bool
	// Detail is what was seen: banner, greeting, certificate subject and
	// issuer, HTTP status and X-FEServer, DNS rcode and AA.
	Detail   string
	Duration time.Duration
	// Error says why the check could not run at all (an unknown server, a
	// source address this host does not have, a cancelled probe); such a
	// flow fails.
	Error string
}

// Summary counts results.
type Summary struct {
	Flows, Passed, Failed int
}

// Summarize counts passed and failed flows.
func Summarize(results []Result) Summary {
	s := Summary{Flows: len(results)}
	s.Passed, s.Failed = junit.Tally(results, func(r Result) bool { return r.Pass })
	return s
}
