package httpd

import (
	"net/url"
	"strings"
)

// VirtualDirectory is the InternalUrl and ExternalUrl of one web
// virtual directory (Set-WebServicesVirtualDirectory and its siblings).
// Autodiscover hands them out: InternalUrl in the EXCH and WEB/Internal
// sections, ExternalUrl in EXPR, WEB/External, mobile and JSON answers.
type VirtualDirectory struct {
	InternalURL string
	ExternalURL string
}

// The virtual directories Autodiscover names, with the path of each on
// a Mailbox server (Exchange's defaults are https://<fqdn><path>).
var vdirPaths = map[string]string{
	"ews":          "/EWS/Exchange.asmx",
	"owa":          "/owa/",
	"ecp":          "/ecp/",
	"oab":          "/OAB/",
	"mapi":         "/mapi/",
	"activesync":   "/Microsoft-Server-ActiveSync",
	"autodiscover": "/Autodiscover/Autodiscover.xml",
}

// vdirURL is the URL of a virtual directory: the configured one, else
// Exchange's default on this server's FQDN (or ExternalHost) and HTTPS
// port. external picks ExternalUrl, which falls back to InternalUrl.
func (c *config) vdirURL(name string, external bool) string {
	v := c.VirtualDirectories[name]
	if external && v.ExternalURL != "" {
		return v.ExternalURL
	}
	if v.InternalURL != "" {
		return v.InternalURL
	}
	host := c.ExternalHost
	if host == "" {
		host = withPort(c.FQDN, c.HTTPSPort)
	}
	return "https://" + host + vdirPaths[name]
}

// vdirHost is the host (with port) of a virtual directory's URL.
func (c *config) vdirHost(name string, external bool) string {
	u, err := url.Parse(c.vdirURL(name, external))
	if err != nil || u.Host == "" {
		return c.FQDN
	}
	return strings.ToLower(u.Host)
}

// vdirBase is a virtual directory's URL without its trailing slash, for
// URLs under it (/OAB/<guid>/, /mapi/emsmdb/).
func (c *config) vdirBase(name string, external bool) string {
	return strings.TrimSuffix(c.vdirURL(name, external), "/")
}

// forHome is the configuration whose URLs are those of u's home server:
// this one's when u is homed here (or the backend does not say), else
// one with the home's FQDN and virtual directories. ExternalHost (one
// name for every server, a reverse proxy) still applies.
func (c *config) forHome(u *User) *config {
	home := strings.ToLower(strings.TrimSuffix(u.HomeFQDN, "."))
	if home == "" || home == c.FQDN {
		return c
	}
	cc := *c
	cc.FQDN = home
	cc.VirtualDirectories = u.HomeVirtualDirectories
	return &cc
}
