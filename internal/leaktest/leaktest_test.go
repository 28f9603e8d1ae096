package leaktest

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestWaitGoroutinesWaitsForExit(t *testing.T) {
	before := runtime.NumGoroutine()
	done := make(chan struct{})
	go func() {
		<-done
		time.Sleep(50 * time.Millisecond)
	}()
	if runtime.NumGoroutine() <= before {
		t.Fatal("the test goroutine did not start")
	}
	close(done)
	WaitGoroutines(t, before)
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("after WaitGoroutines goroutines = %d, want <= %d", n, before)
	}
}

// fatalRecorder records Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	runtime.Goexit()
}

func TestWaitGoroutinesFailsOnLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("waits five seconds")
	}
	stop := make(chan struct{})
	defer close(stop)
	before := runtime.NumGoroutine()
	go func() { <-stop }()
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		WaitGoroutines(rec, before)
	}()
	<-done
	if !rec.failed {
		t.Error("WaitGoroutines returned with a goroutine still running, want a failure")
	}
}

func TestWait(t *testing.T) {
	done := make(chan error, 1)
	want := errors.New("served")
	done <- want
	if err := Wait(t, done, time.Second, "Serve()"); err != want {
		t.Errorf("Wait() = %v, want %v", err, want)
	}
	rec := &fatalRecorder{TB: t}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		Wait(rec, make(chan error), 10*time.Millisecond, "Serve()")
	}()
	<-finished
	if !rec.failed {
		t.Error("Wait returned although nothing was sent, want a failure")
	}
}
