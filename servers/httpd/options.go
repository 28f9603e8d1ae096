package httpd

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/exsim/exsim/internal/lockout"
	"github.com/exsim/exsim/internal/ntlm"
)

// Exchange build numbers (EXCHANGE.md section 3: 2016 is 15.1.x, 2019 is 15.2.x).
const (
	Version2019 = "15.2.1258.12"
	Version2016 = "15.1.2507.6"
)

// Options configure the handlers. The zero value of every field means
// Exchange's default; ServerName or FQDN must be set.
type Options struct {
	// ServerName is the NetBIOS name of this Mailbox server (X-FEServer).
	// Default: the first label of FQDN in upper case.
	ServerName string
	// FQDN of this server, ex01.contoso.com.
	FQDN string
	// Domain is the organization's primary accepted domain; the HTTP 80
	// Autodiscover redirect points to autodiscover.<Domain>. Default: FQDN
	// without its first label.
	Domain string
	// Organization is the Exchange organization name used in generated
	// LegacyDNs. Default "First Organization", as Exchange Setup suggests.
	Organization string
	// ExternalHost, when set, is the host name every URL this server hands
	// out uses (OWA redirects, Autodiscover, autodiscover.json), like an
	// ExternalUrl on the virtual directories. Empty: the request's Host.
	ExternalHost string
	// VirtualDirectories are the InternalUrl/ExternalUrl of the web
	// virtual directories by VirtualDirectoryNames key; Autodiscover hands
	// them out. Unset: Exchange's default, https://<FQDN>/<path> (on
	// ExternalHost when set, with HTTPSPort when it is not 443).
	VirtualDirectories map[string]VirtualDirectory
	// HTTPSPort is the port HTTPS listens on, for links from port 80 to
	// HTTPS (0 means 443, which URLs leave out).
	HTTPSPort int
	// Version is the Exchange build: Version2019 (default) or Version2016.
	Version string
	// BasicAuth says which virtual directories accept HTTP Basic
	// authentication; nil means DefaultBasicAuth().
	BasicAuth *BasicAuth
	// Throttle limits logon attempts (OWA forms, Basic, NTLM) per account
	// and per source. Lockout, when set, is the lockout shared with the
	// server's other protocols and Throttle is not used.
	Throttle Throttle
	Lockout  *lockout.Lockout
	// SessionTimeout is how long an idle OWA session lives. Default 8 h
	// (OWA's private-computer timeout); MaxSessions caps the session table
	// (default 10000; the oldest session is dropped beyond it).
	SessionTimeout time.Duration
	MaxSessions    int
	// DeploymentID (Autodiscover DeploymentId) and OABID (the OAB URL's
	// GUID). Default: derived from Organization, so they are stable.
	DeploymentID string
	OABID        string
	// RPCAuth authenticates the DCE/RPC binds of Outlook Anywhere (NTLM
	// at packet privacy, as Outlook and impacket bind to NSPI). Nil: RPC
	// over HTTP answers authentication and refuses the binds.
	RPCAuth *ntlm.Server
	// RPCConnectionTimeout is the Outlook Anywhere channels' connection
	// timeout (CONN/A3); the OUT channel pings after half of it idle.
	// Default 120 s.
	RPCConnectionTimeout time.Duration
	// MAPIPendingPeriod is X-PendingPeriod: how often a MAPI/HTTP answer
	// still being worked on sends a PENDING line. Default 15 s, the
	// value of MS-OXCMAPIHTTP's examples (section 4).
	MAPIPendingPeriod time.Duration
	// MAPISessionTimeout is how long a MAPI/HTTP Session Context lives
	// idle (X-ExpirationInfo); PING, or any request, restarts it.
	// Exchange's value is not documented; default 15 min.
	MAPISessionTimeout time.Duration
	// MAPINotificationWait is how long a NotificationWait is held when
	// nothing changes. Exchange's value is not documented; default 5 min.
	MAPINotificationWait time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// BasicAuth lists the virtual directories on which IIS has Basic
// authentication enabled. OWA and ECP use forms; MAPI/HTTP and OAB never
// accept Basic (EXCHANGE.md section 6).
type BasicAuth struct {
	Autodiscover bool
	EWS          bool
	ActiveSync   bool
	RPC          bool
}

// DefaultBasicAuth is Exchange's default virtual directory configuration:
// Basic on Autodiscover, ActiveSync and Outlook Anywhere; EWS with
// Integrated Windows authentication only. A lab that wants EWS clients with
// passwords sets EWS to true (as many real deployments do).
func DefaultBasicAuth() BasicAuth {
	return BasicAuth{Autodiscover: true, ActiveSync: true, RPC: true}
}

// Throttle configures the brute-force protection of logons: the shared
// lockout policy (package internal/lockout), counted per account and per
// source; a locked-out logon fails, whatever the password, without
// reaching the backend.
type Throttle = lockout.Policy

// version is a parsed Exchange build number.
type version struct {
	Major, Minor, Build, Revision int
	String                        string
}

func parseVersion(s string) (version, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return version{}, fmt.Errorf("httpd: version %q: want major.minor.build.revision", s)
	}
	var n [4]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 65535 {
			return version{}, fmt.Errorf("httpd: version %q: bad number %q", s, p)
		}
		n[i] = v
	}
	return version{n[0], n[1], n[2], n[3], s}, nil
}

