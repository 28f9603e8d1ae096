package senderrep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Sender reputation (sender-reputation.md; Set-SenderReputationConfig): every
// sender IP has a sender reputation level (SRL) from 0 (not likely a spammer)
// to 9; a sender at or above SrlBlockThreshold (default 7) is blocked for
// SenderBlockingPeriod (default 24 hours). The open proxy test is one input of
// the SRL; a sender found to be an open proxy gets SRL 9. When a sender is
// blocked Exchange deletes its profile, so once the block ends the sender
// starts again from nothing; an expired entry here is likewise gone.

// Defaults of ReputationOptions, Exchange's.
const (
	MaxSRL                = 9
	DefaultBlockThreshold = 7
	DefaultBlockPeriod    = 24 * time.Hour
)

// ReputationOptions configure a Reputation table.
type ReputationOptions struct {
	// BlockThreshold is the SRL at or above which a sender is blocked
	// (SrlBlockThreshold), 1-9; 0 means the default 7.
	BlockThreshold int
	// BlockPeriod is how long a sender stays blocked (SenderBlockingPeriod;
	// Exchange takes 0-48 hours, the lab may use seconds). 0 means 24 h.
	BlockPeriod time.Duration
	// DisableBlocking records SRLs but blocks nobody
	// (SenderBlockingEnabled $false).
	DisableBlocking bool
	// Path of a JSON file that keeps the table across restarts; "" keeps it
	// in memory only.
	Path string
	// Now is the clock of Record and SetSRL; nil is time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// SenderRecord is what sender reputation holds about one sender IP.
type SenderRecord struct {
	Addr netip.Addr `json:"address"`
	// SRL is the sender reputation level, 0-9.
	SRL int `json:"srl"`
	// BlockedUntil is the end of the sender's block; zero when not blocked.
	BlockedUntil time.Time `json:"blocked_until,omitzero"`
	// Reason says why the SRL is what it is, e.g. "open proxy: socks5/1080".
	Reason string `json:"reason,omitempty"`
	// OpenProxy is the result of the last open proxy test, tested when.
	OpenProxy       bool      `json:"open_proxy"`
	OpenProxyTested time.Time `json:"open_proxy_tested,omitzero"`
	Updated         time.Time `json:"updated"`
}

// blockedAt says whether the record blocks its sender at now.
func (s SenderRecord) blockedAt(now time.Time) bool {
	return !s.BlockedUntil.IsZero() && now.Before(s.BlockedUntil)
}

// expiredAt says whether a block ended (and with it the profile).
func (s SenderRecord) expiredAt(now time.Time) bool {
	return !s.BlockedUntil.IsZero() && !now.Before(s.BlockedUntil)
}

// Reputation is the SRL table of one Edge. It is safe for concurrent use.
type Reputation struct {
	o   ReputationOptions
	log *slog.Logger

	mu      sync.Mutex
	senders map[netip.Addr]SenderRecord
}

// reputationFile is the persisted form.
type reputationFile struct {
	Version int            `json:"version"`
	Senders []SenderRecord `json:"senders"`
}

const reputationFileVersion = 1

// NewReputation returns a table, loaded from o.Path when that file exists.
// A file that cannot be parsed is moved aside to Path+".broken" and the table
// starts empty.
func NewReputation(o ReputationOptions) (*Reputation, error) {
	if o.BlockThreshold == 0 {
		o.BlockThreshold = DefaultBlockThreshold
	}
	if o.BlockThreshold < 1 || o.BlockThreshold > MaxSRL {
		return nil, fmt.Errorf("openproxy: SRL block threshold %d out of range 1-%d", o.BlockThreshold, MaxSRL)
	}
	if o.BlockPeriod < 0 {
		return nil, fmt.Errorf("openproxy: negative block period %v", o.BlockPeriod)
	}
	if o.BlockPeriod == 0 {
		o.BlockPeriod = DefaultBlockPeriod
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reputation{o: o, log: log, senders: make(map[netip.Addr]SenderRecord)}
	if o.Path != "" {
		if err := r.load(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Reputation) load() error {
	b, err := os.ReadFile(r.o.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("openproxy: reputation: %w", err)
	}
	var f reputationFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != reputationFileVersion {
		if err == nil {
			err = fmt.Errorf("version %d", f.Version)
		}
		broken := r.o.Path + ".broken"
		if rerr := os.Rename(r.o.Path, broken); rerr != nil {
			return fmt.Errorf("openproxy: reputation %s unreadable (%v) and not moved aside: %w", r.o.Path, err, rerr)
		}
		r.log.Warn("reputation file unreadable, moved aside; starting empty", "err", err)
		return nil
	}
	for _, s := range f.Senders {
		if !s.Addr.IsValid() || s.SRL < 0 || s.SRL > MaxSRL {
			continue
		}
		r.senders[s.Addr.Unmap()] = s
	}
	return nil
}

// saveLocked writes the table atomically: a temporary file, fsync, rename,
// fsync of the directory.
func (r *Reputation) saveLocked() error {
	if r.o.Path == "" {
		return nil
	}
	f := reputationFile{Version: reputationFileVersion, Senders: r.recordsLocked(time.Time{})}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("openproxy: reputation: %w", err)
	}
	dir := filepath.Dir(r.o.Path)
	tmp, err := os.CreateTemp(dir, filepath.Base(r.o.Path)+".tmp*")
	if err != nil {
		return fmt.Errorf("openproxy: reputation: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("openproxy: reputation: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("openproxy: reputation: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("openproxy: reputation: %w", err)
	}
	if err := os.Rename(tmp.Name(), r.o.Path); err != nil {
		return fmt.Errorf("openproxy: reputation: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// setLocked stores rec, starting a block when its SRL reaches the threshold.
func (r *Reputation) setLocked(rec SenderRecord, now time.Time) (SenderRecord, error) {
	if old, ok := r.senders[rec.Addr]; ok && old.blockedAt(now) {
		// A blocked sender stays blocked to the end of its period.
		rec.BlockedUntil = old.BlockedUntil
		if rec.SRL < old.SRL {
			rec.SRL, rec.Reason = old.SRL, old.Reason
		}
	} else if rec.SRL >= r.o.BlockThreshold && !r.o.DisableBlocking {
		rec.BlockedUntil = now.Add(r.o.BlockPeriod)
		r.log.Info(fmt.Sprintf("sender blocked by sender reputation until %s: SRL %d, %s",
			rec.BlockedUntil.Format(time.RFC3339), rec.SRL, rec.Reason), "remote", rec.Addr.String())
	} else {
		rec.BlockedUntil = time.Time{}
	}
	rec.Updated = now
	r.senders[rec.Addr] = rec
	r.pruneLocked(now)
	return rec, r.saveLocked()
}

// Record takes the result of an open proxy test of addr: an open proxy gets
// SRL 9 (and so is blocked at the default threshold); a clean result resets
// the SRL of a sender that is not blocked.
func (r *Reputation) Record(addr netip.Addr, res Result) (SenderRecord, error) {
	addr = addr.Unmap()
	now := r.o.Now()
	rec := SenderRecord{Addr: addr, OpenProxy: res.OpenProxy, OpenProxyTested: res.Started}
	if rec.OpenProxyTested.IsZero() {
		rec.OpenProxyTested = now
	}
	if res.OpenProxy {
		rec.SRL, rec.Reason = MaxSRL, res.Reason()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.setLocked(rec, now)
}

// SetSRL sets the SRL of addr from another input of sender reputation.
func (r *Reputation) SetSRL(addr netip.Addr, srl int, reason string) (SenderRecord, error) {
	if srl < 0 || srl > MaxSRL {
		return SenderRecord{}, fmt.Errorf("openproxy: SRL %d out of range 0-%d", srl, MaxSRL)
	}
	addr = addr.Unmap()
	now := r.o.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.senders[addr]
	if rec.expiredAt(now) {
		rec = SenderRecord{}
	}
	rec.Addr, rec.SRL, rec.Reason = addr, srl, reason
	return r.setLocked(rec, now)
}

// Blocked says whether addr is blocked at now, and until when.
func (r *Reputation) Blocked(addr netip.Addr, now time.Time) (bool, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.senders[addr.Unmap()]
	if !ok || !rec.blockedAt(now) {
		return false, time.Time{}
	}
	return true, rec.BlockedUntil
}

// Reject is the reply for a MAIL FROM of addr at now: the blocked sender's
// rejection, or nil when addr is not blocked.
func (r *Reputation) Reject(addr netip.Addr, now time.Time) *RejectError {
	if blocked, _ := r.Blocked(addr, now); blocked {
		return BlockedReply(addr)
	}
	return nil
}

// Get returns the record of addr at now; a block that has ended took the
// record with it.
func (r *Reputation) Get(addr netip.Addr, now time.Time) (SenderRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.senders[addr.Unmap()]
	if !ok || rec.expiredAt(now) {
		return SenderRecord{}, false
	}
	return rec, true
}

// Unblock forgets addr (Remove-IPBlockListEntry of a machine entry).
func (r *Reputation) Unblock(addr netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.senders, addr.Unmap())
	return r.saveLocked()
}

// Records lists the live records at now, by address.
func (r *Reputation) Records(now time.Time) []SenderRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recordsLocked(now)
}

// recordsLocked lists the records that have not expired at now (all of them
// for a zero now).
func (r *Reputation) recordsLocked(now time.Time) []SenderRecord {
	out := make([]SenderRecord, 0, len(r.senders))
	for _, s := range r.senders {
		if now.IsZero() || !s.expiredAt(now) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b SenderRecord) int { return a.Addr.Compare(b.Addr) })
	return out
}

func (r *Reputation) pruneLocked(now time.Time) {
	for a, s := range r.senders {
		if s.expiredAt(now) {
			delete(r.senders, a)
		}
	}
}

// Save writes the table to Path (a no-op without one). Changes are saved as
// they happen; Save is for shutdown paths that want the error.
func (r *Reputation) Save() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(r.o.Now())
	return r.saveLocked()
}
