// Package labtest gives tests their own copy of a built-in lab: the
// topology with every 127.0.x.y address moved to 127.<block>.x.y, so test
// labs of different packages (which run in parallel) never share an
// address, and a port offset so no test needs root.
//
// Blocks in use: roles 210-249, cmd/exsim 121-139, scenarios 141-159,
// probe 161-179, admin 181-189, lab 191-199, roles' TLS persona tests 200-204,
// probe/rca 205-209.
package labtest

import (
	"context"
	"fmt"
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

// Next returns the next block; it fails the test when the range is used up.
func (b *Blocks) Next(t testing.TB) byte {
	n := b.next.Add(1) - 1
	if int(b.first)+int(n) > int(b.last) {
		t.Fatalf("labtest: address blocks %d-%d used up; widen the range", b.first, b.last)
	}
	return b.first + byte(n)
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
