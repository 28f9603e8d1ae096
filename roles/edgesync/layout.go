package edgesync

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/exsim/exsim/store/directory"
	"github.com/go-ldap/ldap/v3"
)

// Names of the Edge's AD LDS tree. An Edge's organization container is
// always "First Organization", whatever the organization's real name, and
// the administrative and routing groups carry Exchange's fixed legacy names.
const (
	GatewayNC    = "OU=MSExchangeGateway"
	firstOrg     = "First Organization"
	adminGroup   = "Exchange Administrative Group (FYDIBOHF23SPDLT)"
	routingGroup = "Exchange Routing Group (DWBGZMFD01QNBJR)"
	// DefaultAdamSSLPort is the secure LDAP port of the Edge's AD LDS
	// instance (ConfigureAdam.ps1 can change it).
	DefaultAdamSSLPort = 50636
)

// Layout names the entries of an Edge's directory. ConfigNC is the
// configuration naming context, CN=Configuration,CN={GUID of the instance}.
//
// Object classes and most attribute names follow AD and the Exchange schema
// (msExchAcceptedDomain, msExchExchangeServer, msExchRoutingSMTPConnector,
// routingList, networkAddress, userPassword, accountExpires, member).
// Attributes without a public Exchange counterpart are named msExchEdgeSync*
// and are this lab's own.
type Layout struct {
	ConfigNC string
}

func (l Layout) Services() string          { return "CN=Services," + l.ConfigNC }
func (l Layout) Roles() string             { return "CN=Roles," + l.ConfigNC }
func (l Layout) Administrators() string    { return "CN=Administrators," + l.Roles() }
func (l Layout) Readers() string           { return "CN=Readers," + l.Roles() }
func (l Layout) Exchange() string          { return "CN=Microsoft Exchange," + l.Services() }
func (l Layout) Organization() string      { return "CN=" + firstOrg + "," + l.Exchange() }
func (l Layout) TransportSettings() string { return "CN=Transport Settings," + l.Organization() }
func (l Layout) AcceptedDomains() string   { return "CN=Accepted Domains," + l.TransportSettings() }
func (l Layout) AdministrativeGroup() string {
	return "CN=" + adminGroup + ",CN=Administrative Groups," + l.Organization()
}
func (l Layout) Servers() string { return "CN=Servers," + l.AdministrativeGroup() }
func (l Layout) RoutingGroup() string {
	return "CN=" + routingGroup + ",CN=Routing Groups," + l.AdministrativeGroup()
}
func (l Layout) Connections() string { return "CN=Connections," + l.RoutingGroup() }

// EdgeSync is the Edge's own record of its subscription.
func (l Layout) EdgeSync() string { return "CN=EdgeSync," + l.Services() }

// SyncStatus is written by the Mailbox server at the end of each sync.
func (l Layout) SyncStatus() string { return "CN=Sync Status," + l.EdgeSync() }

func (l Layout) Recipients() string { return "CN=Recipients," + GatewayNC }
func (l Layout) Safelist() string   { return "CN=Safelist," + GatewayNC }

// Account is the DN of an AD LDS security principal: they live in
// CN=Services of the configuration naming context, as Exchange's
// AdamUserManagement creates them.
func (l Layout) Account(name string) string { return "CN=" + ldap.EscapeDN(name) + "," + l.Services() }

func (l Layout) acceptedDomain(name string) string {
	return "CN=" + ldap.EscapeDN(strings.ToLower(name)) + "," + l.AcceptedDomains()
}
func (l Layout) server(name string) string { return "CN=" + ldap.EscapeDN(name) + "," + l.Servers() }
func (l Layout) connector(name string) string {
	return "CN=" + ldap.EscapeDN(name) + "," + l.Connections()
}
func (l Layout) recipient(hash string) string { return "CN=" + hash + "," + l.Recipients() }

// BootstrapAccountName is the ESBRA's name: "ESRA." and the Edge's name
// (New-EdgeSubscription on the Edge).
func BootstrapAccountName(edge string) string { return "ESRA." + edge }

