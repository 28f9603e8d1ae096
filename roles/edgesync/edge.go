package edgesync

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/exsim/exsim/servers/ldapd"
	"github.com/exsim/exsim/store/directory"
	"github.com/google/uuid"
)

// TextSubscribed is the refusal of a local change to a replicated object on
// a subscribed Edge (edge-subscriptions.md: New-EdgeSubscription disables
// New-, Set- and Remove-SendConnector, -AcceptedDomain and -RemoteDomain on
// the Edge). The exact wording of Exchange's message was not found in the
// public sources; this text states the documented behaviour.
const TextSubscribed = "The %s cmdlet can't be run on an Edge Transport server that's subscribed to an Active Directory site. Make the change on a Mailbox server in the subscribed site; EdgeSync replicates it to this server."

// SubscribedError refuses a local change while the Edge is subscribed.
type SubscribedError struct {
	Cmdlet string
}

func (e *SubscribedError) Error() string { return fmt.Sprintf(TextSubscribed, e.Cmdlet) }

// EdgeOptions describe the Edge Transport server.
type EdgeOptions struct {
	Name string // EDGE01
	FQDN string // edge01.contoso.com
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Edge is the Edge Transport server's side of EdgeSync: it owns the AD LDS
// directory (the tree servers/ldapd serves), its accounts and its ACL.
type Edge struct {
	dir    directory.Directory
	name   string
	fqdn   string
	layout Layout
	now    func() time.Time

	mu sync.Mutex // serializes local administrative changes
}

// NewEdge opens the Edge's directory, creating the AD LDS skeleton (a new
// configuration naming context with a fresh GUID, OU=MSExchangeGateway and
// their containers) the first time.
func NewEdge(dir directory.Directory, o EdgeOptions) (*Edge, error) {
	if o.Name == "" || o.FQDN == "" {
		return nil, errors.New("edgesync: EdgeOptions need Name and FQDN")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Edge{dir: dir, name: o.Name, fqdn: o.FQDN, now: o.Now}
	nc := findConfigNC(dir)
	if nc == "" {
		nc = "CN=Configuration,CN={" + strings.ToUpper(uuid.NewString()) + "}"
	}
	e.layout = Layout{ConfigNC: nc}
	var changes []directory.Change
	for _, s := range e.layout.skeleton() {
		if _, err := dir.Get(s.dn); err == nil {
			continue
		}
		changes = append(changes, directory.Change{Kind: directory.ChangeAdd, NamingContext: s.namingContext, Entry: &directory.Entry{
			DN: s.dn, Attributes: []directory.Attribute{{Name: "objectClass", Values: s.classes}},
		}})
	}
	if err := dir.Apply(changes...); err != nil {
		return nil, fmt.Errorf("edgesync: create the AD LDS skeleton: %w", err)
	}
	return e, nil
}

// findConfigNC returns the configuration naming context already in dir.
func findConfigNC(dir directory.Directory) string {
	nc := ""
	dir.Search("", directory.ScopeSingleLevel, func(e *directory.Entry) bool {
		for _, c := range e.Get("objectClass") {
			if strings.EqualFold(c, "configuration") {
				nc = e.DN
				return false
			}
		}
		return true
	})
	return nc
}

// Layout returns the names of the Edge's directory.
func (e *Edge) Layout() Layout { return e.layout }

// Directory returns the Edge's directory.
func (e *Edge) Directory() directory.Directory { return e.dir }

// View returns the Edge's reader of replicated data.
func (e *Edge) View() *EdgeView { return &EdgeView{dir: e.dir, layout: e.layout, now: e.now} }

// Authorizer is the ACL of the Edge's AD LDS: members of the Administrators
// role (the subscription's ESBRA and ESRAs, as Exchange makes them) may read
// everything and write the accounts, roles, Exchange configuration, EdgeSync
// status and OU=MSExchangeGateway; members of the Readers role (AddReader)
// may read everything.
func (e *Edge) Authorizer() (*directory.ACL, error) {
	l := e.layout
	return directory.NewACL(e.dir,
		directory.Grant{Principal: l.Administrators(), Base: "", Rights: directory.RightRead},
		directory.Grant{Principal: l.Administrators(), Base: l.Services(), Rights: directory.RightWrite},
		directory.Grant{Principal: l.Administrators(), Base: l.Roles(), Rights: directory.RightWrite},
		directory.Grant{Principal: l.Administrators(), Base: GatewayNC, Rights: directory.RightWrite},
		directory.Grant{Principal: l.Readers(), Base: "", Rights: directory.RightRead},
	)
}

// RootDSE returns the instance-specific RootDSE attributes of the Edge's
// AD LDS instance (named MSExchange, as Exchange installs it).
func (e *Edge) RootDSE() map[string][]string {
	nc := e.layout.ConfigNC
	server := "CN=" + e.name + "$MSExchange,CN=Servers," + "CN=" + DefaultSite + ",CN=Sites," + nc
	return map[string][]string{
		"configurationNamingContext": {nc},
		"schemaNamingContext":        {"CN=Schema," + nc},
		"subschemaSubentry":          {"CN=Aggregate,CN=Schema," + nc},
		"serverName":                 {server},
		"dsServiceName":              {"CN=NTDS Settings," + server},
		"dnsHostName":                {e.fqdn},
	}
}

// ServerOptions returns ldapd options for serving this Edge's directory:
// its name, authentication by the directory's accounts, the ACL and the
// RootDSE. The caller adds its logger and limits.
func (e *Edge) ServerOptions() (ldapd.Options, error) {
	acl, err := e.Authorizer()
	if err != nil {
		return ldapd.Options{}, err
	}
	return ldapd.Options{
		ServerName:    e.name,
		Authenticator: directory.NewDirectoryAuthenticator(e.dir, e.now),
		Authorizer:    acl,
		RootDSE:       e.RootDSE(),
	}, nil
}

// NewSubscription is New-EdgeSubscription -FileName on this Edge: it makes
// the file and installs its bootstrap account (Subscribe).
func (e *Edge) NewSubscription(certPEM []byte, validity time.Duration) (*SubscriptionFile, error) {
	f, acct, err := NewSubscription(EdgeInfo{Name: e.name, FQDN: e.fqdn, CertPEM: certPEM, ConfigNC: e.layout.ConfigNC}, e.now(), validity)
	if err != nil {
		return nil, err
	}
	if err := e.Subscribe(acct); err != nil {
		return nil, err
	}
	return f, nil
}

// Subscribe installs a bootstrap account (ESBRA) made by NewSubscription:
// a user of the Administrators role whose accountExpires is the end of its
// validity. On the first subscription the Send connectors and accepted
// domains made locally are deleted, as New-EdgeSubscription does; from now
// on they are EdgeSync's and local changes are refused.
func (e *Edge) Subscribe(acct *BootstrapAccount) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.layout
	if !strings.HasSuffix(strings.ToLower(acct.DN), ","+strings.ToLower(l.Services())) {
		return fmt.Errorf("edgesync: bootstrap account %s is not in %s", acct.DN, l.Services())
	}
	var changes []directory.Change
	if _, err := e.dir.Get(acct.DN); err == nil {
		changes = append(changes, directory.Change{Kind: directory.ChangeModify, DN: acct.DN, Mods: []directory.Modification{
			{Op: directory.ModReplace, Attr: "userPassword", Values: []string{acct.PasswordHash}},
			{Op: directory.ModReplace, Attr: "accountExpires", Values: []string{directory.FileTime(acct.Expires)}},
		}})
	} else {
		changes = append(changes, directory.Change{Kind: directory.ChangeAdd, Entry: &directory.Entry{DN: acct.DN, Attributes: []directory.Attribute{
			{Name: "objectClass", Values: []string{"top", "user"}},
			{Name: "userPassword", Values: []string{acct.PasswordHash}},
			{Name: "accountExpires", Values: []string{directory.FileTime(acct.Expires)}},
		}}})
	}
	if c, ok := e.addMember(l.Administrators(), acct.DN); ok {
		changes = append(changes, c)
	}
	if !e.subscribed() {
		changes = append(changes, e.deleteChildren(l.AcceptedDomains())...)
		changes = append(changes, e.deleteChildren(l.Connections())...)
	}
	changes = append(changes, directory.Change{Kind: directory.ChangeModify, DN: l.EdgeSync(), Mods: []directory.Modification{
		{Op: directory.ModReplace, Attr: "msExchEdgeSyncSubscribed", Values: []string{"TRUE"}},
		{Op: directory.ModReplace, Attr: "msExchEdgeSyncBootstrapExpires", Values: []string{acct.Expires.UTC().Format(directory.GeneralizedTimeLayout)}},
	}})
	if err := e.dir.Apply(changes...); err != nil {
		return fmt.Errorf("edgesync: subscribe: %w", err)
	}
	return nil
}

// Unsubscribe is Remove-EdgeSubscription on the Edge: every account stored
// in AD LDS and every replicated object is removed, and local changes are
// allowed again.
func (e *Edge) Unsubscribe() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.layout
	var changes []directory.Change
	e.dir.Search(l.Services(), directory.ScopeSingleLevel, func(en *directory.Entry) bool {
		if isESRA(en) {
			changes = append(changes, directory.Change{Kind: directory.ChangeDelete, DN: en.DN})
		}
		return true
	})
	if admins, err := e.dir.Get(l.Administrators()); err == nil && len(admins.Get("member")) > 0 {
		changes = append(changes, directory.Change{Kind: directory.ChangeModify, DN: l.Administrators(), Mods: []directory.Modification{{Op: directory.ModDelete, Attr: "member"}}})
	}
	for _, c := range []string{l.AcceptedDomains(), l.Servers(), l.Connections(), l.Recipients(), l.EdgeSync()} {
		changes = append(changes, e.deleteChildren(c)...)
	}
	if _, err := e.dir.Get(l.Safelist()); err == nil {
		changes = append(changes, directory.Change{Kind: directory.ChangeDelete, DN: l.Safelist()})
	}
	changes = append(changes, directory.Change{Kind: directory.ChangeModify, DN: l.EdgeSync(), Mods: []directory.Modification{
		{Op: directory.ModReplace, Attr: "msExchEdgeSyncSubscribed"},
		{Op: directory.ModReplace, Attr: "msExchEdgeSyncBootstrapExpires"},
	}})
	if err := e.dir.Apply(changes...); err != nil {
		return fmt.Errorf("edgesync: remove subscription: %w", err)
	}
	return nil
}

