package smtpd

import (
	"net/netip"
	"sync"
	"time"
)

// rateLimiter is Set-ReceiveConnector -MessageRateLimit with
// MessageRateSource IPAddress: at most limit messages per minute from one
// source address. Each source has a token bucket of limit tokens that
// refills at limit per minute, so a quiet source may send a burst of limit
// messages and then limit per minute, as Exchange's per-minute budget does.
type rateLimiter struct {
	limit int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxIdleBuckets bounds the map: beyond it, full buckets (sources idle for
// a minute or more) are forgotten, which changes nothing for them.
const maxIdleBuckets = 4096

func newRateLimiter(limit int, now func() time.Time) *rateLimiter {
	if limit <= 0 {
		return nil
	}
	return &rateLimiter{limit: limit, now: now, buckets: make(map[netip.Addr]*bucket)}
}

// allow takes one message from src's budget and reports whether there was
// one. A nil limiter allows everything (MessageRateLimit Unlimited).
func (r *rateLimiter) allow(src netip.Addr) bool {
	if r == nil {
		return true
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[src]
	if b == nil {
		if len(r.buckets) >= maxIdleBuckets {
			r.sweep(now)
		}
		b = &bucket{tokens: float64(r.limit), last: now}
		r.buckets[src] = b
	}
	r.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (r *rateLimiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens += d.Minutes() * float64(r.limit)
		if b.tokens > float64(r.limit) {
			b.tokens = float64(r.limit)
		}
	}
	b.last = now
}

func (r *rateLimiter) sweep(now time.Time) {
	for a, b := range r.buckets {
		r.refill(b, now)
		if b.tokens >= float64(r.limit) {
			delete(r.buckets, a)
		}
	}
}
