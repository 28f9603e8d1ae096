package topology

import (
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Record is one DNS resource record of the lab, as data.
type Record struct {
	Name  string // owner name, lower case, no trailing dot
	Type  string // A, AAAA, MX, PTR, SRV
	Value string // address, or target host name
	Pref  uint16 // MX preference; SRV priority
	// SRV weight and port.
	Weight, Port uint16
}

// DNSZone is one zone the lab DNS server is authoritative for.
type DNSZone struct {
	Origin  string // lower case, no trailing dot
	Records []Record
}

// NameServers are the FQDNs of the lab's DNS servers (the NS of every zone).
func (t *Topology) NameServers() []string {
	var ns []string
	for _, s := range t.ServersByRole(RoleDNS) {
		ns = append(ns, s.FQDN)
	}
	return ns
}

// DNSZones derives every zone of the lab from the topology: the accepted
// domains (MX to the mail exchangers, mail. and autodiscover. to the Client
// Access server, and the _autodiscover._tcp SRV record), the internet domains (MX to their internet server), A or
// AAAA records for every server in the zone holding its FQDN, and the
// reverse zones with a PTR for every server (one zone per IPv4 /24 and per
// IPv6 /64).
func (t *Topology) DNSZones() []DNSZone {
	zones := map[string]*DNSZone{}
	zone := func(origin string) *DNSZone {
		z, ok := zones[origin]
		if !ok {
			z = &DNSZone{Origin: origin}
			zones[origin] = z
		}
		return z
	}
	var mailDomains []string
	mailDomains = append(mailDomains, t.AcceptedDomains...)
	for _, s := range t.ServersByRole(RoleInternet) {
		mailDomains = append(mailDomains, s.Internet.Domains...)
	}
	for _, d := range mailDomains {
		zone(d)
	}
	for i := range t.Servers {
		s := &t.Servers[i]
		z := zone(t.zoneFor(s.FQDN, mailDomains))
		z.Records = append(z.Records, addrRecord(s.FQDN, s.Addr()))
		rev, ptr := reverse(s.Addr())
		rz := zone(rev)
		rz.Records = append(rz.Records, Record{Name: ptr, Type: "PTR", Value: s.FQDN})
	}
	for _, d := range t.AcceptedDomains {
		z := zone(d)
		for i, s := range t.MailExchangers() {
			z.Records = append(z.Records, Record{Name: d, Type: "MX", Value: s.FQDN, Pref: uint16(10 * (i + 1))})
		}
		if cas := t.ClientAccessServer(); cas != nil {
			for _, host := range []string{"mail." + d, "autodiscover." + d} {
				if t.ServerByFQDN(host) == nil {
					z.Records = append(z.Records, addrRecord(host, cas.Addr()))
				}
			}
			target, port := t.AutodiscoverHost(cas)
			z.Records = append(z.Records, Record{Name: "_autodiscover._tcp." + d, Type: "SRV", Value: target, Port: port})
		}
	}
	for _, s := range t.ServersByRole(RoleInternet) {
		for _, d := range s.Internet.Domains {
			z := zone(d)
			z.Records = append(z.Records, Record{Name: d, Type: "MX", Value: s.FQDN, Pref: 10})
		}
	}
	out := make([]DNSZone, 0, len(zones))
	for _, z := range zones {
		out = append(out, *z)
	}
	slices.SortFunc(out, func(a, b DNSZone) int { return strings.Compare(a.Origin, b.Origin) })
	return out
}

// AutodiscoverHost is the host name and port that the _autodiscover._tcp
// SRV record of every accepted domain points at (priority 0, weight 0):
// the host of the Client Access server's autodiscover virtual directory
// (its ExternalUrl, else its InternalUrl) when the topology sets one,
// else autodiscover.<primary domain>, which the lab DNS resolves to that
// server and its certificate names; port 443 after the port offset
// unless the URL names another. Clients look the record up when the
// predefined autodiscover URLs fail and try
// https://<target>/Autodiscover/Autodiscover.xml ([MS-OXDISCO] 3.1.5.1
// "Locations found from SRV DNS records"; KB 940881 for Outlook), which is
// how a domain whose own autodiscover name the certificate does not cover
// reaches the one that it does.
func (t *Topology) AutodiscoverHost(cas *Server) (string, uint16) {
	host, port := "autodiscover."+t.DefaultDomain(), uint16(t.Port(443))
	if cas == nil || cas.Mailbox == nil {
		return host, port
	}
	vd := cas.Mailbox.VirtualDirectories["autodiscover"]
	for _, raw := range []string{vd.ExternalURL, vd.InternalURL} {
		u, err := url.Parse(raw)
		if raw == "" || err != nil || u.Hostname() == "" {
			continue
		}
		if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil && p > 0 {
			port = uint16(p)
		}
		return strings.ToLower(u.Hostname()), port
	}
	return host, port
}

// zoneFor picks the zone of a host name: the longest mail domain it lies
// in, or else its parent domain.
func (t *Topology) zoneFor(fqdn string, mailDomains []string) string {
	best := ""
	for _, d := range mailDomains {
		if (fqdn == d || strings.HasSuffix(fqdn, "."+d)) && len(d) > len(best) {
			best = d
		}
	}
	if best != "" {
		return best
	}
	if _, parent, ok := strings.Cut(fqdn, "."); ok && strings.Contains(parent, ".") {
		return parent
	}
	return fqdn
}

func addrRecord(name string, a netip.Addr) Record {
	if a.Is4() {
		return Record{Name: name, Type: "A", Value: a.String()}
	}
	return Record{Name: name, Type: "AAAA", Value: a.String()}
}

// reverse returns the reverse zone origin and the PTR owner name of a:
// 1.20.0.127.in-addr.arpa in 20.0.127.in-addr.arpa.
func reverse(a netip.Addr) (zone, name string) {
	if a.Is4() {
		b := a.As4()
		name = itoa(b[3]) + "." + itoa(b[2]) + "." + itoa(b[1]) + "." + itoa(b[0]) + ".in-addr.arpa"
		_, zone, _ = strings.Cut(name, ".")
		return zone, name
	}
	const hex = "0123456789abcdef"
	b := a.As16()
	nibbles := make([]string, 0, 32)
	for i := 15; i >= 0; i-- {
		nibbles = append(nibbles, string(hex[b[i]&0xf]), string(hex[b[i]>>4]))
	}
	name = strings.Join(nibbles, ".") + ".ip6.arpa"
	zone = strings.Join(nibbles[16:], ".") + ".ip6.arpa" // the /64
	return zone, name
}

func itoa(b byte) string { return strconv.Itoa(int(b)) }
