package lockout

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/testclock"
)

func newClock() *testclock.Clock { return testclock.At(time.Date(2024, 3, 29, 15, 0, 0, 0, time.UTC)) }

func TestDelaysDouble(t *testing.T) {
	l := New(Policy{MaxFailures: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}, newClock().Now, nil)
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second}
	for i, w := range want {
		d, locked := l.Fail("", "192.0.2.1")
		if d != w {
			t.Errorf("failure %d: delay %v, want %v", i+1, d, w)
		}
		if locked != (i == 4) {
			t.Errorf("failure %d: locked = %v, want %v", i+1, locked, i == 4)
		}
	}
	if l.Locked("", "192.0.2.2") {
		t.Errorf("another source is locked out")
	}
}

func TestWindowForgets(t *testing.T) {
	clock := newClock()
	l := New(Policy{MaxFailures: 3, Window: time.Minute}, clock.Now, nil)
	l.Fail("alice", "192.0.2.1")
	l.Fail("alice", "192.0.2.1")
	clock.Advance(2 * time.Minute)
	if _, locked := l.Fail("alice", "192.0.2.1"); locked {
		t.Errorf("failures older than the window still counted")
	}
}

func TestBounded(t *testing.T) {
	l := New(Policy{MaxEntries: 10}, newClock().Now, nil)
	for i := range 100 {
		l.Fail(fmt.Sprintf("user%d", i), fmt.Sprintf("192.0.2.%d", i))
	}
	if n := l.Len(); n > 10 {
		t.Errorf("%d records, want at most 10", n)
	}
}

// The account counts across sources (and its spellings), the source across
// accounts; either one locked refuses the logon; the lockout ends as
// configured.
func TestPerAccountAndPerSource(t *testing.T) {
	clock := newClock()
	canonical := func(login string) string {
		if login == `CONTOSO\alice` || login == "alice@contoso.com" {
			return "alice@contoso.com"
		}
		return ""
	}
	l := New(Policy{MaxFailures: 3, Lockout: 10 * time.Minute, BaseDelay: -1}, clock.Now, canonical)
	l.Fail(`CONTOSO\alice`, "192.0.2.1")
	l.Fail("alice@contoso.com", "192.0.2.2")
	if _, locked := l.Fail("ALICE@contoso.com", "192.0.2.3"); !locked {
		t.Fatal("three failures for one account from three sources did not lock it")
	}
	steps := []struct {
		account, src string
		want         bool
	}{
		{`CONTOSO\alice`, "192.0.2.9", true}, // the account, from anywhere
		{"bob@contoso.com", "192.0.2.1", false},
		{"", "192.0.2.3", false}, // no source reached three
	}
	for _, st := range steps {
		if got := l.Locked(st.account, st.src); got != st.want {
			t.Errorf("Locked(%q, %q) = %v, want %v", st.account, st.src, got, st.want)
		}
	}
	for i := range 3 {
		l.Fail(fmt.Sprintf("user%d@contoso.com", i), "198.51.100.7")
	}
	if !l.Locked("bob@contoso.com", "198.51.100.7") {
		t.Error("a source that sprayed three accounts is not locked out")
	}
	clock.Advance(11 * time.Minute)
	if l.Locked("alice@contoso.com", "198.51.100.7") {
		t.Error("still locked after the lockout duration")
	}
}

// Failures counted from many goroutines at once are all counted.
func TestConcurrentFailures(t *testing.T) {
	l := New(Policy{MaxFailures: 60, BaseDelay: -1}, newClock().Now, nil)
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for range 3 {
				l.Fail("alice", fmt.Sprintf("192.0.2.%d", g))
			}
		})
	}
	wg.Wait()
	if !l.Locked("alice", "") {
		t.Error("60 failures over 20 goroutines did not reach MaxFailures 60")
	}
}

func TestNilAndDisabled(t *testing.T) {
	var nl *Lockout
	if nl.Locked("a", "b") || nl.Len() != 0 {
		t.Error("nil Lockout locks")
	}
	if d, locked := nl.Fail("a", "b"); d != 0 || locked {
		t.Error("nil Lockout counts")
	}
	off := New(Policy{MaxFailures: -1}, nil, nil)
	for range 10 {
		off.Fail("a", "b")
	}
	if off.Locked("a", "b") {
		t.Error("a disabled Lockout locks")
	}
}
