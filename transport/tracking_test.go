package transport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tracking log buffers its lines: they reach the file within
// flushDelay, Search sees them at once, and a rollover (size or day)
// loses none and gives each file Exchange's header.
func TestTrackingLogBuffersAndRollsOver(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 12, 5, 23, 59, 0, 0, time.UTC)
	tl, err := NewTrackingLog(dir, "EX01", "15.2.1258.12", func() time.Time { return day })
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	tl.MaxFileSize = 4 << 10
	const n = 60
	for i := range n {
		e := &TrackingEvent{Source: SourceSMTP, EventID: EventReceive, MessageID: fmt.Sprintf("<%d@fabrikam.com>", i),
			Sender: "carol@fabrikam.com", Recipients: []string{"alice@contoso.com"}, MessageSubject: "a, \"quoted\"\nsubject"}
		if i >= n/2 {
			e.Timestamp = day.Add(2 * time.Minute) // the next day
		}
		if err := tl.Write(LogTransport, e); err != nil {
			t.Fatal(err)
		}
	}
	evs, bad, err := tl.Search(TrackingQuery{})
	if err != nil || bad != 0 || len(evs) != n {
		t.Fatalf("Search = %d events, %d bad, %v; want %d", len(evs), bad, err, n)
	}
	if evs[0].MessageSubject != "a, \"quoted\"\nsubject" {
		t.Errorf("subject read back as %q", evs[0].MessageSubject)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "MSGTRK*.log"))
	var first, next int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "#Software: Microsoft Exchange Server\r\n#Version: 15.02.1258.012\r\n") {
			t.Errorf("%s starts %q", filepath.Base(f), string(b[:min(len(b), 60)]))
		}
		switch {
		case strings.HasPrefix(filepath.Base(f), "MSGTRK20261205-"):
			first++
		case strings.HasPrefix(filepath.Base(f), "MSGTRK20261206-"):
			next++
		}
	}
	if first < 2 || next < 2 {
		t.Errorf("files %v: want at least two per day at a 4 KB MaxFileSize", files)
	}

	// A line written now reaches the file by itself within flushDelay.
	if err := tl.Write(LogTransport, &TrackingEvent{Source: SourceSMTP, EventID: EventDeliver, MessageID: "<late@fabrikam.com>", Timestamp: day.Add(3 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, _, _ := SearchTracking(dir, "EX01", TrackingQuery{MessageID: "<late@fabrikam.com>"})
		if len(evs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a buffered line never reached the file")
		}
		time.Sleep(flushDelay / 2)
	}
}

// A process's first file of the day continues after the files an earlier
// run left, past one that is already full.
func TestLogFilesContinueAfterEarlierRun(t *testing.T) {
	dir := t.TempDir()
	for name, size := range map[string]int{"RECV20261205-1.log": 100, "RECV20261205-2.log": 4096} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := &logFiles{dir: dir, prefix: "RECV", maxSize: 4096, header: func(time.Time) []byte { return []byte("#header\r\n") }}
	day := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	if err := l.append(day, func(b []byte) []byte { return append(b, "line\r\n"...) }); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "RECV20261205-3.log"))
	if err != nil || string(b) != "#header\r\nline\r\n" {
		t.Fatalf("RECV20261205-3.log = %q, %v", b, err)
	}
}
