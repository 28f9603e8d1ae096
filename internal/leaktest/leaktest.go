// Package leaktest lets a test wait for the goroutines it started to end
// (WaitGoroutines) or for one of them to return its result (Wait).
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

// Wait returns the error the goroutine behind done sends and fails the test
// when none comes within timeout; what names the call waited for, such as
// "Run()".
func Wait(t testing.TB, done <-chan error, timeout time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		t.Fatalf("%s did not return within %v", what, timeout)
		return nil
	}
}
