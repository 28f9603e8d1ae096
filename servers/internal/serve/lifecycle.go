// Package serve is the part every protocol server in servers/ shares: the
// listeners it serves, the connections it has accepted, one accept loop with
// one accept-error policy (Transient, Backoff), and the two ways to stop,
// Shutdown(ctx) and Close. A server holds a *Lifecycle and keeps only what is
// its own (the protocol, its limits, how it tells an idle session to stop).
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Options configure a Lifecycle.
type Options struct {
	// Name prefixes errors and log messages ("smtpd").
	Name string
	// Closed is what Serve returns once Shutdown or Close has begun: the
	// server's ErrServerClosed.
	Closed error
	// Logger receives a warning per transient accept error and per
	// connection refused over MaxConns; nil discards.
	Logger *slog.Logger
	// MaxConns bounds the connections being handled; one more is closed at
	// once. 0: no bound.
	MaxConns int
	// Wake, when set, is called by Shutdown at once and then every
	// WakeInterval until every connection has ended: it makes sessions
	// waiting for a client notice the shutdown (WakeReaders, or a server's
	// own "interrupt the idle ones"). Repeating it catches a session that
	// set its own deadline between two calls.
	Wake func()
	// Abort, when set, is called when connections are force-closed (Close,
	// or Shutdown's ctx ending) before waiting for them: it closes what the
	// Lifecycle does not track (an upstream connection, a library server).
	Abort func()
}

// WakeInterval is how often Shutdown calls Options.Wake.
const WakeInterval = 20 * time.Millisecond

// Lifecycle tracks a server's listeners, packet sockets and connections and
// stops them. Its methods are safe for concurrent use.
type Lifecycle struct {
	o      Options
	log    *slog.Logger
	ctx    context.Context // canceled once no connection may go on
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	stopping  chan struct{} // closed when Shutdown or Close begins
	listeners map[net.Listener]struct{}
	packets   map[net.PacketConn]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup // connection goroutines, Serve loops and Begin holds
}

