// Package membudget bounds the memory (and temporary disk) exsim spends on
// what clients send before it is stored: a process-wide budget of
// in-flight bytes that every listener draws from, and Spill, which reads a
// message with at most a small piece of it in memory and the rest in a
// temporary file. A listener whose draw fails answers with its protocol's
// back-pressure reply (SMTP: Exchange's "452 4.3.1 Insufficient system
// resources"; HTTP: 503, as IIS's queue does when it is full).
package membudget

import (
	"errors"
	"os"
	"runtime/debug"
	"sync"
)

// ErrExhausted is returned when a budget cannot cover a request.
var ErrExhausted = errors.New("membudget: in-flight byte budget exhausted")

// Budget is a pool of bytes that can be drawn and given back.
type Budget struct {
	mu        sync.Mutex
	max, used int64
	refused   int64
	name      string
}

// New returns a budget of max bytes.
func New(name string, max int64) *Budget { return &Budget{name: name, max: max} }

// TryAcquire draws n bytes; it reports false (drawing nothing) when fewer
// than n are left. Drawing never waits: the caller answers back-pressure
// at once, as Exchange does when a resource is over its threshold.
func (b *Budget) TryAcquire(n int64) bool {
	if n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		b.refused++
		return false
	}
	b.used += n
	return true
}

// Release gives back n bytes drawn with TryAcquire.
func (b *Budget) Release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		panic("membudget: " + b.name + ": released more than drawn")
	}
	b.mu.Unlock()
}

// Stats reports the budget's size, what is drawn now, and how many draws
// were refused since the start.
func (b *Budget) Stats() (max, used, refused int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.max, b.used, b.refused
}

// SetMax changes the budget's size (draws already made stay).
func (b *Budget) SetMax(max int64) {
	b.mu.Lock()
	b.max = max
	b.mu.Unlock()
}

// The process-wide budgets. Memory is what every listener may hold in RAM
// of messages, literals and request bodies at once; Disk is what Spill may
// hold in temporary files. Exchange has no public figure for either (its
// back pressure watches the process's private bytes and the queue disk in
// percent, "EdgeTransport.exe.config" PrivateBytesHighThreshold and
// PercentageDatabaseDiskSpaceUsedHighThreshold); these sizes keep one exsim
// process under 300 MB of resident memory under the attack in
// docs/RELIABILITY.md.
var (
	Memory = New("memory", DefaultMemory)
	Disk   = New("disk", DefaultDisk)
)

const (
	// DefaultMemory is the process-wide in-memory budget: two messages of
	// the default 36 MB maximum size in flight at once, with the copy the
	// queue database makes while it commits one.
	DefaultMemory = 160 << 20
	// DefaultDisk is the process-wide temporary-file budget.
	DefaultDisk = 2 << 30
)

// SoftLimit is the Go runtime's memory limit a serving exsim process sets
// (unless GOMEMLIMIT is given): the garbage collector works harder as the
// heap nears it, so the copies a large message leaves behind are
// collected before the heap doubles. It is the budget plus what the
// servers themselves need.
const SoftLimit = DefaultMemory + 64<<20

// ApplySoftLimit sets SoftLimit as the runtime's memory limit unless the
// GOMEMLIMIT environment variable chose one.
func ApplySoftLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(SoftLimit)
	}
}
