package store

import (
	"bytes"
	"context"
	"runtime"
	"testing"
)

func benchMsg() []byte {
	hdr := testMsg("bench")
	return append(hdr, bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), (4096-len(hdr))/64)...)
}

// BenchmarkDeliver: 20 concurrent 4 KB deliveries into one mailbox, every
// one durable before it returns (group commit shares the fsyncs).
func BenchmarkDeliver(b *testing.B) {
	s := openBench(b)
	msg := benchMsg()
	b.SetBytes(int64(len(msg)))
	b.SetParallelism(20 / max(1, testingProcs()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Deliver(context.Background(), msg, "alice@contoso.com"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDeliverSerial: one delivery at a time, so one fsync each: the
// baseline that group commit improves on.
func BenchmarkDeliverSerial(b *testing.B) {
	s := openBench(b)
	msg := benchMsg()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := s.Deliver(context.Background(), msg, "alice@contoso.com"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.TempDir()+"/bench.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := s.CreateMailbox(context.Background(), "alice@contoso.com"); err != nil {
		b.Fatal(err)
	}
	return s
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
