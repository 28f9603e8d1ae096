package exsimtest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"

	"github.com/exsim/exsim/topology"
)

// The 127.<block>.x.y blocks exsimtest labs use. exsim's own tests take
// their blocks from internal/labtest (121-249) and `exsim up` runs in
// 127.0.x.y; 60-119 is left to exsimtest. Start picks one at random and
// moves on when a listener cannot bind there.
const firstBlock, lastBlock = 60, 119

// portOffsets are the offsets Start tries, so that no test needs root
// (port 25 becomes 10025, ...). The largest documented port, AD LDS's
// 50636, stays below 65536 with each.
var portOffsets = []int{10000, 11000, 12000, 13000, 14000}

var blocks struct {
	sync.Mutex
	used map[byte]bool
}

// claimBlock reserves a block no lab of this process uses; release gives
// it back.
func claimBlock() (block byte, release func(), err error) {
	blocks.Lock()
	defer blocks.Unlock()
	if blocks.used == nil {
		blocks.used = map[byte]bool{}
	}
	n := lastBlock - firstBlock + 1
	start := rand.IntN(n)
	for i := range n {
		b := byte(firstBlock + (start+i)%n)
		if !blocks.used[b] {
			blocks.used[b] = true
			return b, func() {
				blocks.Lock()
				delete(blocks.used, b)
				blocks.Unlock()
			}, nil
		}
	}
	return 0, nil, fmt.Errorf("all %d address blocks 127.%d-%d.x.y are in use by this process", n, firstBlock, lastBlock)
}

// portOffset is the port offset of the try'th attempt, starting at a
// random one of portOffsets.
func portOffset(try int) int {
	return portOffsets[(try+rand.IntN(len(portOffsets)))%len(portOffsets)]
}

// labTopology loads nameOrYAML (a built-in name or a topology's YAML) with
// every server in 127.<block>.x.y and the port offset set.
func labTopology(nameOrYAML string, block byte, offset int) (*topology.Topology, error) {
	src, err := topology.BuiltinSource(nameOrYAML)
	file := "built-in topology " + nameOrYAML
	if err != nil {
		if !strings.Contains(nameOrYAML, ":") {
			return nil, fmt.Errorf("WithTopology(%q): no built-in topology of that name (built in: %s), and not a topology's YAML",
				nameOrYAML, strings.Join(topology.BuiltinNames(), ", "))
		}
		src, file = []byte(nameOrYAML), "WithTopology YAML"
	}
	top, err := topology.Parse(file, src)
	if err != nil {
		return nil, err
	}
	if err := moveToBlock(top, block); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := top.Validate(); err != nil {
		return nil, fmt.Errorf("%s in 127.%d.x.y: %w", file, block, err)
	}
	if err := top.SetPortOffset(offset); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return top, nil
}

// moveToBlock gives every server the address 127.<block>.c.d for its
// a.b.c.d, and rewrites Send connector smart hosts that name a server by
// address.
func moveToBlock(t *topology.Topology, block byte) error {
	moved := map[string]string{}
	owner := map[netip.Addr]string{}
	for i := range t.Servers {
		s := &t.Servers[i]
		a := s.Addr()
		if !a.Is4() {
			return fmt.Errorf("%s: address %s: exsimtest runs IPv4 labs on loopback only", s.Name, s.Address)
		}
		b := a.As4()
		na := netip.AddrFrom4([4]byte{127, block, b[2], b[3]})
		if other, dup := owner[na]; dup {
			return fmt.Errorf("%s and %s would both be %s: the last two bytes of their addresses must differ", other, s.Name, na)
		}
		owner[na] = s.Name
		moved[s.Address] = na.String()
		s.Address = na.String()
	}
	for i := range t.SendConnectors {
		for j, h := range t.SendConnectors[i].SmartHosts {
			if na, ok := moved[h]; ok {
				t.SendConnectors[i].SmartHosts[j] = na
			}
		}
	}
	return nil
}
