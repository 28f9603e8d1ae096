package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exsim/exsim/internal/lockout"
	"github.com/exsim/exsim/servers/internal/serve"
)

// Defaults follow Exchange's Set-ImapSettings and receive connector
// defaults (EXCHANGE.md section 2).
const (
	defaultMaxLogonFailures     = 3
	defaultLogonFailureDelay    = 2 * time.Second
	defaultMaxProtocolErrors    = 10
	defaultMaxCommandSize       = 10240 // Set-ImapSettings -MaxCommandSize
	defaultPreAuthTimeout       = 60 * time.Second
	defaultAuthenticatedTimeout = 30 * time.Minute
	defaultBackendTimeout       = 15 * time.Second
	writeTimeout                = 30 * time.Second
)

// FrontendOptions configure a Frontend. Auth, Upstream and TLSConfig are
// required.
type FrontendOptions struct {
	Auth     Authenticator
	Upstream Upstream
	// TLSConfig is used for STARTTLS. For port 993 hand Serve a tls.Listener.
	TLSConfig *tls.Config
	// Server and Listener name this server and listener in logs.
	Server, Listener string
	Logger           *slog.Logger
	// MaxLogonFailures disconnects a client after this many failed logons.
	// Default 3.
	MaxLogonFailures int
	// LogonFailureDelay: the n-th failed logon is answered after n times
	// this delay. Default 2 s.
	LogonFailureDelay time.Duration
	// MaxProtocolErrors disconnects a client after this many bad commands.
	// Default 10.
	MaxProtocolErrors int
	// MaxCommandSize bounds a command line plus its literals, in bytes.
	// Default 10240.
	MaxCommandSize int
	// PreAuthTimeout bounds each command before logon and the TLS handshake.
	// Default 60 s.
	PreAuthTimeout time.Duration
	// BackendTimeout bounds dialing and logging on to the backend. Default 15 s.
	BackendTimeout time.Duration
	// AuthenticatedTimeout ends a logged-on connection from which nothing
	// arrived for this long: Set-ImapSettings
	// -AuthenticatedConnectionTimeout, default 30 min (IDLE clients
	// re-issue IDLE before 29 min, RFC 2177).
	AuthenticatedTimeout time.Duration
}

// Frontend is Exchange's IMAP4 service (143/993): its own pre-logon state
// machine, then a byte relay to the mailbox's IMAP4 Backend.
type Frontend struct {
	opts FrontendOptions
	log  *slog.Logger
	cid  atomic.Uint64
	// lc serves the listeners; its Context, canceled by Close, aborts logon
	// delays, backend logons and relays.
	lc *serve.Lifecycle
}

// NewFrontend returns a Frontend; it serves nothing until Serve is called.
func NewFrontend(opts FrontendOptions) (*Frontend, error) {
	if opts.Auth == nil || opts.Upstream == nil || opts.TLSConfig == nil {
		return nil, errors.New("imapd: frontend needs an Authenticator, an Upstream and a TLS config")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Listener == "" {
		opts.Listener = "IMAP4"
	}
	serve.Default(&opts.MaxLogonFailures, defaultMaxLogonFailures)
	if opts.LogonFailureDelay < 0 {
		opts.LogonFailureDelay = 0
	} else if opts.LogonFailureDelay == 0 {
		opts.LogonFailureDelay = defaultLogonFailureDelay
	}
	serve.Default(&opts.MaxProtocolErrors, defaultMaxProtocolErrors)
	serve.Default(&opts.MaxCommandSize, defaultMaxCommandSize)
	serve.Default(&opts.PreAuthTimeout, defaultPreAuthTimeout)
	serve.Default(&opts.AuthenticatedTimeout, defaultAuthenticatedTimeout)
	serve.Default(&opts.BackendTimeout, defaultBackendTimeout)
	log := opts.Logger.With("server", opts.Server, "listener", opts.Listener, "proto", "imap")
	return &Frontend{
		opts: opts,
		log:  log,
		lc:   serve.New(serve.Options{Name: "imapd: frontend", Closed: net.ErrClosed, Logger: log}),
	}, nil
}

// Serve accepts connections on ln until Close or Shutdown, and then returns
// net.ErrClosed. A tls.Listener makes it the implicit-TLS service (993).
func (f *Frontend) Serve(ln net.Listener) error { return f.lc.Serve(ln, f.serveConn) }

func (f *Frontend) serveConn(nc net.Conn) {
	_, isTLS := nc.(*tls.Conn)
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		host = nc.RemoteAddr().String()
	}
	c := &fconn{
		f:     f,
		nc:    nc,
		isTLS: isTLS,
		// The client's address goes to the Authenticator in the context,
		// for the lockout (internal/lockout) that counts per source.
		ctx: lockout.WithSource(f.lc.Context(), host),
		log: f.log.With("cid", strconv.FormatUint(f.cid.Add(1), 16), "remote", nc.RemoteAddr().String()),
	}
	c.setIO()
	// Close ends relayed sessions too: the Lifecycle closes only the
	// client's connection.
	stop := context.AfterFunc(f.lc.Context(), c.abort)
	defer stop()
	c.serve()
}

// Close closes the listeners and every connection (relayed ones included)
// and waits for their goroutines.
func (f *Frontend) Close() error { return f.lc.Close() }

// Shutdown stops accepting and waits for connections to end (logons in
// progress may finish) until ctx is done, then closes them.
func (f *Frontend) Shutdown(ctx context.Context) error { return f.lc.Shutdown(ctx) }

