package httpd

import (
	"context"
	"sync"
	"time"
)

// throttle is the per-source logon throttle (Options.Throttle). Exchange
// itself leaves this to AD account lockout and its SMTP tarpit
// (EXCHANGE.md section 2: MaxLogonFailures, TarpitInterval); exsim keys it
// on the client address so one attacker cannot lock a lab user out for
// everyone else.
type throttle struct {
	cfg Throttle
	now func() time.Time

	mu      sync.Mutex
	sources map[string]*source
}

type source struct {
	failures    int
	lastFailure time.Time
	lockedUntil time.Time
}

func newThrottle(t Throttle, now func() time.Time) *throttle {
	return &throttle{cfg: t.withDefaults(), now: now, sources: make(map[string]*source)}
}

func (t *throttle) enabled() bool { return t.cfg.MaxFailures > 0 }

// locked reports whether src is locked out now.
func (t *throttle) locked(src string) bool {
	if !t.enabled() {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sources[src]
	return s != nil && t.now().Before(s.lockedUntil)
}

// fail records a failed logon from src and returns how long to hold the
// answer, and whether src is now locked out.
func (t *throttle) fail(src string) (delay time.Duration, locked bool) {
	if !t.enabled() {
		return 0, false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sources[src]
	if s == nil {
		t.makeRoom(now)
		s = &source{}
		t.sources[src] = s
	}
	if now.Sub(s.lastFailure) > t.cfg.Window && !now.Before(s.lockedUntil) {
		s.failures = 0 // the old failures are forgotten
	}
	s.failures++
	s.lastFailure = now
	if s.failures >= t.cfg.MaxFailures {
		s.lockedUntil = now.Add(t.cfg.Lockout)
		s.failures = 0
		locked = true
	}
	return t.delayFor(s.failures, locked), locked
}

// lockedDelay is how long a refused attempt from a locked-out source is held.
func (t *throttle) lockedDelay() time.Duration {
	return t.delayFor(0, true)
}

// delayFor is BaseDelay doubled for every earlier failure, at most MaxDelay;
// a locked-out source always waits MaxDelay.
func (t *throttle) delayFor(failures int, locked bool) time.Duration {
	if t.cfg.BaseDelay < 0 {
		return 0
	}
	if locked {
		return t.cfg.MaxDelay
	}
	d := t.cfg.BaseDelay
	for i := 1; i < failures && d < t.cfg.MaxDelay; i++ {
		d *= 2
	}
	return min(d, t.cfg.MaxDelay)
}

// succeed forgets src's failures.
func (t *throttle) succeed(src string) {
	if !t.enabled() {
		return
	}
	t.mu.Lock()
	delete(t.sources, src)
	t.mu.Unlock()
}

// makeRoom keeps the table bounded: expired records go first; if every
// record is live, an arbitrary one is dropped. Called with mu held.
func (t *throttle) makeRoom(now time.Time) {
	if len(t.sources) < t.cfg.MaxSources {
		return
	}
	for k, s := range t.sources {
		if now.Sub(s.lastFailure) > t.cfg.Window && !now.Before(s.lockedUntil) {
			delete(t.sources, k)
		}
	}
	for k := range t.sources {
		if len(t.sources) < t.cfg.MaxSources {
			break
		}
		delete(t.sources, k)
	}
}

// sleep waits d or until ctx ends (the client went away).
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}