// ReplicationAccountName is the ESRA of one Edge and Mailbox server pair.
func ReplicationAccountName(edge, mailbox string, serial int) string {
	return fmt.Sprintf("ESRA.%s.%s.%d", edge, mailbox, serial)
}

type skeletonEntry struct {
	dn            string
	classes       []string
	namingContext bool
}

// skeleton is the tree an Edge creates at installation, parents first.
func (l Layout) skeleton() []skeletonEntry {
	return []skeletonEntry{
		{l.ConfigNC, []string{"top", "configuration"}, true},
		{"CN=Schema," + l.ConfigNC, []string{"top", "dMD"}, true},
		{l.Services(), []string{"top", "container"}, false},
		{l.Roles(), []string{"top", "container"}, false},
		{l.Administrators(), []string{"top", "group"}, false},
		{l.Readers(), []string{"top", "group"}, false},
		{l.Exchange(), []string{"top", "container", "msExchConfigurationContainer"}, false},
		{l.Organization(), []string{"top", "container", "msExchOrganizationContainer"}, false},
		{l.TransportSettings(), []string{"top", "container", "msExchTransportSettings"}, false},
		{l.AcceptedDomains(), []string{"top", "container"}, false},
		{"CN=Administrative Groups," + l.Organization(), []string{"top", "container", "msExchAdminGroupContainer"}, false},
		{l.AdministrativeGroup(), []string{"top", "msExchAdminGroup"}, false},
		{l.Servers(), []string{"top", "container", "msExchServersContainer"}, false},
		{"CN=Routing Groups," + l.AdministrativeGroup(), []string{"top", "container", "msExchRoutingGroupContainer"}, false},
		{l.RoutingGroup(), []string{"top", "msExchRoutingGroup"}, false},
		{l.Connections(), []string{"top", "container", "msExchConnectors"}, false},
		{l.EdgeSync(), []string{"top", "container"}, false},
		{GatewayNC, []string{"top", "organizationalUnit"}, true},
		{l.Recipients(), []string{"top", "container"}, false},
	}
}

// msExchAcceptedDomainFlags: the domain type in the low bits, 4 for the
// default domain.
const defaultDomainFlag = 4

func acceptedDomainEntry(l Layout, d AcceptedDomain) *directory.Entry {
	name := strings.ToLower(d.Name)
	flags := int(d.Type)
	if d.Default {
		flags |= defaultDomainFlag
	}
	return &directory.Entry{DN: l.acceptedDomain(name), Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"top", "msExchAcceptedDomain"}},
		{Name: "cn", Values: []string{name}},
		{Name: "msExchAcceptedDomainName", Values: []string{name}},
		{Name: "msExchAcceptedDomainFlags", Values: []string{strconv.Itoa(flags)}},
	}}
}

func parseAcceptedDomain(e *directory.Entry) (AcceptedDomain, bool) {
	name := e.First("msExchAcceptedDomainName")
	flags, err := strconv.Atoi(e.First("msExchAcceptedDomainFlags"))
	if name == "" || err != nil {
		return AcceptedDomain{}, false
	}
	return AcceptedDomain{Name: name, Type: DomainType(flags &^ defaultDomainFlag), Default: flags&defaultDomainFlag != 0}, true
}

func serverEntry(l Layout, s Server) *directory.Entry {
	e := &directory.Entry{DN: l.server(s.Name), Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"top", "server", "msExchExchangeServer"}},
		{Name: "cn", Values: []string{s.Name}},
	}}
	if s.FQDN != "" {
		e.Set("dNSHostName", s.FQDN)
		e.Set("networkAddress", "ncacn_ip_tcp:"+s.FQDN)
	}
	if s.Address != "" {
		e.Set("ipHostNumber", s.Address)
	}
	e.Set("msExchEdgeSyncParticipant", strings.ToUpper(strconv.FormatBool(s.Participant)))
	return e
}

