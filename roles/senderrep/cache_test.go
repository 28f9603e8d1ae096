package senderrep_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exsim/exsim/roles/senderrep"
)

// refusingTester is a Tester whose every connection is refused at once; dials
// counts them and gate, when set, holds each dial until it is closed.
func refusingTester(t *testing.T, dials *atomic.Int32, dialled chan<- struct{}, gate <-chan struct{}) *senderrep.Tester {
	t.Helper()
	return newTester(t, senderrep.Options{
		Target: netip.MustParseAddrPort("127.0.10.1:25"),
		Ports:  senderrep.PortTable{senderrep.SOCKS5: {1080}},
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dials.Add(1)
			if dialled != nil {
				dialled <- struct{}{}
			}
			if gate != nil {
				<-gate
			}
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		},
	})
}

func TestCacheTTL(t *testing.T) {
	var dials atomic.Int32
	clk := newClock()
	c := senderrep.NewCache(refusingTester(t, &dials, nil, nil), senderrep.CacheOptions{TTL: time.Minute, Now: clk.Now})
	steps := []struct {
		advance    time.Duration
		wantCached bool
		wantDials  int32
	}{
		{0, false, 1},
		{30 * time.Second, true, 1},
		{29 * time.Second, true, 1},
		{time.Second, false, 2}, // a minute after the test: stale
		{0, true, 2},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		res, cached := c.Test(context.Background(), sender)
		if cached != s.wantCached || dials.Load() != s.wantDials {
			t.Fatalf("step %d: Test() cached = %v with %d dials, want %v with %d", i, cached, dials.Load(), s.wantCached, s.wantDials)
		}
		if len(res.Probes) != 1 || res.Probes[0].Outcome != senderrep.Closed {
			t.Fatalf("step %d: Test() = %v, want one closed probe", i, res.Probes)
		}
	}
	if _, ok := c.Cached(sender); !ok {
		t.Error("Cached() of a fresh result = false, want true")
	}
	c.Forget(sender)
	if _, ok := c.Cached(sender); ok {
		t.Error("Cached() after Forget() = true, want false")
	}
	if _, cached := c.Test(context.Background(), sender); cached || dials.Load() != 3 {
		t.Errorf("Test() after Forget() cached = %v with %d dials, want false with 3", cached, dials.Load())
	}
	clk.Advance(time.Minute)
	if _, ok := c.Cached(sender); ok {
		t.Error("Cached() of a stale result = true, want false")
	}
}

func TestCacheSharesOneTest(t *testing.T) {
	var dials atomic.Int32
	dialled := make(chan struct{}, 1)
	gate := make(chan struct{})
	c := senderrep.NewCache(refusingTester(t, &dials, dialled, gate), senderrep.CacheOptions{})

	var wg sync.WaitGroup
	var leaderCached atomic.Bool
	wg.Go(func() {
		_, cached := c.Test(context.Background(), sender)
		leaderCached.Store(cached)
	})
	<-dialled // the leader's test is in flight
	const followers = 5
	var cachedCount atomic.Int32
	started := make(chan struct{}, followers)
	for range followers {
		wg.Go(func() {
			started <- struct{}{}
			if _, cached := c.Test(context.Background(), sender); cached {
				cachedCount.Add(1)
			}
		})
	}
	for range followers {
		<-started
	}
	// A follower that has not reached the flight yet finds the cache
	// afterwards: either way it must not test again.
	close(gate)
	wg.Wait()
	if n := dials.Load(); n != 1 {
		t.Errorf("dials = %d, want 1 shared test", n)
	}
	if leaderCached.Load() || cachedCount.Load() != followers {
		t.Errorf("leader cached = %v, followers cached = %d; want false, %d", leaderCached.Load(), cachedCount.Load(), followers)
	}
}

func TestCacheCancelledTestNotCached(t *testing.T) {
	var dials atomic.Int32
	c := senderrep.NewCache(refusingTester(t, &dials, nil, nil), senderrep.CacheOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Test(ctx, sender)
	if n := c.Len(); n != 0 {
		t.Errorf("Len() after a cancelled test = %d, want 0", n)
	}
}

func TestCacheBounded(t *testing.T) {
	var dials atomic.Int32
	clk := newClock()
	c := senderrep.NewCache(refusingTester(t, &dials, nil, nil), senderrep.CacheOptions{MaxEntries: 3, Now: clk.Now})
	for i := range 5 {
		clk.Advance(time.Second)
		c.Test(context.Background(), netip.AddrFrom4([4]byte{127, 0, 30, byte(i + 1)}))
	}
	if n := c.Len(); n != 3 {
		t.Fatalf("Len() = %d, want MaxEntries 3", n)
	}
	// The newest stay, the oldest went.
	if _, cached := c.Test(context.Background(), netip.MustParseAddr("127.0.30.5")); !cached {
		t.Error("newest entry evicted")
	}
	if _, cached := c.Test(context.Background(), netip.MustParseAddr("127.0.30.1")); cached {
		t.Error("oldest entry kept")
	}
}
