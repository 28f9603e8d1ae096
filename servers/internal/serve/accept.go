package serve

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Transient reports whether an Accept error is worth accepting again after
// a pause. This is the one place exsim's servers decide what an Accept error
// means. Running out of file descriptors or kernel memory, a connection
// aborted before it was accepted, or a deadline are transient: the server
// waits (Backoff), doubling from 5 ms to 1 s as net/http does, and goes on
// serving. Anything else ends the listener.
func Transient(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EPROTO} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Backoff is the pause between accepts after transient errors.
type Backoff struct{ d time.Duration }

// Wait pauses for the next, longer interval; it returns false at once when
// done closes (the server is shutting down). A nil done never closes.
func (b *Backoff) Wait(done <-chan struct{}) bool {
	b.d = min(max(2*b.d, 5*time.Millisecond), time.Second)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// Reset starts the next run of errors from the shortest pause.
func (b *Backoff) Reset() { b.d = 0 }