func parseServer(e *directory.Entry) Server {
	return Server{Name: e.First("cn"), FQDN: e.First("dNSHostName"), Address: e.First("ipHostNumber"),
		Participant: !strings.EqualFold(e.First("msExchEdgeSyncParticipant"), "FALSE")}
}

func connectorEntry(l Layout, c Connector) *directory.Entry {
	e := &directory.Entry{DN: l.connector(c.Name), Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"top", "mailGateway", "msExchRoutingSMTPConnector"}},
		{Name: "cn", Values: []string{c.Name}},
		{Name: "msExchEdgeSyncDNSRouting", Values: []string{strings.ToUpper(strconv.FormatBool(c.DNSRouting))}},
	}}
	e.Set("routingList", c.AddressSpaces...)
	e.Set("msExchSmtpSmartHost", c.SmartHosts...)
	if c.Port != 0 {
		e.Set("msExchEdgeSyncPort", strconv.Itoa(c.Port))
	}
	return e
}

func parseConnector(e *directory.Entry) Connector {
	port, _ := strconv.Atoi(e.First("msExchEdgeSyncPort"))
	return Connector{
		Name:          e.First("cn"),
		AddressSpaces: slices.Clone(e.Get("routingList")),
		SmartHosts:    slices.Clone(e.Get("msExchSmtpSmartHost")),
		DNSRouting:    strings.EqualFold(e.First("msExchEdgeSyncDNSRouting"), "TRUE"),
		Port:          port,
	}
}

func recipientEntry(l Layout, hash string) *directory.Entry {
	return &directory.Entry{DN: l.recipient(hash), Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"top", "msExchEdgeSyncRecipient"}},
		{Name: "cn", Values: []string{hash}},
	}}
}

// safelistEntry holds the hashed safe and blocked senders, as safelist
// aggregation stores them (msExchSafeSendersHash, msExchBlockedSendersHash).
func safelistEntry(l Layout, r Recipients) *directory.Entry {
	e := &directory.Entry{DN: l.Safelist(), Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"top", "container"}},
		{Name: "cn", Values: []string{"Safelist"}},
	}}
	e.Set("msExchSafeSendersHash", hashSet(r.SafeSenders)...)
	e.Set("msExchBlockedSendersHash", hashSet(r.BlockedSenders)...)
	return e
}

func hashSet(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, HashAddress(a))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// validHash reports whether h is a lower-case hex SHA-256.
func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	return strings.Trim(h, "0123456789abcdef") == ""
}

// configEntries is the desired content of the configuration containers.
func configEntries(l Layout, c Config) ([]*directory.Entry, error) {
	var out []*directory.Entry
	seen := map[string]bool{}
	add := func(e *directory.Entry) error {
		k := strings.ToLower(e.DN)
		if seen[k] {
			return fmt.Errorf("edgesync: %s appears twice in the configuration", e.DN)
		}
		seen[k] = true
		out = append(out, e)
		return nil
	}
	for _, d := range c.AcceptedDomains {
		if d.Name == "" {
			return nil, fmt.Errorf("edgesync: accepted domain without a name")
		}
		if err := add(acceptedDomainEntry(l, d)); err != nil {
			return nil, err
		}
	}
	for _, s := range c.MailboxServers {
		if s.Name == "" {
			return nil, fmt.Errorf("edgesync: Mailbox server without a name")
		}
		if err := add(serverEntry(l, s)); err != nil {
			return nil, err
		}
	}
	for _, sc := range c.SendConnectors {
		if sc.Name == "" {
			return nil, fmt.Errorf("edgesync: Send connector without a name")
		}
		if err := add(connectorEntry(l, sc)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recipientEntries is the desired content of CN=Recipients.
func recipientEntries(l Layout, r Recipients) ([]*directory.Entry, error) {
	var out []*directory.Entry
	seen := map[string]bool{}
	for _, h := range r.Hashes {
		h = strings.ToLower(h)
		if !validHash(h) {
			return nil, fmt.Errorf("edgesync: recipient hash %q is not a hex SHA-256", h)
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, recipientEntry(l, h))
		}
	}
	return out, nil
}
