package topology

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// applyDefaults fills in what a file may leave out.
func (t *Topology) applyDefaults() {
	if t.Site == "" {
		t.Site = DefaultSite
	}
	if t.Version == 0 {
		t.Version = 2019
	}
	t.applyPersonaDefaults()
	if t.Timers.Profile == "" {
		t.Timers.Profile = ProfileLab
	}
	for i := range t.AcceptedDomains {
		t.AcceptedDomains[i] = strings.ToLower(strings.TrimSuffix(t.AcceptedDomains[i], "."))
	}
	for i := range t.Servers {
		s := &t.Servers[i]
		s.FQDN = strings.ToLower(strings.TrimSuffix(s.FQDN, "."))
		switch s.Role {
		case RoleMailbox:
			if s.Mailbox == nil {
				s.Mailbox = &MailboxOptions{}
			}
		case RoleEdge:
			if s.Edge == nil {
				s.Edge = &EdgeOptions{}
			}
		case RoleInternet:
			if s.Internet == nil {
				s.Internet = &InternetOptions{}
			}
			for j, d := range s.Internet.Domains {
				s.Internet.Domains[j] = strings.ToLower(strings.TrimSuffix(d, "."))
			}
		}
	}
	for i := range t.Mailboxes {
		m := &t.Mailboxes[i]
		m.Address = strings.ToLower(m.Address)
		if m.DisplayName == "" {
			local, _, _ := strings.Cut(m.Address, "@")
			if local != "" {
				m.DisplayName = strings.ToUpper(local[:1]) + local[1:]
			}
		}
	}
	for i := range t.SendConnectors {
		c := &t.SendConnectors[i]
		if c.Port == 0 {
			c.Port = 25
		}
		if c.Cost == 0 {
			c.Cost = 1
		}
	}
}

