package serve

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func opErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

func TestTransient(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if !Transient(opErr(errno)) {
			t.Errorf("%v: not transient", errno)
		}
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	l.(*net.TCPListener).SetDeadline(time.Now())
	if _, err := l.Accept(); !Transient(err) {
		t.Errorf("deadline: %v not transient", err)
	}
	l.Close()
	if _, err := l.Accept(); Transient(err) {
		t.Errorf("closed listener: %v is transient", err)
	}
	if Transient(errors.New("boom")) || Transient(opErr(syscall.EINVAL)) {
		t.Error("a permanent error is transient")
	}
}

func TestBackoff(t *testing.T) {
	var b Backoff
	for range 10 {
		b.d = min(max(2*b.d, 5*time.Millisecond), time.Second)
	}
	if b.d != time.Second {
		t.Errorf("backoff grew to %v, want at most 1s", b.d)
	}
	b.Reset()
	start := time.Now()
	if !b.Wait(nil) || b.d != 5*time.Millisecond || time.Since(start) < 5*time.Millisecond {
		t.Errorf("first wait %v after reset", b.d)
	}
	done := make(chan struct{})
	close(done)
	b.d = time.Hour
	if b.Wait(done) {
		t.Error("Wait after done closed must report false")
	}
}
