package senderrep_test

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/testclock"
	"github.com/exsim/exsim/roles/senderrep"
)

func newClock() *testclock.Clock {
	return testclock.At(time.Date(2024, 3, 29, 22, 50, 41, 0, time.UTC))
}

var sender = netip.MustParseAddr("127.0.30.1")

func openResult() senderrep.Result {
	return senderrep.Result{
		Addr:      sender,
		OpenProxy: true,
		Probes: []senderrep.ProbeResult{
			{Protocol: senderrep.SOCKS5, Port: 1080, Outcome: senderrep.OpenProxy},
			{Protocol: senderrep.HTTPConnect, Port: 3128, Outcome: senderrep.OpenProxy},
			{Protocol: senderrep.Wingate, Port: 23, Outcome: senderrep.Closed},
		},
	}
}

func cleanResult() senderrep.Result {
	return senderrep.Result{Addr: sender, Probes: []senderrep.ProbeResult{{Protocol: senderrep.SOCKS5, Port: 1080, Outcome: senderrep.Closed}}}
}

func newReputation(t *testing.T, o senderrep.ReputationOptions) *senderrep.Reputation {
	t.Helper()
	r, err := senderrep.NewReputation(o)
	if err != nil {
		t.Fatalf("NewReputation(%+v) = %v", o, err)
	}
	return r
}

func TestOpenProxyIsBlockedForThePeriod(t *testing.T) {
	clk := newClock()
	r := newReputation(t, senderrep.ReputationOptions{Now: clk.Now})
	start := clk.Now()

	rec, err := r.Record(sender, openResult())
	if err != nil {
		t.Fatal(err)
	}
	wantUntil := start.Add(24 * time.Hour)
	if rec.SRL != 9 || !rec.BlockedUntil.Equal(wantUntil) || rec.Reason != "open proxy: socks5/1080, http-connect/3128" || !rec.OpenProxy {
		t.Fatalf("Record(open proxy) = %+v, want SRL 9 blocked until %v", rec, wantUntil)
	}
	if blocked, until := r.Blocked(sender, start.Add(time.Hour)); !blocked || !until.Equal(wantUntil) {
		t.Fatalf("Blocked(1h later) = %v %v, want true %v", blocked, until, wantUntil)
	}
	wantReply := "550 5.7.1 External client with IP address 127.0.30.1 does not have permissions to submit to this server. Visit http://support.microsoft.com/kb/928123 for more information."
	if rej := r.Reject(sender, start.Add(time.Hour)); rej == nil || rej.Error() != wantReply {
		t.Fatalf("Reject() = %v, want %q", rej, wantReply)
	}
	// A clean test while blocked does not lift the block.
	if rec, _ := r.Record(sender, cleanResult()); rec.SRL != 9 || !rec.BlockedUntil.Equal(wantUntil) {
		t.Fatalf("Record(clean) while blocked = %+v, want the block kept", rec)
	}
	if blocked, _ := r.Blocked(sender, wantUntil.Add(-time.Nanosecond)); !blocked {
		t.Fatal("Blocked(just before the end) = false, want true")
	}
	if blocked, _ := r.Blocked(sender, wantUntil); blocked {
		t.Fatal("Blocked(at the end of the period) = true, want false")
	}
	if rej := r.Reject(sender, wantUntil); rej != nil {
		t.Fatalf("Reject() after the period = %v, want nil", rej)
	}
	// Exchange deleted the profile when it blocked: the sender starts anew.
	if rec, ok := r.Get(sender, wantUntil); ok {
		t.Fatalf("Get() after the period = %+v, want no record", rec)
	}
	clk.Advance(25 * time.Hour)
	if rec, _ := r.Record(sender, cleanResult()); rec.SRL != 0 || !rec.BlockedUntil.IsZero() {
		t.Fatalf("Record(clean) after the period = %+v, want SRL 0 unblocked", rec)
	}
}

