// Package lockout is the logon lockout every protocol of a lab shares
// (OWA and HTTP Basic/NTLM, IMAP4, POP3, SMTP AUTH): failed logons are
// counted per account and per source address across connections, each
// failure is answered after a delay that doubles, and after MaxFailures
// within Window the account or the source is locked out for Lockout.
// While locked every logon fails, whatever the password, without the
// password being checked.
//
// Exchange leaves this to Active Directory's account lockout (Account
// lockout threshold, Reset account lockout counter after, Account lockout
// duration: per account, every protocol) and adds its own SMTP tarpit
// (EXCHANGE.md section 2). exsim counts per account as AD does and also per
// source, so one attacker spraying many accounts is stopped too. A locked
// logon is refused in the protocol's usual words for a bad password: AD
// does not tell a client that the account is locked through IMAP4, POP3,
// SMTP or Basic, and neither does exsim.
package lockout

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Policy configures a Lockout. The zero value is exsim's default, the
// policy OWA has always used.
type Policy struct {
	MaxFailures int           // default 5; negative disables the lockout
	Window      time.Duration // failures older than this are forgotten; default 15 min
	Lockout     time.Duration // default 15 min
	BaseDelay   time.Duration // default 500 ms; negative means no delay
	MaxDelay    time.Duration // default 8 s
	MaxEntries  int           // accounts and sources remembered at once, default 65536
}

// WithDefaults fills in the zero fields.
func (p Policy) WithDefaults() Policy {
	if p.MaxFailures == 0 {
		p.MaxFailures = 5
	}
	if p.Window <= 0 {
		p.Window = 15 * time.Minute
	}
	if p.Lockout <= 0 {
		p.Lockout = 15 * time.Minute
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 8 * time.Second
	}
	if p.MaxEntries <= 0 {
		p.MaxEntries = 65536
	}
	return p
}

// Lockout counts failed logons. It is safe for concurrent use; the nil
// *Lockout locks nothing out.
type Lockout struct {
	p   Policy
	now func() time.Time
	// canonical maps a logon name to its account (CONTOSO\alice and
	// alice@contoso.com are one account), "" for no such account.
	canonical func(login string) string

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	failures    int
	lastFailure time.Time
	lockedUntil time.Time
}

// New returns a Lockout with policy p; now nil means time.Now.
// canonical maps a logon name to the account it means ("" when none; the
// name then counts as typed, lower-cased); nil counts every name as typed.
func New(p Policy, now func() time.Time, canonical func(login string) string) *Lockout {
	if now == nil {
		now = time.Now
	}
	return &Lockout{p: p.WithDefaults(), now: now, canonical: canonical, entries: make(map[string]*entry)}
}

func (l *Lockout) enabled() bool { return l != nil && l.p.MaxFailures > 0 }

// keys are the records a logon counts against: the account ("" when
// unknown, as after a failed NTLM exchange) and the source address.
func (l *Lockout) keys(login, src string) []string {
	var k []string
	if login = strings.TrimSpace(login); login != "" {
		account := ""
		if l.canonical != nil {
			account = l.canonical(login)
		}
		if account == "" {
			account = login
		}
		k = append(k, "account "+strings.ToLower(account))
	}
	if src != "" {
		k = append(k, "source "+src)
	}
	return k
}

// Locked reports whether the account or the source is locked out now.
func (l *Lockout) Locked(account, src string) bool {
	if !l.enabled() {
		return false
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.keys(account, src) {
		if e := l.entries[k]; e != nil && now.Before(e.lockedUntil) {
			return true
		}
	}
	return false
}

// Fail records a failed logon and returns how long to hold the answer and
// whether the account or the source is now locked out.
func (l *Lockout) Fail(account, src string) (delay time.Duration, locked bool) {
	if !l.enabled() {
		return 0, false
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	most := 0
	for _, k := range l.keys(account, src) {
		e := l.entries[k]
		if e == nil {
			l.makeRoom(now)
			e = &entry{}
			l.entries[k] = e
		}
		if now.Sub(e.lastFailure) > l.p.Window && !now.Before(e.lockedUntil) {
			e.failures = 0 // the old failures are forgotten
		}
		e.failures++
		e.lastFailure = now
		if now.Before(e.lockedUntil) {
			locked = true // still locked: the lockout is not extended
		} else if e.failures >= l.p.MaxFailures {
			e.lockedUntil = now.Add(l.p.Lockout)
			e.failures = 0
			locked = true
		}
		most = max(most, e.failures)
	}
	return l.delayFor(most, locked), locked
}

// LockedDelay is how long a refused attempt during a lockout is held.
func (l *Lockout) LockedDelay() time.Duration {
	if !l.enabled() {
		return 0
	}
	return l.delayFor(0, true)
}

// delayFor is BaseDelay doubled for every earlier failure, at most
// MaxDelay; a locked-out logon always waits MaxDelay.
func (l *Lockout) delayFor(failures int, locked bool) time.Duration {
	if l.p.BaseDelay < 0 {
		return 0
	}
	if locked {
		return l.p.MaxDelay
	}
	d := l.p.BaseDelay
	for i := 1; i < failures && d < l.p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.p.MaxDelay)
}

// Succeed forgets the failures of the account and the source (AD resets
// badPwdCount on a successful logon).
func (l *Lockout) Succeed(account, src string) {
	if !l.enabled() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.keys(account, src) {
		delete(l.entries, k)
	}
}

// Len is the number of accounts and sources remembered.
func (l *Lockout) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// makeRoom keeps the table bounded: expired records go first; if every
// record is live, an arbitrary one is dropped. Called with mu held.
func (l *Lockout) makeRoom(now time.Time) {
	if len(l.entries) < l.p.MaxEntries {
		return
	}
	for k, e := range l.entries {
		if now.Sub(e.lastFailure) > l.p.Window && !now.Before(e.lockedUntil) {
			delete(l.entries, k)
		}
	}
	for k := range l.entries {
		if len(l.entries) < l.p.MaxEntries {
			break
		}
		delete(l.entries, k)
	}
}

// Sleep waits d or until ctx ends (the client went away).
func Sleep(ctx context.Context, d time.Duration) {
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

type sourceKey struct{}

// WithSource returns ctx carrying the client's address (an IP, no port),
// for an authenticator behind a protocol server to count against.
func WithSource(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, sourceKey{}, ip)
}

// Source is the client address WithSource put in ctx, or "".
func Source(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}
