// Package rca runs the Exchange tests of Microsoft's Remote Connectivity
// Analyzer (RCA, testconnectivity.microsoft.com) from any server's position
// in a lab: Inbound and Outbound SMTP Email, Outlook and Exchange
// ActiveSync Autodiscover, Exchange Web Services, Outlook Connectivity,
// Exchange ActiveSync, IMAP Email and POP Email. Each test is RCA's step
// list (resolve the name through the lab DNS, connect, check the TLS
// certificate's name and chain against the lab CA, authenticate, each
// protocol step), each step passed or failed (with the reason); a test
// stops at its first failure.
// The clients speak the published protocols and accept any Exchange that
// answers correctly, not only exsim.
package rca

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/labnet"
)

// Status is the state of a step or a test.
type Status string

// The statuses of a step and of a test (failed when one step failed).
const (
	Pass, Fail Status = "pass", "fail"
)

// Step is one line of a test's step list.
type Step struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Result is one test.
type Result struct {
	ID       string        `json:"id"`
	Test     string        `json:"test"`
	Status   Status        `json:"status"`
	Steps    []Step        `json:"steps"`
	Duration time.Duration `json:"duration_ns"`
}

// Failed reports a test with a failed step.
func (r Result) Failed() bool { return r.Status == Fail }

// Env is the position the tests run from: how it dials, which DNS it asks
// and which CA it trusts.
type Env struct {
	// Dial opens connections from the position (its address, its faults).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Resolver is the position's stub resolver (the lab DNS).
	Resolver *labnet.Resolver
	// Roots are the CAs a certificate must chain to (the lab CA).
	Roots *x509.CertPool
	// Port maps a documented port to the lab's (the port offset); nil is
	// the identity.
	Port func(int) int
	// Helo is the name the position gives in EHLO.
	Helo string
}

// Options say whom to test.
type Options struct {
	// User is the mailbox's SMTP address (also the logon name) and
	// Password its password.
	User, Password string
	// Target is the host every test connects to; empty uses the public
	// names of the user's domain: its MX for SMTP, autodiscover.<domain>
	// for Autodiscover and the URLs Autodiscover returns (mail.<domain>
	// for IMAP and POP).
	Target string
	// Sender is the MAIL FROM of the Inbound SMTP test message.
	Sender string
	// Timeout bounds each test (default DefaultTimeout).
	Timeout time.Duration
}

// DefaultTimeout bounds one test.
const DefaultTimeout = 30 * time.Second

// Test is one RCA test.
type Test struct {
	ID   string // the --test name
	Name string // RCA's title
	run  func(*run)
	// least is the shortest time the test may need (a Ping waits a whole
	// heartbeat): it raises Options.Timeout.
	least time.Duration
}

// Tests lists every test in RCA's order.
var Tests = []Test{
	{"inbound-smtp", "Inbound SMTP Email", inboundSMTP, 0},
	{"outbound-smtp", "Outbound SMTP Email", outboundSMTP, 0},
	{"outlook-autodiscover", "Outlook Autodiscover", outlookAutodiscover, 0},
	{"activesync-autodiscover", "Exchange ActiveSync Autodiscover", activeSyncAutodiscover, 0},
	{"ews", "Exchange Web Services (synchronization, notification, availability, automatic replies)", ewsTest, 0},
	{"outlook", "Outlook Connectivity (MAPI over HTTP, RPC over HTTP)", outlookConnectivity, 0},
	{"activesync", "Exchange ActiveSync", activeSync, easTimeout},
	{"imap", "IMAP Email", imapTest, 0},
	{"pop", "POP Email", popTest, 0},
}

// TestIDs are the names --test accepts.
func TestIDs() []string {
	out := make([]string, len(Tests))
	for i, t := range Tests {
		out[i] = t.ID
	}
	return out
}

// Select returns the tests named by ids (all for none); an unknown name
// is an error that lists the known ones.
func Select(ids []string) ([]Test, error) {
	if len(ids) == 0 {
		return Tests, nil
	}
	var out []Test
	for _, id := range ids {
		i := slices.IndexFunc(Tests, func(t Test) bool { return strings.EqualFold(t.ID, id) })
		if i < 0 {
			return nil, fmt.Errorf("rca: unknown test %q (tests: %s)", id, strings.Join(TestIDs(), ", "))
		}
		out = append(out, Tests[i])
	}
	return out, nil
}

// Run runs tests one after the other (Inbound SMTP delivers a message the
// others may see) and returns their results in order.
func Run(ctx context.Context, env *Env, o Options, tests []Test) []Result {
	out := make([]Result, 0, len(tests))
	for _, t := range tests {
		out = append(out, runOne(ctx, env, o, t))
	}
	return out
}

func runOne(ctx context.Context, env *Env, o Options, t Test) Result {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	timeout = max(timeout, t.least)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	r := &run{ctx: ctx, env: env, o: o, res: Result{ID: t.ID, Test: t.Name}}
	t.run(r)
	r.res.Duration = time.Since(start)
	r.res.Status = Pass
	if r.failed || len(r.res.Steps) == 0 {
		r.res.Status = Fail
	}
	return r.res
}

// Summary counts results by status.
type Summary struct {
	Tests, Passed, Failed int
}

// Summarize counts results.
func Summarize(rs []Result) Summary {
	s := Summary{Tests: len(rs)}
	for _, r := range rs {
		if r.Status == Pass {
			s.Passed++
		} else {
			s.Failed++
		}
	}
	return s
}

// domainOf is the domain of an address ("" without @).
func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return strings.ToLower(d)
}