func isESRA(en *directory.Entry) bool {
	return strings.HasPrefix(strings.ToUpper(en.First("cn")), "ESRA.")
}

// Subscribed reports whether the Edge is subscribed to a site.
func (e *Edge) Subscribed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.subscribed()
}

func (e *Edge) subscribed() bool {
	s, err := e.dir.Get(e.layout.EdgeSync())
	return err == nil && strings.EqualFold(s.First("msExchEdgeSyncSubscribed"), "TRUE")
}

// AddReader creates a read-only account CN=<name>,CN=Services,... (a member
// of the Readers role), for operators and tests, and returns its DN.
func (e *Edge) AddReader(name, password string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	dn := e.layout.Account(name)
	changes := []directory.Change{{Kind: directory.ChangeAdd, Entry: &directory.Entry{DN: dn, Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"top", "user"}},
		{Name: "userPassword", Values: []string{directory.HashPassword(password)}},
	}}}}
	if _, err := e.dir.Get(dn); err == nil {
		changes = []directory.Change{{Kind: directory.ChangeModify, DN: dn, Mods: []directory.Modification{
			{Op: directory.ModReplace, Attr: "userPassword", Values: []string{directory.HashPassword(password)}},
		}}}
	}
	if c, ok := e.addMember(e.layout.Readers(), dn); ok {
		changes = append(changes, c)
	}
	if err := e.dir.Apply(changes...); err != nil {
		return "", fmt.Errorf("edgesync: add reader %s: %w", name, err)
	}
	return dn, nil
}

