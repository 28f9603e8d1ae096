// Package leaktest lets a test wait for the goroutines it started to end.
package leaktest

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// WaitGoroutines waits until the goroutine count drops to at most n (a
// count the test took before it started its servers and connections) and
// fails the test with every goroutine's stack when that takes longer than
// five seconds.
func WaitGoroutines(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for runtime.NumGoroutine() > n {
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines = %d, want <= %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		case <-time.After(10 * time.Millisecond):
		}
	}
}
