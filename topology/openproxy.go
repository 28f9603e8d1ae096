package topology

import "slices"

// OpenProxyTest is one protocol of sender reputation's open proxy test and
// the ports it is tried on, as documented.
type OpenProxyTest struct {
	// Protocol is socks4, socks5, wingate, telnet, cisco, http-connect or
	// http-post (the roles/senderrep protocol names).
	Protocol string
	// Ports are the documented ports, in the order they are tried.
	Ports []int
}

// openProxyTests is the one table of open proxy ports
// (sender-reputation-procedures.md, "configure open proxy server detection";
// the seed's "Open proxy server detection in sender reputation" row):
// SOCKS4 and SOCKS5 on 1081 and 1080; Wingate, Telnet and Cisco on 23;
// HTTP CONNECT and HTTP POST on 6588, 3128 and 80. The Edge's tester, the
// Internet server's impersonated proxies and the probe's flows all read it.
var openProxyTests = []OpenProxyTest{
	{"socks4", []int{1081, 1080}},
	{"socks5", []int{1081, 1080}},
	{"wingate", []int{23}},
	{"telnet", []int{23}},
	{"cisco", []int{23}},
	{"http-connect", []int{6588, 3128, 80}},
	{"http-post", []int{6588, 3128, 80}},
}

// OpenProxyTests returns a copy of the documented open proxy test table
// (documented ports; Topology.Port moves them by the port offset).
func OpenProxyTests() []OpenProxyTest {
	out := make([]OpenProxyTest, len(openProxyTests))
	for i, t := range openProxyTests {
		out[i] = OpenProxyTest{t.Protocol, slices.Clone(t.Ports)}
	}
	return out
}

// OpenProxyPorts returns every documented open proxy port once, in table
// order: 1081, 1080, 23, 6588, 3128, 80.
func OpenProxyPorts() []int {
	var out []int
	for _, t := range openProxyTests {
		for _, p := range t.Ports {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// openProxyListeners are the Internet server's impersonated open proxies:
// one listener per port of the table, speaking the protocols tested there.
func openProxyListeners() []listenerSpec {
	var out []listenerSpec
	for _, p := range OpenProxyPorts() {
		for _, t := range openProxyTests {
			if !slices.Contains(t.Ports, p) {
				continue
			}
			sp := listenerSpec{kind: ProxyHTTP, name: "Open proxy HTTP", protocol: "http-proxy", transport: "tcp", port: p, tls: TLSNone}
			switch t.Protocol {
			case "socks4", "socks5":
				sp.kind, sp.name, sp.protocol = ProxySOCKS, "Open proxy SOCKS", "socks"
			case "wingate", "telnet", "cisco":
				sp.kind, sp.name, sp.protocol = ProxyWingate, "Open proxy Wingate", "telnet"
			}
			out = append(out, sp)
			break
		}
	}
	return out
}