var (
	netbiosRe = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{0,14}$`)
	labelRe   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	zoneRe    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
)

// ValidDomain reports whether d is a syntactically valid DNS domain name of
// at least two labels.
func ValidDomain(d string) bool {
	d = strings.ToLower(d)
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !labelRe.MatchString(l) {
			return false
		}
	}
	return true
}

// ValidAddress reports whether a is a plausible SMTP address local@domain.
func ValidAddress(a string) bool {
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" || len(local) > 64 || strings.ContainsAny(local, " \t<>()[]\\,;:\"@") {
		return false
	}
	return ValidDomain(domain)
}

type validator struct{ errs Errors }

func (v *validator) errf(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks the topology; it is run by Parse and by the built-ins' tests.
func (t *Topology) Validate() error {
	if errs := t.validate(); len(errs) > 0 {
		return errs
	}
	return nil
}

func (t *Topology) validate() Errors {
	v := &validator{}
	if strings.TrimSpace(t.Organization) == "" {
		v.errf("organization", "required: the Exchange organization name, e.g. Contoso")
	}
	if t.Version != 2016 && t.Version != 2019 {
		v.errf("version", "%d is not an Exchange version exsim impersonates; use 2016 or 2019", t.Version)
	} else {
		t.validatePersona(v)
	}
	seen := map[string]string{}
	for i, d := range t.AcceptedDomains {
		key := fmt.Sprintf("accepted_domains[%d]", i)
		if !ValidDomain(d) {
			v.errf(key, "%q is not a domain name", d)
		} else if prev, dup := seen[d]; dup {
			v.errf(key, "%q is listed twice (first at %s)", d, prev)
		}
		seen[d] = key
	}
	t.validateZones(v)
	t.validateServers(v)
	t.validateMailboxes(v)
	t.validateConnectors(v)
	t.validateTimers(v)
	for i, c := range t.AllowOutside {
		if _, err := netip.ParsePrefix(c); err != nil {
			v.errf(fmt.Sprintf("allow_outside[%d]", i), "%q is not a network in CIDR form (e.g. 192.0.2.0/24)", c)
		}
	}
	return v.errs
}

func (t *Topology) validateZones(v *validator) {
	if len(t.Zones) == 0 {
		v.errf("zones", "required: at least one zone, e.g. internet, perimeter, internal")
	}
	seen := map[string]bool{}
	subnets := map[int]netip.Prefix{} // the zones whose subnet is valid
	for i, z := range t.Zones {
		key := fmt.Sprintf("zones[%d]", i)
		switch {
		case !zoneRe.MatchString(z.Name):
			v.errf(key+".name", "%q is not a zone name (lower case letters, digits and '-')", z.Name)
		case seen[z.Name]:
			v.errf(key+".name", "zone %q is defined twice", z.Name)
		}
		seen[z.Name] = true
		if z.Subnet == "" {
			continue
		}
		p, ok := zoneSubnet(&z)
		if !ok {
			v.errf(key+".subnet", "%q is not a network in CIDR form (e.g. 192.0.2.0/24)", z.Subnet)
			continue
		}
		// A router between zones cannot route an address two zones claim.
		for j := range i {
			if q, ok := subnets[j]; ok && q.Overlaps(p) {
				v.errf(key+".subnet", "%s overlaps zone %s's subnet %s; zones are separate networks", p, t.Zones[j].Name, q)
				break
			}
		}
		subnets[i] = p
	}
}

// zoneSubnet parses a zone's subnet; ok is false when it is absent or not
// a network in CIDR form (Validate reports that).
func zoneSubnet(z *Zone) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(z.Subnet)
	if err != nil || p.Masked() != p {
		return netip.Prefix{}, false
	}
	return p, true
}

func (t *Topology) validateServers(v *validator) {
	if len(t.Servers) == 0 {
		v.errf("servers", "required: at least one server")
	}
	names, fqdns, addrs := map[string]int{}, map[string]int{}, map[netip.Addr]int{}
	for i := range t.Servers {
		s := &t.Servers[i]
		key := fmt.Sprintf("servers[%d]", i)
		if !netbiosRe.MatchString(s.Name) {
			v.errf(key+".name", "%q is not a NetBIOS-style server name (upper case letters, digits and '-', at most 15, e.g. EX01)", s.Name)
		} else if j, dup := names[s.Name]; dup {
			v.errf(key+".name", "server %s is defined twice (also servers[%d])", s.Name, j)
		}
		names[s.Name] = i
		if !slices.Contains(Roles, s.Role) {
			v.errf(key+".role", "%q is not a role; use edge, mailbox, dns or internet", s.Role)
		}
		if !ValidDomain(s.FQDN) {
			v.errf(key+".fqdn", "%q is not a fully qualified domain name", s.FQDN)
		} else if j, dup := fqdns[s.FQDN]; dup {
			v.errf(key+".fqdn", "%s is also the FQDN of servers[%d]", s.FQDN, j)
		}
		fqdns[s.FQDN] = i
		a, err := netip.ParseAddr(s.Address)
		switch {
		case err != nil || a.Zone() != "":
			v.errf(key+".address", "%q is not an IPv4 or IPv6 address", s.Address)
		case a.IsUnspecified() || a.IsMulticast():
			v.errf(key+".address", "%s cannot be a server's address", s.Address)
		default:
			if j, dup := addrs[a.Unmap()]; dup {
				v.errf(key+".address", "%s is also the address of servers[%d]", a, j)
			}
			addrs[a.Unmap()] = i
			s.Address = a.Unmap().String()
		}
		if z := t.zone(s.Zone); z == nil {
			v.errf(key+".zone", "%q is not a zone of this topology (zones: %s)", s.Zone, t.zoneNames())
		} else if p, ok := zoneSubnet(z); ok && err == nil && !a.IsLoopback() {
			if !p.Contains(a) {
				v.errf(key+".address", "%s is not inside zone %s's subnet %s", a, z.Name, z.Subnet)
			}
		}
		t.validateRoleBlock(v, key, s)
	}
	for i, n := range t.MXServers {
		if s := t.Server(n); s == nil || !s.IsExchange() {
			v.errf(fmt.Sprintf("mx_servers[%d]", i), "%q is not an Edge or Mailbox server of this topology", n)
		}
	}
	if len(t.ServersByRole(RoleDNS)) == 0 && len(t.Servers) > 0 {
		v.errf("servers", "a dns server is required: servers resolve the next hop through the lab DNS, never a real resolver")
	}
	if len(t.ServersByRole(RoleMailbox))+len(t.ServersByRole(RoleEdge)) > 0 && len(t.AcceptedDomains) == 0 {
		v.errf("accepted_domains", "required: the organization's authoritative domains, e.g. [contoso.com]")
	}
}

func (t *Topology) validateRoleBlock(v *validator, key string, s *Server) {
	blocks := map[Role]bool{RoleMailbox: s.Mailbox != nil, RoleEdge: s.Edge != nil, RoleInternet: s.Internet != nil}
	for r, present := range blocks {
		if present && r != s.Role {
			v.errf(key+"."+string(r), "a %s block on a %s server; it belongs to %s servers only", r, s.Role, r)
		}
	}
	switch s.Role {
	case RoleMailbox:
		validateVirtualDirectories(v, key, s.Mailbox.VirtualDirectories)
		if s.Mailbox.EdgeSync && len(t.SubscribedEdges()) == 0 {
			v.errf(key+".mailbox.edge_sync", "no Edge server is subscribed to the site (edge.subscribed: true)")
		}
	case RoleEdge:
		if s.Edge.Subscribed && len(t.EdgeSyncParticipants()) == 0 {
			v.errf(key+".edge.subscribed", "no Mailbox server takes part in the subscription; set mailbox.edge_sync: true on the servers that existed when it was made")
		}
		if p := s.Edge.OpenProxyVia; p != "" && !strings.HasPrefix(p, "socks5://") && !strings.HasPrefix(p, "http://") {
			v.errf(key+".edge.open_proxy_via", "%q: write socks5://host:port or http://host:port", p)
		}
		if s.Edge.MessageRateLimit < 0 {
			v.errf(key+".edge.message_rate_limit", "%d: write a number of messages per minute, or 0 for unlimited", s.Edge.MessageRateLimit)
		}
	case RoleInternet:
		if len(s.Internet.Domains) == 0 {
			v.errf(key+".internet.domains", "required: the mail domains this internet server hosts, e.g. [fabrikam.com]")
		}
		for j, d := range s.Internet.Domains {
			dk := fmt.Sprintf("%s.internet.domains[%d]", key, j)
			if !ValidDomain(d) {
				v.errf(dk, "%q is not a domain name", d)
			} else if t.IsAcceptedDomain(d) {
				v.errf(dk, "%s is an accepted domain of the organization; an internet server cannot host it", d)
			} else if o := t.InternetServerFor(d); o != nil && o != s {
				v.errf(dk, "%s is also hosted by %s", d, o.Name)
			}
		}
	}
}

func (t *Topology) validateMailboxes(v *validator) {
	seen := map[string]int{}
	for i, m := range t.Mailboxes {
		key := fmt.Sprintf("mailboxes[%d]", i)
		if !ValidAddress(m.Address) {
			v.errf(key+".address", "%q is not an SMTP address", m.Address)
		} else if j, dup := seen[m.Address]; dup {
			v.errf(key+".address", "%s is also mailboxes[%d]", m.Address, j)
		}
		seen[m.Address] = i
		if m.Password == "" {
			v.errf(key+".password", "required")
		}
		s := t.Server(m.Server)
		for j, r := range m.Roles {
			switch {
			case !strings.EqualFold(r, RoleApplicationImpersonation):
				v.errf(fmt.Sprintf("%s.roles[%d]", key, j), "%q is not a management role exsim knows; use %s", r, RoleApplicationImpersonation)
			case s != nil && s.Role != RoleMailbox:
				v.errf(fmt.Sprintf("%s.roles[%d]", key, j), "%s is an account of %s, outside the organization; roles are for mailboxes on Mailbox servers", m.Address, s.Name)
			}
		}
		switch {
		case s == nil:
			v.errf(key+".server", "%q is not a server of this topology", m.Server)
		case s.Role == RoleMailbox:
			if d := Domain(m.Address); ValidAddress(m.Address) && !t.IsAcceptedDomain(d) {
				v.errf(key+".address", "%s is on Mailbox server %s but %s is not an accepted domain", m.Address, s.Name, d)
			}
		case s.Role == RoleInternet:
			if d := Domain(m.Address); ValidAddress(m.Address) && t.InternetServerFor(d) != s {
				v.errf(key+".address", "%s is on internet server %s, which does not host %s", m.Address, s.Name, d)
			}
			if m.PublishCalendar {
				v.errf(key+".publish_calendar", "%s is on internet server %s; only Exchange mailboxes publish calendars", m.Address, s.Name)
			}
		default:
			v.errf(key+".server", "%s is a %s server; mailboxes live on mailbox or internet servers", s.Name, s.Role)
		}
	}
}

func (t *Topology) validateConnectors(v *validator) {
	seen := map[string]bool{}
	for i, c := range t.SendConnectors {
		key := fmt.Sprintf("send_connectors[%d]", i)
		if strings.TrimSpace(c.Name) == "" {
			v.errf(key+".name", "required")
		} else if seen[strings.ToLower(c.Name)] {
			v.errf(key+".name", "Send connector %q is defined twice", c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		if len(c.AddressSpaces) == 0 {
			v.errf(key+".address_spaces", "required: the domains it serves, e.g. [\"*\"]")
		}
		for j, as := range c.AddressSpaces {
			d := strings.TrimPrefix(as, "*.")
			if as != "*" && !ValidDomain(d) {
				v.errf(fmt.Sprintf("%s.address_spaces[%d]", key, j), "%q is not an address space; use *, a domain or *.domain", as)
			}
		}
		if len(c.SourceServers) == 0 {
			v.errf(key+".source_servers", "required: the Mailbox servers that send through it")
		}
		for j, n := range c.SourceServers {
			if s := t.Server(n); s == nil || s.Role != RoleMailbox {
				v.errf(fmt.Sprintf("%s.source_servers[%d]", key, j), "%q is not a Mailbox server of this topology", n)
			}
		}
		for j, h := range c.SmartHosts {
			if _, err := netip.ParseAddr(h); err != nil && !ValidDomain(h) {
				v.errf(fmt.Sprintf("%s.smart_hosts[%d]", key, j), "%q is neither an address nor a host name", h)
			}
		}
		if c.Port < 1 || c.Port > 65535 {
			v.errf(key+".port", "%d is not a TCP port", c.Port)
		}
		if c.Cost < 1 || c.Cost > 100 {
			v.errf(key+".cost", "%d: cost runs from 1 to 100", c.Cost)
		}
	}
}

func (t *Topology) validateTimers(v *validator) {
	switch t.Timers.Profile {
	case ProfileLab, ProfileExchange:
	default:
		v.errf("timers.profile", "%q: use lab (seconds, the default) or exchange (Exchange's real defaults)", t.Timers.Profile)
	}
	if c := t.Timers.TransientFailureRetryCount; c != nil && (*c < 0 || *c > 15) {
		v.errf("timers.transient_failure_retry_count", "%d: Exchange allows 0 to 15", *c)
	}
	if d := t.Timers.MessageExpirationTimeout; d != nil && *d == 0 {
		v.errf("timers.message_expiration_timeout", "must be more than zero")
	}
}

func (t *Topology) zone(name string) *Zone {
	for i := range t.Zones {
		if t.Zones[i].Name == name {
			return &t.Zones[i]
		}
	}
	return nil
}

// ZoneOf returns the zone a server lives in.
func (t *Topology) ZoneOf(s *Server) *Zone { return t.zone(s.Zone) }

func (t *Topology) zoneNames() string {
	names := make([]string, len(t.Zones))
	for i, z := range t.Zones {
		names[i] = z.Name
	}
	return strings.Join(names, ", ")
}
