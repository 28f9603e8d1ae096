package edgesync

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/exsim/exsim/store/directory"
	"github.com/go-ldap/ldap/v3"
)

// pageSize is the page of the searches that read the Edge's current data
// (below AD's MaxPageSize of 1000).
const pageSize = 500

type result struct {
	configEntries    int
	recipientEntries int
}

// session is one EdgeSync session: connect through Dial, TLS, bind (with
// the initial replication if the ESRA is not installed yet), converge the
// kinds asked for, and record the sync on the Edge.
func (s *Syncer) session(ctx context.Context, kinds int) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.SessionTimeout)
	defer cancel()
	cfg, rcpt, err := s.o.Snapshot(ctx)
	if err != nil {
		return result{}, fmt.Errorf("edgesync: snapshot: %w", err)
	}
	l, err := s.connect(ctx)
	if err != nil {
		return result{}, err
	}
	defer l.Close()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()

	if err := s.bind(l); err != nil {
		return result{}, err
	}
	layout, err := readLayout(l)
	if err != nil {
		return result{}, err
	}
	var res result
	if kinds&syncConfig != 0 {
		if res.configEntries, err = convergeConfig(l, layout, cfg); err != nil {
			return res, err
		}
	}
	if kinds&syncRecipients != 0 {
		if res.recipientEntries, err = convergeRecipients(l, layout, rcpt); err != nil {
			return res, err
		}
	}
	if err := s.writeStatus(l, layout, cfg, kinds); err != nil {
		return res, err
	}
	return res, nil
}

// connect opens the secure LDAP session; every connection goes through
// Options.Dial.
func (s *Syncer) connect(ctx context.Context) (*ldap.Conn, error) {
	conn, err := s.o.Dial(ctx, "tcp", s.o.EdgeAddress)
	if err != nil {
		return nil, fmt.Errorf("edgesync: connect to %s: %w", s.o.EdgeAddress, err)
	}
	cfg := s.o.TLSConfig
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = s.o.Credentials.EdgeFQDN
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("edgesync: TLS with %s: %w", s.o.EdgeAddress, err)
	}
	l := ldap.NewConn(tc, true)
	l.Start()
	l.SetTimeout(s.o.SessionTimeout)
	return l, nil
}

// bind binds with this server's ESRA. An ESRA the Edge does not know yet
// means the initial replication has not run: bind with the bootstrap
// account, install every participant's ESRA, remove the bootstrap account
// (it is used once) and bind again with the ESRA.
func (s *Syncer) bind(l *ldap.Conn) error {
	c := s.o.Credentials
	err := l.Bind(c.Username, c.Password)
	if err == nil {
		return nil
	}
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return fmt.Errorf("edgesync: bind as %s: %w", c.Username, err)
	}
	if c.BootstrapPassword == "" {
		return fmt.Errorf("edgesync: bind as %s: %w", c.Username, err)
	}
	if !s.o.Now().Before(c.BootstrapExpires) {
		return fmt.Errorf("edgesync: the Edge refused %s and the bootstrap account expired at %s: renew the Edge Subscription", c.Username, c.BootstrapExpires.UTC().Format("2006-01-02 15:04:05Z"))
	}
	if berr := l.Bind(c.BootstrapUsername, c.BootstrapPassword); berr != nil {
		return fmt.Errorf("edgesync: bind as %s: %w (bootstrap account: %v)", c.Username, err, berr)
	}
	layout, err := readLayout(l)
	if err != nil {
		return err
	}
	if err := installAccounts(l, layout, c); err != nil {
		return err
	}
	if err := l.Bind(c.Username, c.Password); err != nil {
		return fmt.Errorf("edgesync: bind as %s after the initial replication: %w", c.Username, err)
	}
	s.log.Info("initial replication: replication accounts installed, bootstrap account removed")
	return nil
}

// readLayout reads the configuration naming context from the RootDSE.
func readLayout(l *ldap.Conn) (Layout, error) {
	res, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"configurationNamingContext"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return Layout{}, fmt.Errorf("edgesync: read the RootDSE: %v", err)
	}
	nc := res.Entries[0].GetEqualFoldAttributeValue("configurationNamingContext")
	if nc == "" {
		return Layout{}, errors.New("edgesync: the Edge's RootDSE names no configurationNamingContext")
	}
	return Layout{ConfigNC: nc}, nil
}

