package senderrep

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/exsim/exsim/topology"
)

// Protocol is one kind of open proxy test.
type Protocol string

const (
	SOCKS4      Protocol = "socks4"
	SOCKS5      Protocol = "socks5"
	Wingate     Protocol = "wingate" // WinGate prompt: `<ip>:<port>`
	Telnet      Protocol = "telnet"  // telnet gateway: `open <ip> <port>`
	Cisco       Protocol = "cisco"   // Cisco router: `telnet <ip> <port>`
	HTTPConnect Protocol = "http-connect"
	HTTPPost    Protocol = "http-post"
)

// Protocols lists every test protocol in report order.
func Protocols() []Protocol {
	return []Protocol{SOCKS4, SOCKS5, Wingate, Telnet, Cisco, HTTPConnect, HTTPPost}
}

func (p Protocol) rank() int {
	if i := slices.Index(Protocols(), p); i >= 0 {
		return i
	}
	return len(Protocols())
}

// PortTable says which ports each protocol is tested on, in order.
type PortTable map[Protocol][]uint16

// DefaultPorts is Exchange's table (sender-reputation-procedures.md, "configure
// open proxy server detection"; the seed's "Open proxy server detection in
// sender reputation" row), as the topology's one table of open proxy ports
// holds it: SOCKS4, SOCKS5 on 1081 and 1080; Wingate, Telnet, Cisco on 23;
// HTTP CONNECT, HTTP POST on 6588, 3128 and 80.
func DefaultPorts() PortTable { return portTable(func(p int) int { return p }) }

// LabPorts is the table an Edge of lab t tests: Exchange's ports where t
// binds them, after its port offset (which t has range-checked).
func LabPorts(t *topology.Topology) PortTable { return portTable(t.Port) }

func portTable(port func(documented int) int) PortTable {
	out := PortTable{}
	for _, row := range topology.OpenProxyTests() {
		for _, p := range row.Ports {
			out[Protocol(row.Protocol)] = append(out[Protocol(row.Protocol)], uint16(port(p)))
		}
	}
	return out
}

// Validate rejects unknown protocols and port 0.
func (t PortTable) Validate() error {
	for p, ports := range t {
		if p.rank() == len(Protocols()) {
			return fmt.Errorf("openproxy: unknown protocol %q", p)
		}
		if slices.Contains(ports, 0) {
			return fmt.Errorf("openproxy: %s: port 0", p)
		}
	}
	return nil
}

// ProxyType is the type of an outbound proxy, spelled like
// Set-SenderReputationConfig's ProxyServerType values that make a TCP path.
type ProxyType string

const (
	ProxySOCKS4      ProxyType = "Socks4"
	ProxySOCKS5      ProxyType = "Socks5"
	ProxyHTTPConnect ProxyType = "HttpConnect"
)

// ParseProxyType accepts the Exchange spelling in any case, and the short
// forms socks4, socks5 and http.
func ParseProxyType(s string) (ProxyType, error) {
	switch strings.ToLower(s) {
	case "socks4":
		return ProxySOCKS4, nil
	case "socks5":
		return ProxySOCKS5, nil
	case "httpconnect", "http", "http-connect":
		return ProxyHTTPConnect, nil
	}
	return "", fmt.Errorf("openproxy: unknown proxy type %q (want Socks4, Socks5 or HttpConnect)", s)
}

// ProxyConfig is the proxy through which an organization reaches the
// Internet, which sender reputation's tests then go through
// (Set-SenderReputationConfig -ProxyServerName -ProxyServerPort
// -ProxyServerType).
type ProxyConfig struct {
	// Type is Socks4, Socks5 or HttpConnect.
	Type ProxyType `json:"type" yaml:"type"`
	// Name is the proxy's host name or address (resolved by Options.Dial).
	Name string `json:"name" yaml:"name"`
	// Port is the proxy's TCP port.
	Port uint16 `json:"port" yaml:"port"`
}

// Address is Name:Port.
func (c ProxyConfig) Address() string {
	return net.JoinHostPort(c.Name, strconv.Itoa(int(c.Port)))
}

// Validate checks the type, name and port.
func (c ProxyConfig) Validate() error {
	if _, err := ParseProxyType(string(c.Type)); err != nil {
		return err
	}
	if c.Name == "" {
		return fmt.Errorf("openproxy: outbound proxy: empty name")
	}
	if c.Port == 0 {
		return fmt.Errorf("openproxy: outbound proxy %s: port 0", c.Name)
	}
	return nil
}
