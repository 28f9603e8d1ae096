package edgesync

import (
	"slices"
	"strings"
	"time"

	"github.com/exsim/exsim/store/directory"
)

// Attributes of the sync status entry (Layout.SyncStatus), written by the
// Mailbox server at the end of a successful sync.
const (
	attrOrganization   = "o"
	attrSite           = "msExchEdgeSyncSite"
	attrConfigTime     = "msExchEdgeSyncConfigurationTime"
	attrRecipientTime  = "msExchEdgeSyncRecipientTime"
	attrSourceServer   = "msExchEdgeSyncSourceServer"
	attrSafeSenders    = "msExchSafeSendersHash"
	attrBlockedSenders = "msExchBlockedSendersHash"
)

// EdgeView answers the Edge's questions from the replicated data in its
// directory. It reads the directory on every call, so it always reflects
// the last sync, and goes on answering from the last data when the Mailbox
// servers stop syncing.
type EdgeView struct {
	dir    directory.Directory
	layout Layout
	now    func() time.Time
}

func (v *EdgeView) children(dn string, fn func(*directory.Entry)) {
	v.dir.Search(dn, directory.ScopeSingleLevel, func(e *directory.Entry) bool {
		fn(e)
		return true
	})
}

// AcceptedDomains returns the accepted domains, sorted by name.
func (v *EdgeView) AcceptedDomains() []AcceptedDomain {
	var out []AcceptedDomain
	v.children(v.layout.AcceptedDomains(), func(e *directory.Entry) {
		if d, ok := parseAcceptedDomain(e); ok {
			out = append(out, d)
		}
	})
	slices.SortFunc(out, func(a, b AcceptedDomain) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// AcceptedDomain returns the accepted domain that covers domain: the exact
// name, else the most specific wildcard ("*.contoso.com" covers
// "sales.contoso.com").
func (v *EdgeView) AcceptedDomain(domain string) (AcceptedDomain, bool) {
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	var best AcceptedDomain
	found := false
	for _, d := range v.AcceptedDomains() {
		name := strings.ToLower(d.Name)
		switch {
		case name == domain:
			return d, true
		case strings.HasPrefix(name, "*.") && strings.HasSuffix(domain, name[1:]):
			if !found || len(name) > len(best.Name) {
				best, found = d, true
			}
		}
	}
	return best, found
}

// IsAuthoritative reports whether domain is an authoritative accepted
// domain: the domains whose unknown recipients the Edge rejects with
// recipient validation on.
func (v *EdgeView) IsAuthoritative(domain string) bool {
	d, ok := v.AcceptedDomain(domain)
	return ok && d.Type == Authoritative
}

// KnownRecipient looks addr up in the replicated recipients. haveData is
// false until the first recipient sync: the Edge must then accept the
// recipient rather than reject it (the lookup has nothing to go by).
func (v *EdgeView) KnownRecipient(addr string) (known, haveData bool) {
	if v.LastRecipientSync().IsZero() {
		return false, false
	}
	err := v.dir.Search(v.layout.recipient(HashAddress(addr)), directory.ScopeBaseObject, func(*directory.Entry) bool {
		known = true
		return false
	})
	return err == nil && known, true
}

// RecipientUnknown reports whether recipient validation rejects addr: its
// domain is an authoritative accepted domain, recipient data has arrived,
// and addr is not among it. The SMTP server answers such a recipient with
// "550 5.1.1 User unknown" (EXCHANGE.md section 7).
func (v *EdgeView) RecipientUnknown(addr string) bool {
	_, domain, ok := strings.Cut(addr, "@")
	if !ok || !v.IsAuthoritative(domain) {
		return false
	}
	known, haveData := v.KnownRecipient(addr)
	return haveData && !known
}

// RecipientCount returns the number of replicated recipient hashes.
func (v *EdgeView) RecipientCount() int {
	n := 0
	v.children(v.layout.Recipients(), func(*directory.Entry) { n++ })
	return n
}

// ConfigCount returns the number of replicated configuration entries:
// accepted domains, Mailbox servers and Send connectors.
func (v *EdgeView) ConfigCount() int {
	n := 0
	for _, c := range []string{v.layout.AcceptedDomains(), v.layout.Servers(), v.layout.Connections()} {
		v.children(c, func(*directory.Entry) { n++ })
	}
	return n
}

// IsSafeSender reports whether addr, or its domain, is on the safe senders
// list; IsBlockedSender likewise for the blocked senders list.
func (v *EdgeView) IsSafeSender(addr string) bool { return v.onList(attrSafeSenders, addr) }

// IsBlockedSender reports whether addr, or its domain, is blocked.
func (v *EdgeView) IsBlockedSender(addr string) bool { return v.onList(attrBlockedSenders, addr) }

func (v *EdgeView) onList(attr, addr string) bool {
	e, err := v.dir.Get(v.layout.Safelist())
	if err != nil {
		return false
	}
	list := e.Get(attr)
	if slices.Contains(list, HashAddress(addr)) {
		return true
	}
	if _, domain, ok := strings.Cut(addr, "@"); ok {
		return slices.Contains(list, HashAddress(domain))
	}
	return false
}

// MailboxServers returns the participating Mailbox servers of the
// subscribed site, sorted by name: the smart hosts "--" of
// "EdgeSync - Inbound to <site>".
func (v *EdgeView) MailboxServers() []Server {
	var out []Server
	for _, s := range v.SiteServers() {
		if s.Participant {
			out = append(out, s)
		}
	}
	return out
}

// SiteServers returns every Mailbox server of the subscribed site that
// EdgeSync named, participants or not, sorted by name.
func (v *EdgeView) SiteServers() []Server {
	var out []Server
	v.children(v.layout.Servers(), func(e *directory.Entry) { out = append(out, parseServer(e)) })
	slices.SortFunc(out, func(a, b Server) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SendConnectors returns the replicated Send connectors, sorted by name.
func (v *EdgeView) SendConnectors() []Connector {
	var out []Connector
	v.children(v.layout.Connections(), func(e *directory.Entry) { out = append(out, parseConnector(e)) })
	slices.SortFunc(out, func(a, b Connector) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SendConnector returns the Send connector named name.
func (v *EdgeView) SendConnector(name string) (Connector, bool) {
	e, err := v.dir.Get(v.layout.connector(name))
	if err != nil {
		return Connector{}, false
	}
	return parseConnector(e), true
}

// Organization returns the organization and site names of the last
// configuration sync.
func (v *EdgeView) Organization() (org, site string) {
	e, err := v.dir.Get(v.layout.SyncStatus())
	if err != nil {
		return "", ""
	}
	return e.First(attrOrganization), e.First(attrSite)
}

func (v *EdgeView) statusTime(attr string) time.Time {
	e, err := v.dir.Get(v.layout.SyncStatus())
	if err != nil {
		return time.Time{}
	}
	t, err := time.Parse(directory.GeneralizedTimeLayout, e.First(attr))
	if err != nil {
		return time.Time{}
	}
	return t
}

// LastConfigSync returns when configuration data last arrived (zero: never).
func (v *EdgeView) LastConfigSync() time.Time { return v.statusTime(attrConfigTime) }

// LastRecipientSync returns when recipient data last arrived (zero: never).
func (v *EdgeView) LastRecipientSync() time.Time { return v.statusTime(attrRecipientTime) }

// LastSync returns the later of the two.
func (v *EdgeView) LastSync() time.Time {
	c, r := v.LastConfigSync(), v.LastRecipientSync()
	if r.After(c) {
		return r
	}
	return c
}

// Stale reports whether no sync arrived within maxAge (or none ever did).
func (v *EdgeView) Stale(maxAge time.Duration) bool {
	last := v.LastSync()
	return last.IsZero() || v.now().Sub(last) > maxAge
}
