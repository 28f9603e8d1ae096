package edgesync

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/exsim/exsim/internal/defaults"
)

// Exchange's EdgeSync schedule (Set-EdgeSyncServiceConfig
// -ConfigurationSyncInterval, -RecipientSyncInterval).
const (
	DefaultConfigInterval    = 3 * time.Minute
	DefaultRecipientInterval = 5 * time.Minute
	DefaultSessionTimeout    = 60 * time.Second
)

// Options configure a Syncer, the Microsoft Exchange EdgeSync service of
// one Mailbox server.
type Options struct {
	// EdgeAddress is the host:port of the Edge's secure LDAP (50636).
	EdgeAddress string
	// TLSConfig trusts the lab CA and names the Edge: ServerName is the
	// Edge's FQDN. It may carry this Mailbox server's certificate.
	TLSConfig *tls.Config
	// Dial opens every connection to the Edge (exsim binds the Mailbox
	// server's own source address and injects faults there). Required.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Credentials come from Import (or LoadCredentials).
	Credentials *Credentials
	// ConfigInterval and RecipientInterval default to Exchange's 3 and 5
	// minutes; exsim passes lab-fast values.
	ConfigInterval    time.Duration
	RecipientInterval time.Duration
	// Snapshot returns the organization's current configuration and
	// recipients.
	Snapshot func(ctx context.Context) (Config, Recipients, error)
	// Logger receives the service's log; nil discards.
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// SessionTimeout bounds one sync session (default 60 s).
	SessionTimeout time.Duration
}

// SyncStatus is what the last sync attempts left (Test-EdgeSynchronization
// in spirit).
type SyncStatus struct {
	LastAttempt       time.Time
	LastSuccess       time.Time
	LastError         string // "" after a success
	LastConfigSync    time.Time
	LastRecipientSync time.Time
	// ConfigEntries and RecipientEntries count the entries the Edge held
	// after the last successful sync of each kind.
	ConfigEntries    int
	RecipientEntries int
}

// Syncer pushes one Mailbox server's view of the organization to the Edge.
type Syncer struct {
	o   Options
	log *slog.Logger

	run sync.Mutex // one session at a time

	mu     sync.Mutex
	status SyncStatus
}

// kinds of sync.
const (
	syncConfig = 1 << iota
	syncRecipients
)

// NewSyncer checks o and returns the service; Run starts it.
func NewSyncer(o Options) (*Syncer, error) {
	switch {
	case o.Dial == nil:
		return nil, errors.New("edgesync: Options.Dial is required")
	case o.Credentials == nil:
		return nil, errors.New("edgesync: Options.Credentials is required")
	case o.Snapshot == nil:
		return nil, errors.New("edgesync: Options.Snapshot is required")
	case o.EdgeAddress == "":
		return nil, errors.New("edgesync: Options.EdgeAddress is required")
	case o.TLSConfig == nil:
		return nil, errors.New("edgesync: Options.TLSConfig is required (secure LDAP only)")
	}
	defaults.Set(&o.ConfigInterval, DefaultConfigInterval)
	defaults.Set(&o.RecipientInterval, DefaultRecipientInterval)
	defaults.Set(&o.SessionTimeout, DefaultSessionTimeout)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger.With("proto", "edgesync")
	if o.Credentials.Server != "" {
		log = log.With("server", o.Credentials.Server)
	}
	return &Syncer{o: o, log: log}, nil
}

// Run syncs everything at once, then configuration and recipients each on
// its interval, until ctx ends. Failures are recorded in Status and retried
// at the next interval; Run returns nil when ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	s.sync(ctx, syncConfig|syncRecipients)
	ct := time.NewTicker(s.o.ConfigInterval)
	defer ct.Stop()
	rt := time.NewTicker(s.o.RecipientInterval)
	defer rt.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ct.C:
			s.sync(ctx, syncConfig)
		case <-rt.C:
			s.sync(ctx, syncRecipients)
		}
	}
}

// SyncNow is Start-EdgeSynchronization: configuration and recipients, now.
func (s *Syncer) SyncNow(ctx context.Context) error {
	return s.sync(ctx, syncConfig|syncRecipients)
}

// Status returns the outcome of the last attempts.
func (s *Syncer) Status() SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Syncer) sync(ctx context.Context, kinds int) error {
	s.run.Lock()
	defer s.run.Unlock()
	start := s.o.Now()
	s.mu.Lock()
	s.status.LastAttempt = start
	s.mu.Unlock()

	res, err := s.session(ctx, kinds)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.status.LastError = err.Error()
		s.log.Warn("EdgeSync failed", "err", err)
		return err
	}
	s.status.LastError = ""
	s.status.LastSuccess = s.o.Now()
	if kinds&syncConfig != 0 {
		s.status.LastConfigSync = s.status.LastSuccess
		s.status.ConfigEntries = res.configEntries
	}
	if kinds&syncRecipients != 0 {
		s.status.LastRecipientSync = s.status.LastSuccess
		s.status.RecipientEntries = res.recipientEntries
	}
	s.log.Info("EdgeSync done", "code", 0)
	return nil
}
