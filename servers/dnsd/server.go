// Package dnsd is the lab's authoritative DNS server (SPEC.md section 4,
// "DNS server"): UDP and TCP, authoritative for every lab zone (AA=1), no
// recursion (RA=0), never forwarding; names outside the lab are REFUSED.
package dnsd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/exsim/exsim/servers/internal/serve"
)

// ErrServerClosed is returned by Serve and ServeTCP after Shutdown or Close.
var ErrServerClosed = errors.New("dnsd: server closed")

// Options tune a Server. The zero value is ready to use.
type Options struct {
	// Name is the server's name in logs (the `server` key), e.g. "DNS01".
	Name string
	// Logger receives one debug record per query; nil discards.
	Logger *slog.Logger
	// ReadTimeout bounds reading one whole TCP query, length prefix
	// included, once its first byte may arrive. Default 5 s.
	ReadTimeout time.Duration
	// IdleTimeout closes a TCP connection that sends no further query
	// (RFC 7766 section 6.2.3). Default 10 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one response. Default 5 s.
	WriteTimeout time.Duration
	// MaxTCPConns caps concurrent TCP connections; more are closed at
	// once (RFC 7766 section 6.2.2). Default 256.
	MaxTCPConns int
}

// udpReaders is how many goroutines read one PacketConn; each answers the
// packets it reads.
const udpReaders = 4

// Server answers DNS queries from a ZoneSet. Its zero value is not usable:
// call New.
type Server struct {
	opts  Options
	log   *slog.Logger
	zones atomic.Pointer[ZoneSet]

	// lc tracks sockets, connections and goroutines. Shutdown wakes
	// readers waiting for a query; they check lc.Stopped before each read.
	lc *serve.Lifecycle
}

// New returns a server answering from zones (nil: no zones, every query is
// REFUSED). zones is frozen: it must not change afterwards.
func New(zones *ZoneSet, opts Options) *Server {
	serve.Default(&opts.ReadTimeout, 5*time.Second)
	serve.Default(&opts.IdleTimeout, 10*time.Second)
	serve.Default(&opts.WriteTimeout, 5*time.Second)
	serve.Default(&opts.MaxTCPConns, 256)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log.With("server", opts.Name)}
	s.lc = serve.New(serve.Options{
		Name:     "dnsd: tcp",
		Closed:   ErrServerClosed,
		Logger:   s.log,
		MaxConns: opts.MaxTCPConns,
		Wake:     func() { s.lc.WakeReaders() },
	})
	s.SetZones(zones)
	return s
}

// SetZones atomically replaces the zones the server answers from; queries
// in flight finish with the old set. zones is frozen.
func (s *Server) SetZones(zones *ZoneSet) {
	if zones == nil {
		zones = &ZoneSet{zones: map[string]*Zone{}}
	}
	zones.freeze()
	s.zones.Store(zones)
}

// Zones returns the zone set in use.
func (s *Server) Zones() *ZoneSet { return s.zones.Load() }

// Shutdown stops accepting queries, lets the ones being answered finish,
// closes idle TCP connections and waits for every goroutine, or until ctx
// ends, when it closes everything at once and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error { return s.lc.Shutdown(ctx) }

// Close closes every socket at once and waits for the server's goroutines
// to return.
func (s *Server) Close() error { return s.lc.Close() }

// logQuery writes the one debug record of a query to log, which carries
// the server, proto and (over TCP) remote keys; remote is added when given.
func logQuery(log *slog.Logger, remote net.Addr, r reply) {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	code := "dropped"
	if r.rcode >= 0 {
		code = dns.RcodeToString[r.rcode]
	}
	msg := "query " + r.q
	if r.q == "" {
		msg = "query not answered"
	}
	if remote != nil {
		log.Debug(msg, "remote", remote.String(), "code", code)
		return
	}
	log.Debug(msg, "code", code)
}
