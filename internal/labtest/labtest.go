// Package labtest gives tests their own copy of a built-in lab: the
// topology with every 127.0.x.y address moved to 127.<block>.x.y, so test
// labs of different packages (which run in parallel) never share an
// address, and a port offset so no test needs root. It also builds the
// exsim command once for the tests that run it as users do (Binary).
//
// Blocks in use: roles 210-249 (and 145-148 for its Offline Address Book test),
// cmd/exsim 121-139, (free: 141-144, 149-159),
// probe 161-179, internal/control's dashboard 181-184, lab 191-199, roles' TLS persona tests 200-204,
// probe/rca 205-209;
// exsimtest (and the scenarios tests through it) picks from 60-119.
package labtest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exsim/exsim/topology"
)

// PortOffset is the offset test labs use (no root needed).
const PortOffset = 10000

// Topology returns the built-in topology name with its loopback addresses
// moved into block (127.block.x.y) and its port offset set to PortOffset.
func Topology(t testing.TB, name string, block byte) *topology.Topology {
	t.Helper()
	src, err := topology.BuiltinSource(name)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(src), "address: 127.0.", fmt.Sprintf("address: 127.%d.", block))
	top, err := topology.Parse("test topology "+name, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := top.SetPortOffset(PortOffset); err != nil {
		t.Fatal(err)
	}
	for _, sv := range top.Servers {
		if a := netip.MustParseAddr(sv.Address); a.As4()[1] != block {
			t.Fatalf("labtest: %s kept address %s", sv.Name, a)
		}
	}
	return top
}

// Blocks hands out blocks from a range, one per call, for packages whose
// tests each start a lab.
type Blocks struct {
	first, last byte
	next        atomic.Int32
}

// NewBlocks returns a dispenser for blocks first..last.
func NewBlocks(first, last byte) *Blocks { return &Blocks{first: first, last: last} }

// Next returns the next block whose lab DNS port is free; it fails the
// test when the range is used up. A block another process holds (the same
// package's tests run from a second checkout, say) is passed over rather
// than failing the test with "address already in use".
func (b *Blocks) Next(t testing.TB) byte {
	for {
		n := b.next.Add(1) - 1
		if int(b.first)+int(n) > int(b.last) {
			t.Fatalf("labtest: address blocks %d-%d used up; widen the range", b.first, b.last)
		}
		if block := b.first + byte(n); !held(block) {
			return block
		}
	}
}

// held reports whether something already listens on the block's lab DNS
// address (DNS01 is 127.x.20.53 in the built-in topologies), which every
// lab binds first.
func held(block byte) bool {
	addr := &net.UDPAddr{IP: net.IPv4(127, block, 20, 53), Port: 53 + PortOffset}
	c, err := net.ListenUDP("udp", addr)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// CloseAtEnd closes a running lab (a *roles.Runtime) when the test ends,
// giving its servers 10 seconds to stop.
func CloseAtEnd(t testing.TB, lab interface{ Close(context.Context) error }) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		lab.Close(ctx)
	})
}

// Eventually polls cond (every 50 ms) until it holds, and fails the test
// naming what when it still does not after timeout: for what a lab does by
// itself (a delivery, a retry, an EdgeSync).
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	give := time.NewTimer(timeout)
	defer give.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-give.C:
			t.Fatalf("waited %v for %s", timeout, what)
		case <-poll.C:
		}
	}
}

// CustomSubnetsSource is the built-in contoso as a user writes it for real
// networks or a test of production rules: other subnets and addresses in
// them, the same servers and mailboxes.
func CustomSubnetsSource(t testing.TB) string {
	t.Helper()
	src, err := topology.BuiltinSource("contoso")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for _, r := range [][2]string{
		{"203.0.113.0/24", "10.91.3.0/24"}, {"198.51.100.0/24", "10.91.2.0/24"}, {"192.0.2.0/24", "10.91.1.0/24"},
		{"127.0.10.", "10.91.2."}, {"127.0.20.", "10.91.1."}, {"127.0.30.", "10.91.3."},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("built-in contoso lacks %q", r[0])
		}
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}
