package labnet

import (
	"fmt"
	"net/netip"
)

// Kind says why a lookup failed, and so whether trying again later can help.
type Kind int

const (
	// NotFound: the name does not exist (NXDOMAIN) or has no record of
	// the type (NODATA). Permanent.
	NotFound Kind = iota + 1
	// NullMX: the domain says it accepts no mail (RFC 7505). Permanent.
	NullMX
	// Refused: every server refused the query (a name outside the lab).
	// Transient: the lab's data may change.
	Refused
	// ServerFailure: a server answered SERVFAIL, another error code, or
	// something that is not a valid answer. Transient.
	ServerFailure
	// Timeout: no answer in time, or the caller's context ended. Transient.
	Timeout
	// Unreachable: no socket to a server could be opened or used
	// (connection refused, no route, a Dial that fails). Transient.
	Unreachable
)

var kindNames = map[Kind]string{
	NotFound:      "not found",
	NullMX:        "null MX",
	Refused:       "refused",
	ServerFailure: "server failure",
	Timeout:       "timeout",
	Unreachable:   "unreachable",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is the error of every lookup.
type Error struct {
	Name   string         // the name looked up, as given
	Type   string         // the query type: "MX", "A", "AAAA", "A/AAAA" or "PTR"
	Kind   Kind           // why it failed
	Server netip.AddrPort // the last server involved; zero when none was
	Err    error          // the underlying cause (network or context error), or nil

	nxdomain bool // NotFound because the name does not exist at all
}

// Error returns a short line for queue LastError and logs, e.g.
// "dns MX contoso.com: timeout (127.0.20.53:53)".
func (e *Error) Error() string {
	s := "dns " + e.Type + " " + e.Name + ": "
	switch e.Kind {
	case NotFound:
		if e.Err != nil {
			return s + e.Err.Error()
		}
		if e.nxdomain {
			s += "no such domain"
		} else {
			s += "no " + e.Type + " record"
		}
	case NullMX:
		s += "domain accepts no mail (null MX)"
	default:
		s += e.Kind.String()
	}
	if e.Server.IsValid() && e.Kind != NotFound && e.Kind != NullMX {
		s += " (" + e.Server.String() + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause, so errors.Is(err,
// context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the lookup may succeed later: false only for
// NotFound and NullMX (RFC 5321 section 5.1: a permanent failure).
func (e *Error) Temporary() bool { return e.Kind != NotFound && e.Kind != NullMX }

// Timeout reports whether no answer came in time.
func (e *Error) Timeout() bool { return e.Kind == Timeout }
