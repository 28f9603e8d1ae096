package transport

import (
	"errors"
	"fmt"

	"github.com/exsim/exsim/internal/labnet"
)

// HopError is a failure to reach a next hop, worded as Exchange's queue
// LastError (EXCHANGE.md section 2, "next hop unreachable").
type HopError struct {
	Reply string
	// Permanent failures (a domain that does not exist) fail the
	// recipients with an NDR instead of retrying.
	Permanent bool
	Err       error
}

func (e *HopError) Error() string { return e.Reply }
func (e *HopError) Unwrap() error { return e.Err }

const failoverText = ` Attempted failover to alternate host, but that did not succeed. Either there are no alternate hosts, or delivery failed to all alternate hosts. The last endpoint attempted was %s`

// connectError words a failed connection attempt to the last endpoint
// tried: a refused connection and a timeout (a dropping firewall) read as
// Exchange reports them (Winsock 10061 and 10060).
func connectError(endpoint string, err error) *HopError {
	switch {
	case errors.Is(err, labnet.ErrOutsideTopology):
		return &HopError{Err: err, Reply: fmt.Sprintf(`451 4.4.0 Primary target IP address responded with: "421 4.2.1 Unable to connect: exsim does not deliver outside the lab topology (allow_outside)."`+failoverText, endpoint)}
	case labnet.IsTimeout(err):
		return &HopError{Err: err, Reply: fmt.Sprintf(`441 4.4.1 Error encountered while communicating with primary target IP address: "Failed to connect. Winsock error code: 10060, Win32 error code: 10060."`+failoverText, endpoint)}
	case labnet.IsRefused(err):
		return &HopError{Err: err, Reply: fmt.Sprintf(`451 4.4.0 Primary target IP address responded with: "421 4.2.1 Unable to connect."`+failoverText, endpoint)}
	default:
		return &HopError{Err: err, Reply: fmt.Sprintf(`451 4.4.0 Primary target IP address responded with: "421 4.4.2 Connection dropped due to SocketError."`+failoverText, endpoint)}
	}
}

// replyError words a next hop that answered but would not take mail
// (a 4xx or 5xx greeting, EHLO or TLS failure).
func replyError(endpoint, reply string) *HopError {
	return &HopError{Reply: fmt.Sprintf(`451 4.4.0 Primary target IP address responded with: "%s."`+failoverText, reply, endpoint)}
}

// dnsError words a failed lookup of the next hop.
func dnsError(err error) *HopError {
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) && !tmp.Temporary() {
		return &HopError{Err: err, Permanent: true, Reply: "550 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain"}
	}
	return &HopError{Err: err, Reply: "451 4.4.0 DNS query failed. The error was: DNS query failed with error: ErrorRetry"}
}

// LastError words any delivery error as a queue's LastError.
func LastError(err error) string {
	var he *HopError
	if errors.As(err, &he) {
		return he.Reply
	}
	return fmt.Sprintf(`451 4.4.0 Primary target IP address responded with: "421 4.4.2 Connection dropped."`+failoverText+" (%v)", "", err)
}