// installAccounts makes the participants' ESRAs members of the
// Administrators role, drops ESRAs of this Edge that no longer take part,
// and deletes the bootstrap account.
func installAccounts(l *ldap.Conn, layout Layout, c *Credentials) error {
	prefix := "ESRA." + c.EdgeName + "."
	have, err := children(l, layout.Services(), "(objectClass=user)", []string{"cn"})
	if err != nil {
		return err
	}
	want := make(map[string]Account)
	for _, a := range c.Participants {
		want[strings.ToLower(a.Username)] = a
	}
	for _, a := range c.Participants {
		if _, ok := have[strings.ToLower(a.Username)]; ok {
			mr := ldap.NewModifyRequest(a.Username, nil)
			mr.Replace("userPassword", []string{a.PasswordHash})
			if err := l.Modify(mr); err != nil {
				return fmt.Errorf("edgesync: update %s: %w", a.Username, err)
			}
			continue
		}
		ar := ldap.NewAddRequest(a.Username, nil)
		ar.Attribute("objectClass", []string{"top", "user"})
		ar.Attribute("userPassword", []string{a.PasswordHash})
		if err := l.Add(ar); err != nil {
			return fmt.Errorf("edgesync: add %s: %w", a.Username, err)
		}
	}
	var stale []string
	for k, e := range have {
		cn := e.First("cn")
		if _, keep := want[k]; !keep && strings.HasPrefix(strings.ToUpper(cn), strings.ToUpper(prefix)) {
			stale = append(stale, e.DN)
		}
	}
	slices.Sort(stale)
	for _, dn := range stale {
		if err := l.Del(ldap.NewDelRequest(dn, nil)); err != nil {
			return fmt.Errorf("edgesync: delete %s: %w", dn, err)
		}
	}
	// Deleting the bootstrap account while bound with it is allowed; the
	// session keeps its rights until the role membership goes below.
	if err := l.Del(ldap.NewDelRequest(c.BootstrapUsername, nil)); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return fmt.Errorf("edgesync: delete the bootstrap account: %w", err)
	}
	return setMembers(l, layout.Administrators(), c, stale)
}

// setMembers adds the participants to the Administrators role and removes
// the stale accounts and the bootstrap account from it.
func setMembers(l *ldap.Conn, group string, c *Credentials, stale []string) error {
	res, err := l.Search(ldap.NewSearchRequest(group, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"member"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return fmt.Errorf("edgesync: read %s: %v", group, err)
	}
	current := res.Entries[0].GetEqualFoldAttributeValues("member")
	has := func(dn string) bool {
		return slices.ContainsFunc(current, func(m string) bool { return strings.EqualFold(m, dn) })
	}
	mr := ldap.NewModifyRequest(group, nil)
	var add, del []string
	for _, a := range c.Participants {
		if !has(a.Username) {
			add = append(add, a.Username)
		}
	}
	for _, dn := range append(stale, c.BootstrapUsername) {
		if has(dn) {
			del = append(del, dn)
		}
	}
	if len(add) > 0 {
		mr.Add("member", add)
	}
	if len(del) > 0 {
		mr.Delete("member", del)
	}
	if len(add)+len(del) == 0 {
		return nil
	}
	if err := l.Modify(mr); err != nil {
		return fmt.Errorf("edgesync: update %s: %w", group, err)
	}
	return nil
}

// convergeConfig converges the accepted domains, Mailbox servers and Send
// connectors; it returns how many entries the Edge now holds.
func convergeConfig(l *ldap.Conn, layout Layout, cfg Config) (int, error) {
	desired, err := configEntries(layout, cfg)
	if err != nil {
		return 0, err
	}
	current := make(map[string]*directory.Entry)
	for _, c := range []string{layout.AcceptedDomains(), layout.Servers(), layout.Connections()} {
		got, err := children(l, c, "(objectClass=*)", []string{"*"})
		if err != nil {
			return 0, err
		}
		for k, e := range got {
			current[k] = e
		}
	}
	if err := converge(l, desired, current); err != nil {
		return 0, err
	}
	return len(desired), nil
}

// convergeRecipients converges the recipient hashes and the safelist.
func convergeRecipients(l *ldap.Conn, layout Layout, r Recipients) (int, error) {
	desired, err := recipientEntries(layout, r)
	if err != nil {
		return 0, err
	}
	current, err := children(l, layout.Recipients(), "(objectClass=*)", []string{"objectClass", "cn"})
	if err != nil {
		return 0, err
	}
	if err := converge(l, desired, current); err != nil {
		return 0, err
	}
	safe := safelistEntry(layout, r)
	cur, err := base(l, safe.DN)
	if err != nil {
		return 0, err
	}
	if err := converge(l, []*directory.Entry{safe}, cur); err != nil {
		return 0, err
	}
	return len(desired), nil
}

// writeStatus records the sync on the Edge (EdgeView.LastSync and
// Organization read it).
func (s *Syncer) writeStatus(l *ldap.Conn, layout Layout, cfg Config, kinds int) error {
	now := s.o.Now().UTC().Format(directory.GeneralizedTimeLayout)
	cur, err := base(l, layout.SyncStatus())
	if err != nil {
		return err
	}
	want := &directory.Entry{DN: layout.SyncStatus(), Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"top", "container"}},
		{Name: "cn", Values: []string{"Sync Status"}},
	}}
	if old, ok := cur[strings.ToLower(want.DN)]; ok {
		for _, a := range []string{attrConfigTime, attrRecipientTime} {
			want.Set(a, old.Get(a)...)
		}
	}
	if kinds&syncConfig != 0 {
		want.Set(attrOrganization, nonEmpty(cfg.Organization)...)
		want.Set(attrSite, nonEmpty(cfg.Site)...)
		want.Set(attrConfigTime, now)
	} else if old, ok := cur[strings.ToLower(want.DN)]; ok {
		want.Set(attrOrganization, old.Get(attrOrganization)...)
		want.Set(attrSite, old.Get(attrSite)...)
	}
	if kinds&syncRecipients != 0 {
		want.Set(attrRecipientTime, now)
	}
	want.Set(attrSourceServer, s.o.Credentials.Server)
	return converge(l, []*directory.Entry{want}, cur)
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// converge adds the desired entries the Edge lacks, modifies the ones that
// differ and deletes the current ones that are not desired. Another
// participant syncing at the same moment may have done a step already
// (Exchange serializes them with a lease; here they simply tolerate each
// other): an add that finds the entry, or a modify or delete that does not,
// is not an error.
func converge(l *ldap.Conn, desired []*directory.Entry, current map[string]*directory.Entry) error {
	for _, want := range desired {
		k := strings.ToLower(want.DN)
		have, ok := current[k]
		delete(current, k)
		if !ok {
			ar := ldap.NewAddRequest(want.DN, nil)
			for _, a := range want.Attributes {
				ar.Attribute(a.Name, a.Values)
			}
			if err := l.Add(ar); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
				return fmt.Errorf("edgesync: add %s: %w", want.DN, err)
			}
			continue
		}
		mods := diffAttributes(have, want)
		if len(mods) == 0 {
			continue
		}
		mr := ldap.NewModifyRequest(want.DN, nil)
		for _, m := range mods {
			mr.Replace(m.Attr, m.Values)
		}
		if err := l.Modify(mr); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return fmt.Errorf("edgesync: modify %s: %w", want.DN, err)
		}
	}
	stale := make([]string, 0, len(current))
	for _, e := range current {
		stale = append(stale, e.DN)
	}
	slices.Sort(stale)
	for _, dn := range stale {
		if err := l.Del(ldap.NewDelRequest(dn, nil)); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return fmt.Errorf("edgesync: delete %s: %w", dn, err)
		}
	}
	return nil
}

