package ldapd

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"
)

// helloDN is the bind name of the first message on every private
// connection; its password is "<secret>:<cid>".
const helloDN = "CN=exsim-ldapd-front"

// session is the state of one client connection, shared by the front end
// (which owns the connection) and the gldap handlers (which answer its
// requests, one at a time).
type session struct {
	cid string
	log *slog.Logger // the connection's logger (listener, cid, remote)

	mu      sync.Mutex
	account string // DN of the last successful bind; "" is anonymous
}

func (s *session) bound() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.account
}

func (s *session) setBound(dn string) {
	s.mu.Lock()
	s.account = dn
	s.mu.Unlock()
}

// backend is the private gldap server and the table that maps its
// connection IDs to sessions.
type backend struct {
	srv    *gldap.Server
	addr   string
	secret string
	done   chan struct{} // closed when Run returns
	runErr error

	mu      sync.Mutex
	pending map[string]*session // by cid, until the hello bind arrives
	conns   map[int]*session    // by gldap connection ID
}

// startBackend runs gldap on a free loopback port. gldap binds the port
// itself, so a port picked by listening on :0 can be taken by someone else
// before gldap binds it; the hello handshake proves that the listener
// answering is ours, and a lost race is retried with another port.
func startBackend(h *handlers) (*backend, error) {
	var lastErr error
	for range 5 {
		b, err := tryBackend(h)
		if err == nil {
			return b, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("ldapd: start gldap: %w", lastErr)
}

func tryBackend(h *handlers) (*backend, error) {
	secret := make([]byte, 32)
	rand.Read(secret)
	b := &backend{
		secret:  hex.EncodeToString(secret),
		done:    make(chan struct{}),
		pending: make(map[string]*session),
		conns:   make(map[int]*session),
	}
	h.b = b
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.addr = l.Addr().String()
	l.Close()

	srv, err := gldap.NewServer(gldap.WithLogger(hclog.NewNullLogger()), gldap.WithOnClose(b.forget))
	if err != nil {
		return nil, err
	}
	mux, err := h.mux()
	if err != nil {
		return nil, err
	}
	if err := srv.Router(mux); err != nil {
		return nil, err
	}
	b.srv = srv
	go func() {
		b.runErr = srv.Run(b.addr)
		close(b.done)
	}()
	if err := b.waitReady(); err != nil {
		b.stop(time.Second)
		return nil, err
	}
	return b, nil
}

// waitReady returns once a hello on the private port succeeds, or with the
// error of Run. gldap offers no readiness signal, so this polls briefly.
func (b *backend) waitReady() error {
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		probe := &session{cid: fmt.Sprintf("probe-%d", i), log: slog.New(slog.DiscardHandler)}
		c, _, err := b.dial(probe, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-b.done:
			if b.runErr != nil {
				return b.runErr
			}
			return errors.New("gldap stopped")
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gldap on %s not answering: %w", b.addr, err)
		}
	}
}

// dial opens a private connection for sess and performs the hello bind.
func (b *backend) dial(sess *session, timeout time.Duration) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", b.addr, timeout)
	if err != nil {
		return nil, nil, err
	}
	// Closed with a reset rather than a FIN: the front end closes first, and
	// a TIME_WAIT per client connection would exhaust loopback ports under
	// connection churn.
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	b.mu.Lock()
	b.pending[sess.cid] = sess
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, sess.cid)
		b.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(encodeSimpleBind(1, helloDN, b.secret+":"+sess.cid)); err != nil {
		c.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(c)
	raw, err := readMessage(br, 1<<16)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	m, err := parseMessage(raw)
	if err != nil || m.op != opBindResponse || len(m.request().Children) == 0 {
		c.Close()
		return nil, nil, errors.New("ldapd: bad hello response")
	}
	if code, _ := m.request().Children[0].Value.(int64); code != ResultSuccess {
		c.Close()
		return nil, nil, fmt.Errorf("ldapd: hello refused with result %d", code)
	}
	c.SetDeadline(time.Time{})
	return c, br, nil
}

// claim binds the gldap connection connID to the session a hello names;
// nil when the hello is not ours.
func (b *backend) claim(connID int, password string) *session {
	secret, cid, ok := strings.Cut(password, ":")
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(b.secret)) != 1 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	sess := b.pending[cid]
	if sess == nil {
		return nil
	}
	delete(b.pending, cid)
	b.conns[connID] = sess
	return sess
}

// session returns the session of a gldap connection; nil for a connection
// that did not come through the front end.
func (b *backend) session(connID int) *session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns[connID]
}

func (b *backend) forget(connID int) {
	b.mu.Lock()
	delete(b.conns, connID)
	b.mu.Unlock()
}

// stop stops gldap. Its Stop waits for every connection to its port to
// end; the front end has closed its own by now, so only a connection made to
// the private port from elsewhere can hold it, and stop gives up on that
// after wait (the goroutine ends when that client leaves).
func (b *backend) stop(wait time.Duration) error {
	stopped := make(chan error, 1)
	go func() { stopped <- b.srv.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			return fmt.Errorf("ldapd: stop gldap: %w", err)
		}
		return nil
	case <-time.After(wait):
		return fmt.Errorf("ldapd: stop gldap: a connection to %s that did not come through the front end is still open", b.addr)
	}
}