// New returns a Lifecycle that serves nothing yet.
func New(o Options) *Lifecycle {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Closed == nil {
		o.Closed = net.ErrClosed
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Lifecycle{
		o:         o,
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		stopping:  make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		packets:   make(map[net.PacketConn]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
}

// Serve accepts connections on l and handles each in its own goroutine with
// handle, until Shutdown or Close, when it returns Options.Closed. A
// permanent accept error ends it with that error. l is closed on return.
// The accepted connection is closed after handle returns.
func (lc *Lifecycle) Serve(l net.Listener, handle func(net.Conn)) error {
	defer l.Close()
	if !lc.enter(func() { lc.listeners[l] = struct{}{} }) {
		return lc.o.Closed
	}
	defer lc.wg.Done()
	defer lc.locked(func() { delete(lc.listeners, l) })

	pl := lc.Accepting(l)
	for {
		c, err := pl.Accept()
		if err != nil {
			if lc.Stopped() {
				return lc.o.Closed
			}
			return fmt.Errorf("%s: accept: %w", lc.o.Name, err)
		}
		if !lc.start(c, handle) {
			return lc.o.Closed
		}
	}
}

// Accepting wraps l so that its Accept applies the accept-error policy:
// transient errors are logged and waited out (Backoff), and once Shutdown
// or Close has begun Accept returns Options.Closed. Serve uses it; a
// library's own accept loop (go-imap's) is handed it so the policy stays
// one. Accept must not be called concurrently.
func (lc *Lifecycle) Accepting(l net.Listener) net.Listener {
	return &acceptingListener{Listener: l, lc: lc}
}

type acceptingListener struct {
	net.Listener
	lc      *Lifecycle
	backoff Backoff
}

func (a *acceptingListener) Accept() (net.Conn, error) {
	for {
		c, err := a.Listener.Accept()
		switch {
		case err == nil:
			a.backoff.Reset()
			return c, nil
		case a.lc.Stopped():
			return nil, a.lc.o.Closed
		case !Transient(err):
			return nil, err
		}
		a.lc.log.Warn(a.lc.o.Name+": accept failed, retrying", "err", err)
		if !a.backoff.Wait(a.lc.stopping) {
			return nil, a.lc.o.Closed
		}
	}
}

// start runs handle(c) in a tracked goroutine; false once closing.
func (lc *Lifecycle) start(c net.Conn, handle func(net.Conn)) bool {
	lc.mu.Lock()
	if lc.closing {
		lc.mu.Unlock()
		c.Close()
		return false
	}
	if lc.o.MaxConns > 0 && len(lc.conns) >= lc.o.MaxConns {
		lc.mu.Unlock()
		lc.log.Warn(lc.o.Name+": connection limit reached, closing", "remote", c.RemoteAddr().String())
		c.Close()
		return true
	}
	lc.conns[c] = struct{}{}
	lc.wg.Add(1)
	lc.mu.Unlock()
	go func() {
		defer lc.wg.Done()
		defer c.Close()
		defer lc.locked(func() { delete(lc.conns, c) })
		handle(c)
	}()
	return true
}

// enter runs add and counts one goroutine for Shutdown to wait for, both
// under the lock, unless closing has begun; it reports which.
func (lc *Lifecycle) enter(add func()) bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closing {
		return false
	}
	add()
	lc.wg.Add(1)
	return true
}

// locked runs f under the lock.
func (lc *Lifecycle) locked(f func()) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	f()
}

// ServePacket runs serve, which reads pc until it fails, as one tracked
// goroutine's work: Shutdown wakes pc's readers (with WakeReaders), Close
// closes pc. It returns Options.Closed once closing, serve's error
// otherwise. pc is closed on return.
func (lc *Lifecycle) ServePacket(pc net.PacketConn, serve func() error) error {
	defer pc.Close()
	if !lc.enter(func() { lc.packets[pc] = struct{}{} }) {
		return lc.o.Closed
	}
	defer lc.wg.Done()
	defer lc.locked(func() { delete(lc.packets, pc) })
	err := serve()
	if lc.Stopped() {
		return lc.o.Closed
	}
	return err
}

// Listen registers l, served by someone else (a library's accept loop), so
// that Shutdown and Close close it; release forgets it. ok is false once
// closing.
func (lc *Lifecycle) Listen(l net.Listener) (release func(), ok bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closing {
		return nil, false
	}
	lc.listeners[l] = struct{}{}
	return func() { lc.locked(func() { delete(lc.listeners, l) }) }, true
}

// Begin counts one piece of work (a session a library runs) that Shutdown
// waits for; End ends it. Begin reports false once closing, and then counts
// nothing.
func (lc *Lifecycle) Begin() bool { return lc.enter(func() {}) }

// End ends a piece of work counted by Begin.
func (lc *Lifecycle) End() { lc.wg.Done() }

// Stopping is closed when Shutdown or Close begins: it ends pauses and
// waits that must not delay a shutdown.
func (lc *Lifecycle) Stopping() <-chan struct{} { return lc.stopping }

// Stopped reports whether Shutdown or Close has begun.
func (lc *Lifecycle) Stopped() bool {
	select {
	case <-lc.stopping:
		return true
	default:
		return false
	}
}

// Context is canceled by Close, by Shutdown when its ctx ends, and when
// Shutdown has seen every connection end: it aborts backend calls and
// delays of connections that are being closed.
func (lc *Lifecycle) Context() context.Context { return lc.ctx }

// WakeReaders sets a read deadline in the past on every connection and
// packet socket, so that a read blocked waiting for a client returns; the
// session then sees Stopped. A Wake for servers whose sessions check
// Stopped before each read.
func (lc *Lifecycle) WakeReaders() {
	past := time.Unix(1, 0)
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for c := range lc.conns {
		c.SetReadDeadline(past)
	}
	for pc := range lc.packets {
		pc.SetReadDeadline(past)
	}
}

// stop begins closing: no new connection, listeners closed. It returns the
// listeners' close errors other than net.ErrClosed.
func (lc *Lifecycle) stop() error {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if !lc.closing {
		lc.closing = true
		close(lc.stopping)
	}
	var errs []error
	for l := range lc.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// abort cancels Context and closes every connection and packet socket. A
// connection accepted as TLS is closed under its TLS layer: a close_notify
// could block on a client that does not read.
func (lc *Lifecycle) abort() {
	lc.cancel()
	if lc.o.Abort != nil {
		lc.o.Abort()
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for c := range lc.conns {
		if tc, ok := c.(*tls.Conn); ok {
			c = tc.NetConn()
		}
		c.Close()
	}
	for pc := range lc.packets {
		pc.Close()
	}
}

// Shutdown stops accepting, wakes idle sessions with Options.Wake and waits
// for every connection to end. If ctx ends first it closes the rest at once,
// waits for their goroutines, and returns ctx's error (joined with any
// listener close error).
func (lc *Lifecycle) Shutdown(ctx context.Context) error {
	err := lc.stop()
	finished := make(chan struct{})
	go func() {
		lc.wg.Wait()
		close(finished)
	}()
	var tick <-chan time.Time
	if lc.o.Wake != nil {
		t := time.NewTicker(WakeInterval)
		defer t.Stop()
		tick = t.C
		lc.o.Wake()
	}
	for {
		select {
		case <-finished:
			lc.abort() // nothing is left but the context and packet sockets
			return err
		case <-ctx.Done():
			lc.abort()
			<-finished
			if err == nil {
				return ctx.Err()
			}
			return errors.Join(err, ctx.Err())
		case <-tick:
			lc.o.Wake()
		}
	}
}

// Close stops accepting, closes every connection at once and waits for the
// connection goroutines to return.
func (lc *Lifecycle) Close() error {
	err := lc.stop()
	lc.abort()
	lc.wg.Wait()
	return err
}
