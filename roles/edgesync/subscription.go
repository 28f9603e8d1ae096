package edgesync

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/store/directory"
	"github.com/go-ldap/ldap/v3"
)

// DefaultBootstrapValidity is how long the bootstrap account of a new
// subscription file is valid (New-EdgeSubscription -AccountExpiryDuration);
// MinBootstrapValidity is the least the cmdlet accepts.
const (
	DefaultBootstrapValidity = 24 * time.Hour
	MinBootstrapValidity     = 2 * time.Minute
)

// EdgeInfo is what New-EdgeSubscription on the Edge puts in the file.
type EdgeInfo struct {
	Name string // NetBIOS name, EDGE01
	FQDN string
	// CertPEM is the Edge's certificate; its DER form is the file's
	// EdgeCertificateBlob.
	CertPEM []byte
	// ConfigNC is the configuration naming context of the Edge's AD LDS
	// instance (Edge.Layout().ConfigNC): the file names the bootstrap
	// account by its DN, as Exchange does.
	ConfigNC string
	// AdamSSLPort defaults to 50636.
	AdamSSLPort int
	// Build is the Edge's Exchange build, "15.2.1118.7" by default
	// (Exchange 2019); "15.1.x.y" is Exchange 2016.
	Build string
}

// SubscriptionFile is the EdgeSubscriptionData XML document New-EdgeSubscription
// exports on the Edge (element names and order of Exchange's
// EdgeSubscriptionData serializer). ESRAUsername and ESRAPassword are the
// bootstrap account's (ESBRA), in clear text as in Exchange's file.
type SubscriptionFile struct {
	XMLName               xml.Name `xml:"EdgeSubscriptionData"`
	XMLNSXSI              string   `xml:"xmlns:xsi,attr,omitempty"`
	XMLNSXSD              string   `xml:"xmlns:xsd,attr,omitempty"`
	EdgeServerName        string   `xml:"EdgeServerName"`
	EdgeServerFQDN        string   `xml:"EdgeServerFQDN"`
	EdgeCertificateBlob   string   `xml:"EdgeCertificateBlob"` // base64 of the DER certificate
	PfxKPKCertificateBlob string   `xml:"PfxKPKCertificateBlob,omitempty"`
	ESRAUsername          string   `xml:"ESRAUsername"`
	ESRAPassword          string   `xml:"ESRAPassword"`
	EffectiveDate         int64    `xml:"EffectiveDate"` // .NET DateTime ticks, UTC
	Duration              int64    `xml:"Duration"`      // .NET TimeSpan ticks
	AdamSslPort           int      `xml:"AdamSslPort"`
	ServerType            string   `xml:"ServerType"`
	ProductID             string   `xml:"ProductID"`
	VersionNumber         int      `xml:"VersionNumber"`
	SerialNumber          string   `xml:"SerialNumber"`
}

// .NET ticks are 100 ns intervals since 0001-01-01 UTC.
const unixEpochTicks = 621355968000000000

func dotnetTicks(t time.Time) int64 { return t.UnixNano()/100 + unixEpochTicks }

func fromTicks(ticks int64) time.Time { return time.Unix(0, (ticks-unixEpochTicks)*100).UTC() }

// Effective returns when the file was made.
func (f *SubscriptionFile) Effective() time.Time { return fromTicks(f.EffectiveDate) }

// Expires returns when the file's bootstrap account expires.
func (f *SubscriptionFile) Expires() time.Time {
	return f.Effective().Add(time.Duration(f.Duration) * 100)
}

