package topology

import (
	"net/netip"
	"strconv"
)

// ListenerKind names the implementation behind a listener; roles switch on it.
type ListenerKind string

// The listener catalogue, after EXCHANGE.md section 1 and the seed document.
const (
	SMTPDefaultFrontend ListenerKind = "smtp/default-frontend"    // 25, Front End Transport
	SMTPOutboundProxy   ListenerKind = "smtp/outbound-proxy"      // 717, Front End Transport
	SMTPClientFrontend  ListenerKind = "smtp/client-frontend"     // 587, Front End Transport
	SMTPDefault         ListenerKind = "smtp/default"             // 2525, Transport
	SMTPClientProxy     ListenerKind = "smtp/client-proxy"        // 465, Transport
	SMTPMailboxDelivery ListenerKind = "smtp/mailbox-delivery"    // 475, Mailbox Transport Delivery
	SMTPEdgeReceive     ListenerKind = "smtp/edge-default"        // 25, Edge Transport
	SMTPInternet        ListenerKind = "smtp/internet"            // 25, a plain MTA
	SMTPInternetSubmit  ListenerKind = "smtp/internet-submission" // 587, its users' submission
	HTTP                ListenerKind = "http/client-access"       // 80
	HTTPS               ListenerKind = "https/client-access"      // 443
	HTTPSBackend        ListenerKind = "https/backend"            // 444
	IMAP4               ListenerKind = "imap/frontend"            // 143
	IMAP4S              ListenerKind = "imaps/frontend"           // 993
	IMAP4Backend        ListenerKind = "imaps/backend"            // 1993
	POP3                ListenerKind = "pop3/frontend"            // 110
	POP3S               ListenerKind = "pop3s/frontend"           // 995
	POP3Backend         ListenerKind = "pop3s/backend"            // 1995
	LDAPS               ListenerKind = "ldaps/adam"               // 50636
	LDAP                ListenerKind = "ldap/adam-local"          // 50389, loopback only
	DNSUDP              ListenerKind = "dns/udp"                  // 53
	DNSTCP              ListenerKind = "dns/tcp"                  // 53
	InternetIMAP        ListenerKind = "imap/internet"            // 143
	InternetIMAPS       ListenerKind = "imaps/internet"           // 993
	InternetPOP3        ListenerKind = "pop3/internet"            // 110
	InternetPOP3S       ListenerKind = "pop3s/internet"           // 995
	ProxySOCKS          ListenerKind = "proxy/socks"              // 1081, 1080: SOCKS4 and SOCKS5
	ProxyWingate        ListenerKind = "proxy/wingate"            // 23: Wingate, Telnet, Cisco
	ProxyHTTP           ListenerKind = "proxy/http"               // 6588, 3128, 80: CONNECT and POST
	TLSNone                          = "none"
	TLSStartTLS                      = "starttls"
	TLSImplicit                      = "implicit"
)

// Listener is one socket a server binds. The JSON form is SPEC section 2's.
type Listener struct {
	// Name is the Exchange connector or service name, e.g. "Default Frontend EX01".
	Name      string `json:"name" yaml:"name"`
	Protocol  string `json:"protocol" yaml:"protocol"`   // smtp, imap, pop3, http, https, ldap, ldaps, dns, socks, telnet, http-proxy
	Transport string `json:"transport" yaml:"transport"` // tcp or udp
	Port      int    `json:"port" yaml:"port"`           // after any --port-offset
	TLS       string `json:"tls" yaml:"tls"`             // none, starttls, implicit
	Enabled   bool   `json:"enabled" yaml:"enabled"`

	Kind ListenerKind `json:"-" yaml:"-"`
	// Server is the owning server's name.
	Server string `json:"-" yaml:"-"`
	// Bind is the address the socket binds: the server's address, or
	// loopback for local-only listeners (AD LDS 50389).
	Bind netip.Addr `json:"-" yaml:"-"`
	// BasePort is the documented port, before any offset.
	BasePort int `json:"-" yaml:"-"`
	// Why says why a listener is disabled.
	Why string `json:"-" yaml:"-"`
}

// AddrPort is the socket address the listener binds.
func (l Listener) AddrPort() netip.AddrPort { return netip.AddrPortFrom(l.Bind, uint16(l.Port)) }

// String is "Default Frontend EX01 (smtp 127.0.20.1:25/tcp)".
func (l Listener) String() string {
	return l.Name + " (" + l.Protocol + " " + l.AddrPort().String() + "/" + l.Transport + ")"
}

type listenerSpec struct {
	kind      ListenerKind
	name      string // "%s" is replaced by the server name
	protocol  string
	transport string
	port      int
	tls       string
	localOnly bool
}

