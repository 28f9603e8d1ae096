package exsimtest_test

import (
	"testing"

	"github.com/exsim/exsim/exsimtest"
)

// BenchmarkStart is Start until ready (EdgeSync done) and Close, on a
// fresh data directory each time, as every test that calls Start pays it.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		lab, err := exsimtest.New(exsimtest.WithDataDir(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		lab.Close()
	}
}