// diffAttributes returns the replacements that turn have's attributes into
// want's. The directory's own attributes and passwords are left alone.
func diffAttributes(have, want *directory.Entry) []directory.Modification {
	var mods []directory.Modification
	seen := make(map[string]bool)
	for _, a := range want.Attributes {
		seen[strings.ToLower(a.Name)] = true
		if !sameValues(have.Get(a.Name), a.Values) {
			mods = append(mods, directory.Modification{Op: directory.ModReplace, Attr: a.Name, Values: a.Values})
		}
	}
	for _, a := range have.Attributes {
		if seen[strings.ToLower(a.Name)] || directory.IsSystemAttribute(a.Name) || directory.IsPasswordAttribute(a.Name) {
			continue
		}
		mods = append(mods, directory.Modification{Op: directory.ModReplace, Attr: a.Name})
	}
	return mods
}

func sameValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// children reads the entries one level below dn, by pages.
func children(l *ldap.Conn, dn, filter string, attrs []string) (map[string]*directory.Entry, error) {
	res, err := l.SearchWithPaging(ldap.NewSearchRequest(dn, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil), pageSize)
	if err != nil {
		return nil, fmt.Errorf("edgesync: read %s: %w", dn, err)
	}
	return toEntries(res.Entries), nil
}

// base reads the entry dn itself; an absent entry is an empty map.
func base(l *ldap.Conn, dn string) (map[string]*directory.Entry, error) {
	res, err := l.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"*"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return map[string]*directory.Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("edgesync: read %s: %w", dn, err)
	}
	return toEntries(res.Entries), nil
}

func toEntries(in []*ldap.Entry) map[string]*directory.Entry {
	out := make(map[string]*directory.Entry, len(in))
	for _, e := range in {
		d := &directory.Entry{DN: e.DN}
		for _, a := range e.Attributes {
			d.Attributes = append(d.Attributes, directory.Attribute{Name: a.Name, Values: a.Values})
		}
		out[strings.ToLower(e.DN)] = d
	}
	return out
}
