package senderrep

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/exsim/exsim/internal/defaults"
)

// Sender reputation keeps each sender's open proxy status with the time it
// was found (the agent's OpenProxyStatus table), so a sender is tested once,
// not on every message. Cache is that memory.

// Defaults of CacheOptions.
const (
	DefaultCacheTTL        = time.Hour
	DefaultCacheMaxEntries = 10000
)

// CacheOptions configure a Cache.
type CacheOptions struct {
	// TTL is how long a result stands before the sender is tested again.
	// Default 1 h.
	TTL time.Duration
	// MaxEntries bounds the cache; the oldest results go first. Default 10000.
	MaxEntries int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Cache runs a Tester at most once per sender per TTL; concurrent requests for
// one sender share one test. It is safe for concurrent use.
type Cache struct {
	t *Tester
	o CacheOptions

	mu      sync.Mutex
	entries map[netip.Addr]cacheEntry
	flights map[netip.Addr]*flight
}

type cacheEntry struct {
	res    Result
	stored time.Time
}

type flight struct {
	done chan struct{}
	res  Result
}

// NewCache returns a cache in front of t.
func NewCache(t *Tester, o CacheOptions) *Cache {
	defaults.Set(&o.TTL, DefaultCacheTTL)
	defaults.Set(&o.MaxEntries, DefaultCacheMaxEntries)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Cache{t: t, o: o, entries: make(map[netip.Addr]cacheEntry), flights: make(map[netip.Addr]*flight)}
}

// Test returns the cached result for addr, or tests it. cached is true when
// the result came from the cache or from a test another caller started. When
// ctx ends before a result exists, Test returns a Result without probes; a
// result of a cancelled test is not cached.
func (c *Cache) Test(ctx context.Context, addr netip.Addr) (res Result, cached bool) {
	addr = addr.Unmap()
	c.mu.Lock()
	if e, ok := c.entries[addr]; ok {
		if c.o.Now().Sub(e.stored) < c.o.TTL {
			c.mu.Unlock()
			return e.res, true
		}
		delete(c.entries, addr)
	}
	if f, ok := c.flights[addr]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.res, true
		case <-ctx.Done():
			return Result{Addr: addr, Started: time.Now()}, false
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flights[addr] = f
	c.mu.Unlock()

	f.res = c.t.Test(ctx, addr)

	c.mu.Lock()
	delete(c.flights, addr)
	if ctx.Err() == nil {
		c.storeLocked(addr, f.res)
	}
	c.mu.Unlock()
	close(f.done)
	return f.res, false
}

func (c *Cache) storeLocked(addr netip.Addr, res Result) {
	now := c.o.Now()
	c.entries[addr] = cacheEntry{res: res, stored: now}
	if len(c.entries) <= c.o.MaxEntries {
		return
	}
	for a, e := range c.entries {
		if now.Sub(e.stored) >= c.o.TTL {
			delete(c.entries, a)
		}
	}
	for len(c.entries) > c.o.MaxEntries {
		var oldest netip.Addr
		var at time.Time
		for a, e := range c.entries {
			if !oldest.IsValid() || e.stored.Before(at) {
				oldest, at = a, e.stored
			}
		}
		delete(c.entries, oldest)
	}
}

// Cached returns the stored result of addr without testing, and whether
// there is one that has not expired. A test in flight does not count.
func (c *Cache) Cached(addr netip.Addr) (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[addr.Unmap()]
	if !ok || c.o.Now().Sub(e.stored) >= c.o.TTL {
		return Result{}, false
	}
	return e.res, true
}

// Forget drops the cached result of addr, so the next Test tests again.
func (c *Cache) Forget(addr netip.Addr) {
	c.mu.Lock()
	delete(c.entries, addr.Unmap())
	c.mu.Unlock()
}

// Len is the number of cached results.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