// short is major.minor.build, as OWA's resource paths use it (/owa/auth/15.2.1258/...).
func (v version) short() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Build) }

// config is Options with every default filled in.
type config struct {
	Options
	ver   version
	basic BasicAuth
	log   *slog.Logger
}

// Validate reports the first option NewHandler would have to replace by its
// default (an unparsable Version, no server name).
func (o Options) Validate() error {
	_, err := newConfig(o)
	return err
}

// newConfig fills in defaults. The config it returns is always usable; the
// error names an option that was replaced by its default.
func newConfig(o Options) (*config, error) {
	var bad error
	c := &config{Options: o}
	c.FQDN = strings.ToLower(strings.TrimSuffix(c.FQDN, "."))
	if c.ServerName == "" {
		c.ServerName = strings.ToUpper(strings.SplitN(c.FQDN, ".", 2)[0])
	}
	if c.ServerName == "" {
		bad = fmt.Errorf("httpd: options need ServerName or FQDN")
		c.ServerName = "EX01"
	}
	if c.FQDN == "" {
		c.FQDN = strings.ToLower(c.ServerName)
	}
	if c.Domain == "" {
		if _, d, ok := strings.Cut(c.FQDN, "."); ok {
			c.Domain = d
		} else {
			c.Domain = c.FQDN
		}
	}
	if c.Organization == "" {
		c.Organization = "First Organization"
	}
	if c.Version == "" {
		c.Version = Version2019
	}
	v, err := parseVersion(c.Version)
	if err != nil {
		bad = err
		c.Version = Version2019
		v, _ = parseVersion(Version2019)
	}
	c.ver = v
	if o.BasicAuth != nil {
		c.basic = *o.BasicAuth
	} else {
		c.basic = DefaultBasicAuth()
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 8 * time.Hour
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 10000
	}
	if c.MAPIPendingPeriod <= 0 {
		c.MAPIPendingPeriod = 15 * time.Second
	}
	if c.MAPISessionTimeout <= 0 {
		c.MAPISessionTimeout = 15 * time.Minute
	}
	if c.MAPINotificationWait <= 0 {
		c.MAPINotificationWait = 5 * time.Minute
	}
	ns := uuid.NewSHA1(uuid.NameSpaceDNS, []byte(strings.ToLower(c.Organization)+"."+c.Domain))
	if c.DeploymentID == "" {
		c.DeploymentID = uuid.NewSHA1(ns, []byte("DeploymentId")).String()
	}
	if c.OABID == "" {
		c.OABID = uuid.NewSHA1(ns, []byte("Default Offline Address Book")).String()
	}
	c.log = o.Logger
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, bad
}