// Marshal returns the file as New-EdgeSubscription writes it.
func (f *SubscriptionFile) Marshal() ([]byte, error) {
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("edgesync: subscription file: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// ParseSubscriptionFile reads an EdgeSubscriptionData document.
func ParseSubscriptionFile(data []byte) (*SubscriptionFile, error) {
	var f SubscriptionFile
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(&f); err != nil {
		return nil, fmt.Errorf("edgesync: subscription file: %w", err)
	}
	return &f, nil
}

// certificate returns the Edge certificate the file carries.
func (f *SubscriptionFile) certificate() (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(f.EdgeCertificateBlob))
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// BootstrapAccount is the Edge side of a new subscription: the ESBRA to
// install in the Edge's directory (Edge.Subscribe). The password is kept
// only as a hash.
type BootstrapAccount struct {
	DN           string
	PasswordHash string
	Expires      time.Time
}

// NewSubscription is New-EdgeSubscription -FileName on the Edge: it makes
// the bootstrap account (valid for validity, 24 hours when zero) and the
// file that carries it with the Edge certificate.
func NewSubscription(edge EdgeInfo, now time.Time, validity time.Duration) (*SubscriptionFile, *BootstrapAccount, error) {
	if validity == 0 {
		validity = DefaultBootstrapValidity
	}
	if validity < MinBootstrapValidity {
		return nil, nil, fmt.Errorf("edgesync: bootstrap account validity %v is below the minimum of %v", validity, MinBootstrapValidity)
	}
	if edge.Name == "" || edge.FQDN == "" || edge.ConfigNC == "" {
		return nil, nil, errors.New("edgesync: EdgeInfo needs Name, FQDN and ConfigNC")
	}
	block, _ := pem.Decode(edge.CertPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, errors.New("edgesync: EdgeInfo.CertPEM holds no certificate")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, nil, fmt.Errorf("edgesync: Edge certificate: %w", err)
	}
	port := edge.AdamSSLPort
	if port == 0 {
		port = DefaultAdamSSLPort
	}
	build := edge.Build
	if build == "" {
		build = "15.2.1118.7"
	}
	major, minor, bld, rev := parseBuild(build)
	password := randomPassword()
	now = now.UTC()
	l := Layout{ConfigNC: edge.ConfigNC}
	f := &SubscriptionFile{
		XMLNSXSI:            "http://www.w3.org/2001/XMLSchema-instance",
		XMLNSXSD:            "http://www.w3.org/2001/XMLSchema",
		EdgeServerName:      edge.Name,
		EdgeServerFQDN:      edge.FQDN,
		EdgeCertificateBlob: base64.StdEncoding.EncodeToString(block.Bytes),
		ESRAUsername:        l.Account(BootstrapAccountName(edge.Name)),
		ESRAPassword:        password,
		EffectiveDate:       dotnetTicks(now),
		Duration:            int64(validity / 100),
		AdamSslPort:         port,
		ServerType:          "Edge",
		VersionNumber:       major<<22 | minor<<16 | bld&0x7fff,
		SerialNumber:        fmt.Sprintf("Version %d.%d (Build %d.%d)", major, minor, bld, rev),
	}
	acct := &BootstrapAccount{DN: f.ESRAUsername, PasswordHash: directory.HashPassword(password), Expires: now.Add(validity)}
	return f, acct, nil
}

func parseBuild(s string) (major, minor, build, rev int) {
	parts := strings.Split(s, ".")
	v := make([]int, 4)
	for i := 0; i < len(parts) && i < 4; i++ {
		v[i], _ = strconv.Atoi(parts[i])
	}
	return v[0], v[1], v[2], v[3]
}

// randomPassword returns a password of 32 random characters (Exchange's
// AdamUserManagement.GeneratePassword makes random ones too).
func randomPassword() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Account is a replication account as a Mailbox server holds it.
type Account struct {
	Server       string `json:"server"`
	Username     string `json:"username"` // DN on the Edge
	PasswordHash string `json:"password_hash"`
}

// Credentials are what importing a subscription file gives one Mailbox
// server: its own ESRA, the bootstrap account (used once, for the initial
// replication, by whichever participant runs first), and every
// participant's ESRA as a hash, which the initial replication installs on
// the Edge. A Mailbox server stores them in DATA/<SERVER>/ (Save).
type Credentials struct {
	Server   string `json:"server"`
	EdgeName string `json:"edge_name"`
	EdgeFQDN string `json:"edge_fqdn"`
	EdgePort int    `json:"edge_port"`

	Username string `json:"username"` // this server's ESRA DN
	Password string `json:"password"`

	BootstrapUsername string    `json:"bootstrap_username"`
	BootstrapPassword string    `json:"bootstrap_password"`
	BootstrapExpires  time.Time `json:"bootstrap_expires"`

	Participants []Account `json:"participants"`
	Effective    time.Time `json:"effective"`
}

// Import is New-EdgeSubscription -FileData on a Mailbox server: it checks
// the file (complete, certificate readable, bootstrap account not expired)
// and makes one ESRA per participating Mailbox server, ESRA.<edge>.<server>.0.
// Mailbox servers of the site that are not in participants (added after
// the subscription) get nothing: they take part only once the subscription
// is renewed, that is a new file imported with them in participants.
func Import(file *SubscriptionFile, participants []Server, now time.Time) (map[string]*Credentials, error) {
	if file.EdgeServerName == "" || file.EdgeServerFQDN == "" || file.ESRAUsername == "" || file.ESRAPassword == "" {
		return nil, errors.New("edgesync: the Edge Subscription file is not valid: it lacks the Edge's name, FQDN or bootstrap credentials")
	}
	if _, err := file.certificate(); err != nil {
		return nil, fmt.Errorf("edgesync: the Edge Subscription file is not valid: Edge certificate: %w", err)
	}
	if exp := file.Expires(); !now.Before(exp) {
		return nil, fmt.Errorf("edgesync: the Edge Subscription file expired at %s; run New-EdgeSubscription on %s again", exp.Format(time.RFC3339), file.EdgeServerName)
	}
	if len(participants) == 0 {
		return nil, errors.New("edgesync: no Mailbox server takes part in the subscription")
	}
	dn, err := ldap.ParseDN(file.ESRAUsername)
	if err != nil || len(dn.RDNs) < 2 {
		return nil, fmt.Errorf("edgesync: the Edge Subscription file is not valid: ESRAUsername %q is not a DN", file.ESRAUsername)
	}
	services := file.ESRAUsername[strings.Index(file.ESRAUsername, ",")+1:]
	port := file.AdamSslPort
	if port == 0 {
		port = DefaultAdamSSLPort
	}
	passwords := make(map[string]string)
	var accounts []Account
	for _, p := range participants {
		if p.Name == "" {
			return nil, errors.New("edgesync: participant without a name")
		}
		if _, dup := passwords[p.Name]; dup {
			return nil, fmt.Errorf("edgesync: participant %s listed twice", p.Name)
		}
		pw := randomPassword()
		passwords[p.Name] = pw
		accounts = append(accounts, Account{
			Server:       p.Name,
			Username:     "CN=" + ldap.EscapeDN(ReplicationAccountName(file.EdgeServerName, p.Name, 0)) + "," + services,
			PasswordHash: directory.HashPassword(pw),
		})
	}
	out := make(map[string]*Credentials, len(participants))
	for _, a := range accounts {
		out[a.Server] = &Credentials{
			Server:            a.Server,
			EdgeName:          file.EdgeServerName,
			EdgeFQDN:          file.EdgeServerFQDN,
			EdgePort:          port,
			Username:          a.Username,
			Password:          passwords[a.Server],
			BootstrapUsername: file.ESRAUsername,
			BootstrapPassword: file.ESRAPassword,
			BootstrapExpires:  file.Expires(),
			Participants:      accounts,
			Effective:         file.Effective(),
		}
	}
	return out, nil
}

// CredentialsFile is the file name a Mailbox server keeps its credentials
// under, in DATA/<SERVER>/.
const CredentialsFile = "edgesync-credentials.json"

// Save writes c to path (mode 0600, atomically).
func (c *Credentials) Save(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("edgesync: credentials: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("edgesync: credentials: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".edgesync-*")
	if err != nil {
		return fmt.Errorf("edgesync: credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(b, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("edgesync: credentials %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("edgesync: credentials %s: %w", path, err)
	}
	return nil
}

// LoadCredentials reads credentials written by Save.
func LoadCredentials(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("edgesync: credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("edgesync: credentials %s: %w", path, err)
	}
	if c.Username == "" || c.Password == "" {
		return nil, fmt.Errorf("edgesync: credentials %s: no replication account", path)
	}
	return &c, nil
}
