package edgesync

import (
	"fmt"
	"testing"
)

func orgWith(n int) *org {
	o := newOrg(ex01)
	o.addrs = nil
	for i := range n {
		o.addrs = append(o.addrs, fmt.Sprintf("user%05d@contoso.com", i))
	}
	return o
}

// BenchmarkInitialRecipientSync pushes 1,000 new recipients to an Edge
// whose directory is persisted after every change (one add per recipient).
func BenchmarkInitialRecipientSync(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		te := startEdge(b)
		creds := te.subscribe(b, ex01)
		s := te.syncer(b, creds["EX01"], orgWith(1000), &dialer{})
		b.StartTimer()
		if err := s.SyncNow(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSteadyStateSync is a sync with nothing to change: it reads the
// Edge's 1,000 recipients by pages and compares.
func BenchmarkSteadyStateSync(b *testing.B) {
	te := startEdge(b)
	creds := te.subscribe(b, ex01)
	s := te.syncer(b, creds["EX01"], orgWith(1000), &dialer{})
	if err := s.SyncNow(b.Context()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.SyncNow(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
