package httpd

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// hostFor is the host name URLs handed to this client use: ExternalHost if
// configured, else the Host the client asked for (so a client that reached
// the server as mail.contoso.com is sent on to mail.contoso.com), else FQDN.
func (c *config) hostFor(r *http.Request) string {
	if c.ExternalHost != "" {
		return c.ExternalHost
	}
	if h := strings.ToLower(r.Host); validHost(h) {
		return h
	}
	return c.FQDN
}

// validHost accepts host names, IPv4 and bracketed IPv6 literals with an
// optional port: nothing that could break out of a URL or a header.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		switch {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '.', b == '-', b == ':', b == '[', b == ']', b == '_':
		default:
			return false
		}
	}
	return true
}

// httpsHost is hostFor for a link from port 80 to HTTPS: the port the
// client used on HTTP is replaced by the HTTPS port.
func (c *config) httpsHost(r *http.Request) string {
	return withPort(hostOnly(c.hostFor(r)), c.HTTPSPort)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return hostport
}

func withPort(host string, port int) string {
	if port == 0 || port == 443 {
		return host
	}
	return host + ":" + strconv.Itoa(port)
}

// requestURL is the absolute URL of r on this server, as the client asked
// for it (on ExternalHost when one is configured).
func (c *config) requestURL(r *http.Request) string {
	return scheme(r) + "://" + c.hostFor(r) + r.URL.RequestURI()
}

// urlEncode is ASP.NET's HttpUtility.UrlEncode: lower-case %xx, space as
// '+', and -_.!*() left alone. OWA's logon redirects are built with it
// (url=https%3a%2f%2fmail.contoso.com%2fowa%2f).
func urlEncode(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '!', c == '*', c == '(', c == ')':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// sourceIP is the client's address without the port: the key of the logon
// throttle.
func sourceIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// redirect answers with a redirect to an absolute URL and no body, as
// Exchange's HttpProxy and IIS's HTTP Redirect module do.
func redirect(w http.ResponseWriter, location string, status int) {
	w.Header().Set("Location", location)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