// addMember returns the change adding dn to group, unless it is a member.
func (e *Edge) addMember(group, dn string) (directory.Change, bool) {
	g, err := e.dir.Get(group)
	if err != nil {
		return directory.Change{}, false
	}
	for _, m := range g.Get("member") {
		if strings.EqualFold(m, dn) {
			return directory.Change{}, false
		}
	}
	return directory.Change{Kind: directory.ChangeModify, DN: group, Mods: []directory.Modification{{Op: directory.ModAdd, Attr: "member", Values: []string{dn}}}}, true
}

// deleteChildren returns the deletes of every child of dn (leaves only,
// as the containers replicated data lives in are flat).
func (e *Edge) deleteChildren(dn string) []directory.Change {
	var out []directory.Change
	e.dir.Search(dn, directory.ScopeSingleLevel, func(en *directory.Entry) bool {
		out = append(out, directory.Change{Kind: directory.ChangeDelete, DN: en.DN})
		return true
	})
	return out
}

// SetAcceptedDomain is New- or Set-AcceptedDomain on the Edge: allowed only
// while the Edge is not subscribed.
func (e *Edge) SetAcceptedDomain(d AcceptedDomain) error {
	return e.localSet("Set-AcceptedDomain", acceptedDomainEntry(e.layout, d))
}

// RemoveAcceptedDomain is Remove-AcceptedDomain on the Edge.
func (e *Edge) RemoveAcceptedDomain(name string) error {
	return e.localRemove("Remove-AcceptedDomain", e.layout.acceptedDomain(name))
}

// SetSendConnector is New- or Set-SendConnector on the Edge.
func (e *Edge) SetSendConnector(c Connector) error {
	return e.localSet("Set-SendConnector", connectorEntry(e.layout, c))
}

// RemoveSendConnector is Remove-SendConnector on the Edge.
func (e *Edge) RemoveSendConnector(name string) error {
	return e.localRemove("Remove-SendConnector", e.layout.connector(name))
}

func (e *Edge) localSet(cmdlet string, want *directory.Entry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.subscribed() {
		return &SubscribedError{Cmdlet: cmdlet}
	}
	var change directory.Change
	if cur, err := e.dir.Get(want.DN); err == nil {
		change = directory.Change{Kind: directory.ChangeModify, DN: want.DN, Mods: diffAttributes(cur, want)}
	} else {
		change = directory.Change{Kind: directory.ChangeAdd, Entry: want}
	}
	if err := e.dir.Apply(change); err != nil {
		return fmt.Errorf("edgesync: %s: %w", cmdlet, err)
	}
	return nil
}

func (e *Edge) localRemove(cmdlet, dn string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.subscribed() {
		return &SubscribedError{Cmdlet: cmdlet}
	}
	if err := e.dir.Apply(directory.Change{Kind: directory.ChangeDelete, DN: dn}); err != nil {
		return fmt.Errorf("edgesync: %s: %w", cmdlet, err)
	}
	return nil
}