func TestSRLThreshold(t *testing.T) {
	tests := []struct {
		name    string
		o       senderrep.ReputationOptions
		srl     int
		blocked bool
	}{
		{"default threshold, SRL 6", senderrep.ReputationOptions{}, 6, false},
		{"default threshold, SRL 7", senderrep.ReputationOptions{}, 7, true},
		{"threshold 5, SRL 5", senderrep.ReputationOptions{BlockThreshold: 5}, 5, true},
		{"threshold 9, SRL 8", senderrep.ReputationOptions{BlockThreshold: 9}, 8, false},
		{"blocking disabled, SRL 9", senderrep.ReputationOptions{DisableBlocking: true}, 9, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			tt.o.Now = clk.Now
			tt.o.BlockPeriod = 90 * time.Second // a lab period
			r := newReputation(t, tt.o)
			rec, err := r.SetSRL(sender, tt.srl, "helo analysis")
			if err != nil {
				t.Fatal(err)
			}
			if blocked, until := r.Blocked(sender, clk.Now()); blocked != tt.blocked {
				t.Fatalf("Blocked() after SetSRL(%d) = %v (%v), want %v; record %+v", tt.srl, blocked, until, tt.blocked, rec)
			}
			if tt.blocked {
				if blocked, _ := r.Blocked(sender, clk.Now().Add(90*time.Second)); blocked {
					t.Fatal("Blocked() after the 90 s lab period = true, want false")
				}
			}
		})
	}
}

func TestReputationOptionsValidate(t *testing.T) {
	for _, o := range []senderrep.ReputationOptions{{BlockThreshold: 10}, {BlockThreshold: -1}, {BlockPeriod: -time.Second}} {
		if _, err := senderrep.NewReputation(o); err == nil {
			t.Errorf("NewReputation(%+v) = nil error, want an error", o)
		}
	}
	r := newReputation(t, senderrep.ReputationOptions{})
	if _, err := r.SetSRL(sender, 10, ""); err == nil {
		t.Error("SetSRL(10) = nil error, want an error")
	}
}

func TestReputationPersists(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "reputation.json")
	r := newReputation(t, senderrep.ReputationOptions{Path: path, Now: clk.Now})
	other := netip.MustParseAddr("127.0.30.2")
	rec, err := r.Record(sender, openResult())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetSRL(other, 3, "reverse DNS mismatch"); err != nil {
		t.Fatal(err)
	}

	again := newReputation(t, senderrep.ReputationOptions{Path: path, Now: clk.Now})
	got := again.Records(clk.Now())
	if len(got) != 2 {
		t.Fatalf("Records() after reload = %+v, want 2 records", got)
	}
	if got[0].Addr != sender || got[0].SRL != 9 || !got[0].BlockedUntil.Equal(rec.BlockedUntil) || got[0].Reason != rec.Reason {
		t.Errorf("reloaded %+v, want %+v", got[0], rec)
	}
	if got[1].Addr != other || got[1].SRL != 3 || !got[1].BlockedUntil.IsZero() {
		t.Errorf("reloaded %+v, want SRL 3 unblocked", got[1])
	}
	if blocked, until := again.Blocked(sender, clk.Now()); !blocked || !until.Equal(rec.BlockedUntil) {
		t.Errorf("Blocked() after reload = %v %v, want true %v", blocked, until, rec.BlockedUntil)
	}
	if err := again.Unblock(sender); err != nil {
		t.Fatal(err)
	}
	third := newReputation(t, senderrep.ReputationOptions{Path: path, Now: clk.Now})
	if blocked, _ := third.Blocked(sender, clk.Now()); blocked {
		t.Error("Blocked() after Unblock and reload = true, want false")
	}

	// The file is plain JSON an engineer can read.
	var f struct {
		Version int `json:"version"`
		Senders []struct {
			Address string `json:"address"`
			SRL     int    `json:"srl"`
		} `json:"senders"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 || len(f.Senders) != 1 || f.Senders[0].Address != "127.0.30.2" {
		t.Errorf("reputation file = %s (%v), want version 1 with 127.0.30.2", b, err)
	}
}

func TestBrokenReputationFileMovedAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reputation.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newReputation(t, senderrep.ReputationOptions{Path: path})
	if n := len(r.Records(time.Now())); n != 0 {
		t.Errorf("Records() from a broken file = %d, want 0", n)
	}
	if b, err := os.ReadFile(path + ".broken"); err != nil || string(b) != "{not json" {
		t.Errorf("%s.broken = %q, %v; want the broken file", path, b, err)
	}
}

func TestBlockedReplyText(t *testing.T) {
	got := senderrep.BlockedReply(netip.MustParseAddr("::ffff:192.0.2.10"))
	want := "550 5.7.1 External client with IP address 192.0.2.10 does not have permissions to submit to this server. Visit http://support.microsoft.com/kb/928123 for more information."
	if got.Error() != want || got.Code != 550 || got.Enhanced != "5.7.1" {
		t.Errorf("BlockedReply() = %q (%d %s), want %q", got.Error(), got.Code, got.Enhanced, want)
	}
}
