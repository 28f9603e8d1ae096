package labnet

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// IdleCutError is what reads and writes return on a connection an idle
// timeout fault cut.
type IdleCutError struct {
	Fault string // the fault, as Fault.String says it
	Idle  time.Duration
}

func (e *IdleCutError) Error() string {
	return fmt.Sprintf("connection cut after %s without traffic (fault %s)", e.Idle, e.Fault)
}

// idleConn closes its connection once the fault's idle timeout passes
// without a byte read or written, as a proxy in the path would.
type idleConn struct {
	net.Conn
	err   *IdleCutError
	idle  time.Duration
	cut   atomic.Bool
	mu    sync.Mutex
	timer *time.Timer
}

func newIdleConn(c net.Conn, f *Fault) net.Conn {
	ic := &idleConn{Conn: c, idle: f.Idle, err: &IdleCutError{Fault: f.String(), Idle: f.Idle}}
	ic.timer = time.AfterFunc(f.Idle, func() {
		ic.cut.Store(true)
		c.Close()
	})
	return ic
}

// traffic follows a Read or Write of n bytes: it restarts the idle clock
// unless the connection is already cut, and names the fault in the error
// of a connection it cut.
func (c *idleConn) traffic(n int, err error) (int, error) {
	cut := c.cut.Load()
	if n > 0 && !cut {
		c.mu.Lock()
		c.timer.Reset(c.idle)
		c.mu.Unlock()
	}
	if err != nil && cut {
		err = c.err
	}
	return n, err
}

func (c *idleConn) Read(b []byte) (int, error) { return c.traffic(c.Conn.Read(b)) }

func (c *idleConn) Write(b []byte) (int, error) { return c.traffic(c.Conn.Write(b)) }

func (c *idleConn) Close() error {
	c.mu.Lock()
	c.timer.Stop()
	c.mu.Unlock()
	return c.Conn.Close()
}
