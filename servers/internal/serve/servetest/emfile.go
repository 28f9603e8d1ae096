// Package servetest gives servers' tests a listener that fails as a
// process out of file descriptors does.
package servetest

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
)

// EMFILE wraps l: its first n Accepts fail with the error Go returns when
// the process has no file descriptor left.
func EMFILE(l net.Listener, n int) net.Listener {
	f := &emfile{Listener: l}
	f.left.Store(int64(n))
	return f
}

type emfile struct {
	net.Listener
	left atomic.Int64
}

func (f *emfile) Accept() (net.Conn, error) {
	if f.left.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: f.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return f.Listener.Accept()
}