var mailboxListeners = []listenerSpec{
	{SMTPDefaultFrontend, "Default Frontend %s", "smtp", "tcp", 25, TLSStartTLS, false},
	{SMTPOutboundProxy, "Outbound Proxy Frontend %s", "smtp", "tcp", 717, TLSStartTLS, false},
	{SMTPClientFrontend, "Client Frontend %s", "smtp", "tcp", 587, TLSStartTLS, false},
	{SMTPDefault, "Default %s", "smtp", "tcp", 2525, TLSStartTLS, false},
	{SMTPClientProxy, "Client Proxy %s", "smtp", "tcp", 465, TLSStartTLS, false},
	{SMTPMailboxDelivery, "Default Mailbox Delivery %s", "smtp", "tcp", 475, TLSStartTLS, false},
	{HTTP, "Default Web Site", "http", "tcp", 80, TLSNone, false},
	{HTTPS, "Default Web Site", "https", "tcp", 443, TLSImplicit, false},
	// The Client Access front end proxies a mailbox's requests to the
	// "Exchange Back End" IIS site of the server that hosts it.
	{HTTPSBackend, "Exchange Back End", "https", "tcp", 444, TLSImplicit, false},
	{IMAP4, "Microsoft Exchange IMAP4", "imap", "tcp", 143, TLSStartTLS, false},
	{IMAP4S, "Microsoft Exchange IMAP4", "imap", "tcp", 993, TLSImplicit, false},
	{IMAP4Backend, "Microsoft Exchange IMAP4 Backend", "imap", "tcp", 1993, TLSImplicit, false},
	{POP3, "Microsoft Exchange POP3", "pop3", "tcp", 110, TLSStartTLS, false},
	{POP3S, "Microsoft Exchange POP3", "pop3", "tcp", 995, TLSImplicit, false},
	{POP3Backend, "Microsoft Exchange POP3 Backend", "pop3", "tcp", 1995, TLSImplicit, false},
}

var edgeListeners = []listenerSpec{
	{SMTPEdgeReceive, "Default internal Receive connector %s", "smtp", "tcp", 25, TLSStartTLS, false},
	{LDAPS, "Microsoft Exchange ADAM (EdgeSync)", "ldaps", "tcp", 50636, TLSImplicit, false},
	{LDAP, "Microsoft Exchange ADAM (local)", "ldap", "tcp", 50389, TLSNone, true},
}

var dnsListeners = []listenerSpec{
	{DNSUDP, "DNS Server", "dns", "udp", 53, TLSNone, false},
	{DNSTCP, "DNS Server", "dns", "tcp", 53, TLSNone, false},
}

var internetListeners = append([]listenerSpec{
	{SMTPInternet, "SMTP", "smtp", "tcp", 25, TLSStartTLS, false},
	{SMTPInternetSubmit, "Submission", "smtp", "tcp", 587, TLSStartTLS, false},
	{InternetIMAP, "IMAP", "imap", "tcp", 143, TLSStartTLS, false},
	{InternetIMAPS, "IMAP", "imap", "tcp", 993, TLSImplicit, false},
	{InternetPOP3, "POP3", "pop3", "tcp", 110, TLSStartTLS, false},
	{InternetPOP3S, "POP3", "pop3", "tcp", 995, TLSImplicit, false},
},
	// Open proxy impersonation: the ports sender reputation tests
	// (EXCHANGE.md section 8), from the one table in openproxy.go.
	openProxyListeners()...)

// listenerSpecs is the listener catalogue of a role.
func listenerSpecs(r Role) []listenerSpec {
	switch r {
	case RoleMailbox:
		return mailboxListeners
	case RoleEdge:
		return edgeListeners
	case RoleDNS:
		return dnsListeners
	case RoleInternet:
		return internetListeners
	}
	return nil
}

// Listeners returns every listener of a server, its port after the
// topology's port offset, disabled ones included (with Why set).
func (t *Topology) Listeners(s *Server) []Listener {
	specs := listenerSpecs(s.Role)
	out := make([]Listener, 0, len(specs))
	for _, sp := range specs {
		l := Listener{
			Name:      expandName(sp.name, s.Name),
			Protocol:  sp.protocol,
			Transport: sp.transport,
			Port:      t.Port(sp.port),
			BasePort:  sp.port,
			TLS:       sp.tls,
			Enabled:   true,
			Kind:      sp.kind,
			Server:    s.Name,
			Bind:      s.Addr(),
		}
		if sp.localOnly && !l.Bind.IsLoopback() {
			l.Bind = netip.IPv6Loopback()
			if s.Addr().Is4() {
				l.Bind = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			}
		}
		l.Enabled, l.Why = enabled(s, sp.kind)
		out = append(out, l)
	}
	return out
}

func enabled(s *Server, k ListenerKind) (bool, string) {
	switch k {
	case IMAP4, IMAP4S, IMAP4Backend:
		if s.Mailbox == nil || !s.Mailbox.IMAP4 {
			return false, "the IMAP4 services are stopped (Exchange's default); set mailbox.imap4: true"
		}
	case POP3, POP3S, POP3Backend:
		if s.Mailbox == nil || !s.Mailbox.POP3 {
			return false, "the POP3 services are stopped (Exchange's default); set mailbox.pop3: true"
		}
	case ProxySOCKS, ProxyWingate, ProxyHTTP:
		if s.Internet == nil || !s.Internet.OpenProxy {
			return false, "not impersonating an open proxy; set internet.open_proxy: true"
		}
	}
	return true, ""
}

func expandName(pattern, server string) string {
	if n := len(pattern); n >= 2 && pattern[n-2:] == "%s" {
		return pattern[:n-2] + server
	}
	return pattern
}

// Listener returns the first listener of kind k of server s.
func (t *Topology) Listener(s *Server, k ListenerKind) (Listener, bool) {
	for _, l := range t.Listeners(s) {
		if l.Kind == k {
			return l, true
		}
	}
	return Listener{}, false
}

// PortString formats a port with its transport, e.g. "53/udp".
func PortString(port int, transport string) string { return strconv.Itoa(port) + "/" + transport }
