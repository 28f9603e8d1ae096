package transport

import (
	"strings"
	"unicode/utf8"
)

// The header firewall, as Microsoft's "Header firewall" page of the
// Exchange documentation describes it (Bb232136; read in its Exchange
// 2013 version from the OfficeDocs-Exchange repository, as the 2016/2019
// page, exchange/mail-flow/mail-routing/header-firewall, was not at hand:
// the permissions and usage types it names are those of 2016/2019's
// Set-ReceiveConnector and New-SendConnector). A Receive connector
// or Send connector keeps a family of header fields only when the security
// principal using it holds the permission for that family; without it the
// fields are removed from the message as it passes the connector.

// ForestPrefix starts the forest X-headers (X-MS-Exchange-Forest-RulesExecuted).
const ForestPrefix = "X-MS-Exchange-Forest-"

// HeaderPermissions are the header firewall's extended rights held on one
// connector. The zero value holds none: every affected field is removed.
type HeaderPermissions uint8

const (
	// PermitOrganization is Ms-Exch-Accept-Headers-Organization on a
	// Receive connector, Ms-Exch-Send-Headers-Organization on a Send
	// connector: the X-MS-Exchange-Organization-* fields.
	PermitOrganization HeaderPermissions = 1 << iota
	// PermitForest is Ms-Exch-Accept-Headers-Forest and
	// Ms-Exch-Send-Headers-Forest: the X-MS-Exchange-Forest-* fields.
	PermitForest
	// PermitRouting is Ms-Exch-Accept-Headers-Routing and
	// Ms-Exch-Send-Headers-Routing: the Received and Resent-* fields.
	PermitRouting

	// PermitAll keeps every field: the header firewall does nothing.
	PermitAll = PermitOrganization | PermitForest | PermitRouting
)

// PermissionGroup is the Receive connector permission group a session's
// security principal belongs to (Set-ReceiveConnector -PermissionGroups).
type PermissionGroup string

const (
	AnonymousUsers  PermissionGroup = "AnonymousUsers"
	ExchangeUsers   PermissionGroup = "ExchangeUsers"
	ExchangeServers PermissionGroup = "ExchangeServers"
	Partners        PermissionGroup = "Partners"
)

// AcceptHeaders is the page's table "Header firewall for inbound messages
// on Receive connectors": which Ms-Exch-Accept-Headers-* permissions a
// permission group grants. Organization and forest headers only from
// Exchange servers (usage type Internal); routing headers from every
// group (Anonymous for Internet, ExchangeUsers for Client, Partner). A
// group the table does not name (ExchangeLegacyServers, or a Custom
// connector with no permission groups) grants nothing: the page is silent
// on legacy servers, and exsim has none.
func AcceptHeaders(g PermissionGroup) HeaderPermissions {
	switch g {
	case ExchangeServers:
		return PermitAll
	case AnonymousUsers, ExchangeUsers, Partners:
		return PermitRouting
	}
	return 0
}

// SendConnectorUsage is a Send connector's usage type (New-SendConnector
// -Usage), which decides the security principals and so the permissions
// assigned to it.
type SendConnectorUsage string

const (
	UsageCustom   SendConnectorUsage = "Custom"
	UsageInternal SendConnectorUsage = "Internal"
	UsageInternet SendConnectorUsage = "Internet"
	UsagePartner  SendConnectorUsage = "Partner"
)

// SendHeaders is the page's table "Header firewall for outbound messages
// on Send connectors": Internal (Exchange servers, Edge Transport servers,
// externally secured servers, ExchangeLegacyInterop) keeps organization,
// forest and routing headers; Internet (the anonymous user account) and
// Partner (partner servers) keep only Ms-Exch-Send-Headers-Routing, so
// Received and Resent-* leave the organization by default; Custom keeps
// nothing. (The page's prose on custom Send connectors says that removing
// organization headers takes "a usage type other than Internal or
// Partner"; its table grants Partner only the routing permission, and the
// table is what this follows.)
func SendHeaders(u SendConnectorUsage) HeaderPermissions {
	switch u {
	case UsageInternal:
		return PermitAll
	case UsageInternet, UsagePartner:
		return PermitRouting
	}
	return 0
}

// removes reports whether the header firewall removes a field named name
// when the connector holds p.
func (p HeaderPermissions) removes(name []byte) bool {
	switch {
	case hasPrefixFold(name, OrgPrefix):
		return p&PermitOrganization == 0
	case hasPrefixFold(name, ForestPrefix):
		return p&PermitForest == 0
	case equalFold(name, "Received"), hasPrefixFold(name, "Resent-"):
		return p&PermitRouting == 0
	}
	return false
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFold(b[:len(prefix)], prefix)
}

// equalFold is strings.EqualFold for a field name in the message's bytes,
// without converting them to a string (a copy on the heap for names over
// 32 bytes, as the organization headers' are). A name with a byte outside
// ASCII goes to strings.EqualFold, whose Unicode folding it keeps.
func equalFold(b []byte, s string) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return strings.EqualFold(string(b), s)
		}
	}
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if lx := x | 0x20; lx < 'a' || lx > 'z' || lx != y|0x20 {
			return false
		}
	}
	return true
}

// Firewall returns m without the fields the header firewall removes when
// the connector holds p. The header is copied only when a field goes; the
// body is never copied.
func (m RawMessage) Firewall(p HeaderPermissions) RawMessage {
	if p == PermitAll {
		return m
	}
	var hdr []byte
	kept := 0 // bytes of m.Header before the first removed field
	m.eachField(func(name, raw []byte) bool {
		switch {
		case p.removes(name):
			if hdr == nil {
				hdr = make([]byte, 0, len(m.Header))
				hdr = append(hdr, m.Header[:kept]...)
			}
		case hdr != nil:
			hdr = append(hdr, raw...)
		default:
			kept += len(raw)
		}
		return true
	})
	if hdr == nil {
		return m
	}
	return RawMessage{Header: hdr, Body: m.Body}
}

// FirewallMessage applies the header firewall to a whole message as it
// leaves through a Send connector holding p. It returns the parts to send
// in order: data itself when nothing is removed, else the new header
// section (with its blank line) and the body, a slice of data.
func FirewallMessage(data []byte, p HeaderPermissions) [][]byte {
	if p == PermitAll {
		return [][]byte{data}
	}
	m := SplitMessage(data)
	f := m.Firewall(p)
	if len(f.Header) == len(m.Header) {
		return [][]byte{data}
	}
	return [][]byte{append(f.Header, '\r', '\n'), f.Body}
}
