//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package transport

import (
	"os"
	"syscall"
	"time"
)

// lockFile takes f's exclusive lock (flock, released when f is closed),
// waiting up to wait for a process that is still shutting down.
func lockFile(f *os.File, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