// fconn is one client connection.
type fconn struct {
	f     *Frontend
	log   *slog.Logger
	isTLS bool
	ctx   context.Context // the Frontend's, with the client's address

	nc net.Conn // replaced by the TLS conn after STARTTLS
	br *bufio.Reader
	bw *bufio.Writer
	cr cmdReader

	failures  int // logon failures
	protoErrs int

	mu      sync.Mutex // guards backend and aborted for abort()
	backend net.Conn
	aborted bool
}

// setIO (re)builds the buffered reader and writer on c.nc.
func (c *fconn) setIO() {
	c.br = bufio.NewReaderSize(c.nc, 4096)
	c.bw = bufio.NewWriterSize(c.nc, 4096)
	c.cr = cmdReader{r: c.br, w: c.bw, maxSize: c.f.opts.MaxCommandSize, maxLiteral: c.f.opts.MaxCommandSize}
}

// abort closes the connection from outside its goroutine.
func (c *fconn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	c.nc.Close()
	if c.backend != nil {
		c.backend.Close()
	}
}

func (c *fconn) send(lines ...string) error {
	for _, l := range lines {
		c.bw.WriteString(l)
		c.bw.WriteString("\r\n")
	}
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.bw.Flush()
}

func (c *fconn) serve() {
	defer func() { c.nc.Close() }() // the TLS conn after STARTTLS: close_notify

	c.log.Debug("imapd: connection opened")
	// On 993 the greeting starts the TLS handshake: bound it.
	c.nc.SetDeadline(time.Now().Add(c.f.opts.PreAuthTimeout))
	if err := c.send(textGreeting); err != nil {
		c.log.Debug("imapd: greeting failed", "err", err)
		return
	}
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.f.opts.PreAuthTimeout))
		cmd, err := c.cr.read()
		var pe *protoError
		switch {
		case errors.As(err, &pe):
			c.protoErrs++
			c.log.Debug("imapd: bad command", "err", err)
			if err := c.send(pe.reply.line(pe.tag)); err != nil || pe.fatal {
				return
			}
			if c.protoErrs >= c.f.opts.MaxProtocolErrors {
				c.send(textTimeoutBye)
				return
			}
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.log.Debug("imapd: pre-logon timeout")
			c.send(textTimeoutBye)
			return
		case err != nil:
			return
		}
		if !c.dispatch(cmd) {
			return
		}
	}
}

// dispatch handles one command in the not-authenticated state and reports
// whether the connection goes on.
func (c *fconn) dispatch(cmd *command) bool {
	switch cmd.name {
	case "CAPABILITY":
		if len(cmd.args) != 0 {
			return c.bad(cmd, replyArgError)
		}
		caps := textCapsCleartext
		if c.isTLS {
			caps = textCapsTLS
		}
		return c.send(caps, replyCapability.line(cmd.tag)) == nil
	case "NOOP":
		return c.send(replyNoop.line(cmd.tag)) == nil
	case "ID":
		// RFC 2971: ID NIL or ID (field value ...); the client's values are
		// not needed.
		if len(cmd.args) == 0 {
			return c.bad(cmd, replyArgError)
		}
		return c.send(textID, replyID.line(cmd.tag)) == nil
	case "LOGOUT":
		c.send(textBye, replyLogout.line(cmd.tag))
		return false
	case "STARTTLS":
		if c.isTLS {
			return c.bad(cmd, replyInvalidState)
		}
		if len(cmd.args) != 0 {
			return c.bad(cmd, replyArgError)
		}
		return c.startTLS(cmd)
	case "LOGIN":
		if !c.isTLS {
			// SecureLogin: no cleartext credentials (LOGINDISABLED).
			return c.bad(cmd, replyInvalidState)
		}
		if len(cmd.args) != 2 {
			return c.bad(cmd, replyArgError)
		}
		user, ok1 := cmd.args[0].str()
		pass, ok2 := cmd.args[1].str()
		if !ok1 || !ok2 {
			return c.bad(cmd, replyArgError)
		}
		return c.logon(cmd.tag, user, pass, replyLoginOK, replyLoginFailed)
	case "AUTHENTICATE":
		if !c.isTLS {
			return c.bad(cmd, replyInvalidState)
		}
		return c.authenticate(cmd)
	}
	if knownCommand(cmd.name) {
		return c.bad(cmd, replyInvalidState)
	}
	return c.bad(cmd, replyArgError)
}

// bad answers a command with an error reply, counting it towards
// MaxProtocolErrors.
func (c *fconn) bad(cmd *command, r reply) bool {
	c.protoErrs++
	if err := c.send(r.line(cmd.tag)); err != nil {
		return false
	}
	if c.protoErrs >= c.f.opts.MaxProtocolErrors {
		c.send(textTimeoutBye)
		return false
	}
	return true
}

func (c *fconn) startTLS(cmd *command) bool {
	if err := c.send(replyStartTLS.line(cmd.tag)); err != nil {
		return false
	}
	// Anything pipelined after STARTTLS was sent in cleartext and must not
	// be executed inside TLS (the CVE-2011-0411 family): drop the client.
	if c.br.Buffered() > 0 {
		c.log.Info("imapd: data pipelined after STARTTLS, closing")
		return false
	}
	tc := tls.Server(c.nc, c.f.opts.TLSConfig)
	tc.SetDeadline(time.Now().Add(c.f.opts.PreAuthTimeout))
	if err := tc.Handshake(); err != nil {
		c.log.Info("imapd: STARTTLS handshake failed", "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	c.mu.Lock()
	c.nc = tc
	c.mu.Unlock()
	c.isTLS = true
	c.setIO()
	return true
}
