package topology

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestBuiltinsValidate(t *testing.T) {
	for _, name := range BuiltinNames() {
		top, err := Builtin(name)
		if err != nil {
			t.Fatalf("Builtin(%q) = %v", name, err)
		}
		if err := top.Validate(); err != nil {
			t.Errorf("Builtin(%q).Validate() = %v", name, err)
		}
	}
	if got := BuiltinNames(); strings.Join(got, ",") != "contoso,contoso-noedge" {
		t.Errorf("BuiltinNames() = %v, want [contoso contoso-noedge]", got)
	}
}

func TestContosoMatchesSpec(t *testing.T) {
	top, err := Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, role, zone, fqdn, addr string
	}{
		{"EDGE01", "edge", "perimeter", "edge01.contoso.com", "127.0.10.1"},
		{"EX01", "mailbox", "internal", "ex01.contoso.com", "127.0.20.1"},
		{"EX02", "mailbox", "internal", "ex02.contoso.com", "127.0.20.2"},
		{"DNS01", "dns", "internal", "dns01.contoso.com", "127.0.20.53"},
		{"INET01", "internet", "internet", "mx.fabrikam.com", "127.0.30.1"},
	}
	if len(top.Servers) != len(want) {
		t.Fatalf("%d servers, want %d", len(top.Servers), len(want))
	}
	for i, w := range want {
		s := top.Servers[i]
		if s.Name != w.name || string(s.Role) != w.role || s.Zone != w.zone || s.FQDN != w.fqdn || s.Address != w.addr {
			t.Errorf("server %d = %s %s %s %s %s, want %v", i, s.Name, s.Role, s.Zone, s.FQDN, s.Address, w)
		}
	}
	if !top.Server("EDGE01").Edge.Subscribed {
		t.Error("EDGE01 not subscribed")
	}
	ex01, ex02 := top.Server("EX01"), top.Server("EX02")
	if !ex01.Mailbox.EdgeSync || !ex01.Mailbox.IMAP4 || !ex01.Mailbox.POP3 {
		t.Errorf("EX01 options = %+v, want edge_sync, imap4, pop3", ex01.Mailbox)
	}
	if ex02.Mailbox.EdgeSync || ex02.Mailbox.IMAP4 || ex02.Mailbox.POP3 {
		t.Errorf("EX02 options = %+v, want none", ex02.Mailbox)
	}
	for addr, server := range map[string]string{"alice@contoso.com": "EX01", "bob@contoso.com": "EX02", "carol@fabrikam.com": "INET01"} {
		m := top.Mailbox(addr)
		if m == nil || m.Server != server || m.Password != "P@ssw0rd" {
			t.Errorf("Mailbox(%s) = %+v, want on %s with P@ssw0rd", addr, m, server)
		}
	}
	if top.Site != "Default-First-Site-Name" {
		t.Errorf("Site = %q", top.Site)
	}
}

func TestDNSZones(t *testing.T) {
	for _, tc := range []struct {
		topology string
		want     []string // "name TYPE value"
	}{
		{"contoso", []string{
			"contoso.com MX edge01.contoso.com",
			"fabrikam.com MX mx.fabrikam.com",
			"autodiscover.contoso.com A 127.0.20.1",
			"_autodiscover._tcp.contoso.com SRV autodiscover.contoso.com",
			"mail.contoso.com A 127.0.20.1",
			"edge01.contoso.com A 127.0.10.1",
			"ex02.contoso.com A 127.0.20.2",
			"dns01.contoso.com A 127.0.20.53",
			"mx.fabrikam.com A 127.0.30.1",
			"1.20.0.127.in-addr.arpa PTR ex01.contoso.com",
			"1.30.0.127.in-addr.arpa PTR mx.fabrikam.com",
		}},
		{"contoso-noedge", []string{
			"contoso.com MX ex01.contoso.com",
			"fabrikam.com MX mx.fabrikam.com",
		}},
	} {
		top, err := Builtin(tc.topology)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		mx := 0
		for _, z := range top.DNSZones() {
			for _, r := range z.Records {
				if r.Name != z.Origin && !strings.HasSuffix(r.Name, "."+z.Origin) {
					t.Errorf("record %s outside zone %s", r.Name, z.Origin)
				}
				have[r.Name+" "+r.Type+" "+r.Value] = true
				if r.Name == "contoso.com" && r.Type == "MX" {
					mx++
				}
			}
		}
		for _, w := range tc.want {
			if !have[w] {
				t.Errorf("%s: DNSZones() lacks %q", tc.topology, w)
			}
		}
		if mx != 1 {
			t.Errorf("%s: contoso.com has %d MX records, want 1", tc.topology, mx)
		}
	}
}

func TestListenersJSON(t *testing.T) {
	top, _ := Builtin("contoso")
	b, err := json.Marshal(top.View())
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Organization    string   `json:"organization"`
		Site            string   `json:"site"`
		AcceptedDomains []string `json:"accepted_domains"`
		Servers         []struct {
			Name, Role, FQDN, Address, Zone string
			Listeners                       []map[string]any `json:"listeners"`
		} `json:"servers"`
		Mailboxes []map[string]any `json:"mailboxes"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Organization != "Contoso" || len(v.Servers) != 5 || len(v.Mailboxes) != 3 {
		t.Fatalf("view = %s", b)
	}
	for _, m := range v.Mailboxes {
		if _, ok := m["password"]; ok {
			t.Error("mailbox view carries the password")
		}
	}
	find := func(server, name string, port int) map[string]any {
		for _, s := range v.Servers {
			if s.Name != server {
				continue
			}
			for _, l := range s.Listeners {
				if l["name"] == name && int(l["port"].(float64)) == port {
					return l
				}
			}
		}
		return nil
	}
	for _, tc := range []struct {
		server, name string
		port         int
		protocol     string
		tls          string
		enabled      bool
	}{
		{"EX01", "Default Frontend EX01", 25, "smtp", "starttls", true},
		{"EX01", "Outbound Proxy Frontend EX01", 717, "smtp", "starttls", true},
		{"EX01", "Client Frontend EX01", 587, "smtp", "starttls", true},
		{"EX01", "Default EX01", 2525, "smtp", "starttls", true},
		{"EX01", "Client Proxy EX01", 465, "smtp", "starttls", true},
		{"EX01", "Default Mailbox Delivery EX01", 475, "smtp", "starttls", true},
		{"EX01", "Microsoft Exchange IMAP4", 993, "imap", "implicit", true},
		{"EX02", "Microsoft Exchange IMAP4", 143, "imap", "starttls", false},
		{"EX02", "Microsoft Exchange POP3", 995, "pop3", "implicit", false},
		{"EDGE01", "Default internal Receive connector EDGE01", 25, "smtp", "starttls", true},
		{"EDGE01", "Microsoft Exchange ADAM (EdgeSync)", 50636, "ldaps", "implicit", true},
		{"DNS01", "DNS Server", 53, "dns", "none", true},
	} {
		l := find(tc.server, tc.name, tc.port)
		if l == nil {
			t.Errorf("no listener %q port %d on %s", tc.name, tc.port, tc.server)
			continue
		}
		if l["protocol"] != tc.protocol || l["tls"] != tc.tls || l["enabled"] != tc.enabled || l["transport"] != "tcp" && l["transport"] != "udp" {
			t.Errorf("listener %q = %v, want protocol %s tls %s enabled %v", tc.name, l, tc.protocol, tc.tls, tc.enabled)
		}
		for _, k := range []string{"name", "protocol", "transport", "port", "tls", "enabled"} {
			if _, ok := l[k]; !ok {
				t.Errorf("listener %q lacks %q", tc.name, k)
			}
		}
		if len(l) != 6 {
			t.Errorf("listener %q has keys %v, want exactly the six of SPEC section 2", tc.name, l)
		}
	}
	if err := top.SetPortOffset(10000); err != nil {
		t.Fatal(err)
	}
	off := top.View()
	if off.Servers[1].Listeners[0].Port != 10025 {
		t.Errorf("port offset: %d, want 10025", off.Servers[1].Listeners[0].Port)
	}
}

func TestParseErrorsNameLineAndKey(t *testing.T) {
	good, _ := BuiltinSource("contoso")
	for _, tc := range []struct {
		name   string
		edit   func(string) string
		line   int
		substr string
	}{
		{"unknown key", func(s string) string {
			return strings.Replace(s, "    fqdn: ex02.contoso.com\n", "    fqdn: ex02.contoso.com\n    adress: 1.2.3.4\n", 1)
		}, 0, `unknown key "adress"`},
		{"bad address", func(s string) string { return strings.Replace(s, "127.0.20.2", "127.0.20.x", 1) }, 0, `servers[2].address: "127.0.20.x" is not an IPv4 or IPv6 address`},
		{"unknown zone", func(s string) string { return strings.Replace(s, "zone: perimeter", "zone: dmz", 1) }, 0, `servers[0].zone: "dmz" is not a zone`},
		{"bad home server", func(s string) string { return strings.Replace(s, "server: EX02", "server: EX09", 1) }, 0, `mailboxes[1].server: "EX09" is not a server`},
		{"internet mailbox publishing", func(s string) string {
			return strings.Replace(s, "    server: INET01\n", "    server: INET01\n    publish_calendar: true\n", 1)
		}, 0, `.publish_calendar: carol@fabrikam.com is on internet server INET01; only Exchange mailboxes publish calendars`},
		{"publish_calendar not a bool", func(s string) string {
			return strings.Replace(s, "    server: EX02\n", "    server: EX02\n    publish_calendar: yes please\n", 1)
		}, 0, `"yes please": expected true or false`},
		{"duplicate key", func(s string) string {
			return strings.Replace(s, "site: Default-First-Site-Name\n", "site: A\nsite: B\n", 1)
		}, 0, `mapping key "site" already defined`},
		{"wrong type", func(s string) string { return strings.Replace(s, "version: 2019", "version: [2019]", 1) }, 0, "expected a whole number, found a list"},
		{"lower-case name", func(s string) string { return strings.Replace(s, "name: EX01", "name: ex01", 1) }, 0, `servers[1].name: "ex01" is not a NetBIOS-style`},
		{"bad timer", func(s string) string { return strings.Replace(s, "profile: lab", "profile: fast", 1) }, 0, `timers.profile: "fast"`},
		{"imap on dns", func(s string) string {
			return strings.Replace(s, "    zone: internal\n  - name: INET01", "    zone: internal\n    mailbox:\n      imap4: true\n  - name: INET01", 1)
		}, 0, "a mailbox block on a dns server"},
		{"subnet without prefix length", func(s string) string {
			s = strings.Replace(s, "192.0.2.0/24", "192.0.2.0", 1)
			return strings.Replace(s, "address: 127.0.20.1", "address: 192.0.2.1", 1)
		}, 0, `zones[2].subnet: "192.0.2.0" is not a network in CIDR form`},
		{"overlapping zones", func(s string) string {
			s = strings.Replace(s, "198.51.100.0/24", "10.99.0.0/16", 1)
			return strings.Replace(s, "192.0.2.0/24", "10.99.3.0/24", 1)
		}, 0, `zones[2].subnet: 10.99.3.0/24 overlaps zone perimeter's subnet 10.99.0.0/16`},
		{"unknown management role", func(s string) string {
			return strings.Replace(s, "    server: EX02\n", "    server: EX02\n    roles: [ApplicationImpersonator]\n", 1)
		}, 0, `mailboxes[1].roles[0]: "ApplicationImpersonator" is not a management role exsim knows`},
		{"role outside the organization", func(s string) string {
			return strings.Replace(s, "    server: INET01\n", "    server: INET01\n    roles: [ApplicationImpersonation]\n", 1)
		}, 0, `mailboxes[2].roles[0]: carol@fabrikam.com is an account of INET01, outside the organization`},
		{"negative rate limit", func(s string) string {
			return strings.Replace(s, "message_rate_limit: 0 ", "message_rate_limit: -5 ", 1)
		}, 0, `servers[0].edge.message_rate_limit: -5: write a number of messages per minute`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, line := parseFails(t, tc.edit(string(good)))
			if msg := es.Error(); !strings.Contains(msg, tc.substr) {
				t.Errorf("error %q lacks %q", msg, tc.substr)
			}
			t.Logf("%s (line: %q)", es[0], line)
		})
	}
}

// parseFails parses src as lab.yaml, which must fail with Errors whose
// first names the file and a line of it; it returns the errors and that
// line.
func parseFails(t *testing.T, src string) (Errors, string) {
	t.Helper()
	_, err := Parse("lab.yaml", []byte(src))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Parse = %v, want Errors", err)
	}
	lines := strings.Split(src, "\n")
	if !strings.HasPrefix(es[0].Error(), "lab.yaml:") || es[0].Line < 1 || es[0].Line > len(lines) {
		t.Fatalf("error %q does not name the file and a line of it", es[0])
	}
	return es, lines[es[0].Line-1]
}

func TestOverlappingZonesNameTheLine(t *testing.T) {
	src, _ := BuiltinSource("contoso")
	s := strings.Replace(string(src), "198.51.100.0/24", "10.99.0.0/16", 1)
	s = strings.Replace(s, "192.0.2.0/24", "10.99.3.0/24", 1)
	es, line := parseFails(t, s)
	if len(es) != 1 {
		t.Fatalf("Parse = %v, want one error", es)
	}
	if es[0].Key != "zones[2].subnet" || !strings.Contains(line, "subnet: 10.99.3.0/24") {
		t.Errorf("error %q points at line %q, want the internal zone's subnet", es[0], line)
	}
}

func TestErrorLinePointsAtValue(t *testing.T) {
	src, _ := BuiltinSource("contoso")
	es, line := parseFails(t, strings.Replace(string(src), "127.0.30.1", "300.1.1.1", 1))
	if !strings.Contains(line, "300.1.1.1") {
		t.Errorf("error line %d is %q, want the address line", es[0].Line, line)
	}
}

func TestEmptyAndHuge(t *testing.T) {
	if _, err := Parse("x.yaml", nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Parse(empty) = %v", err)
	}
	if _, err := Parse("x.yaml", []byte(strings.Repeat("#", maxFileSize+1))); err == nil {
		t.Error("Parse(huge) succeeded")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	top, _ := Builtin("contoso-noedge")
	b, err := top.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("init.yaml", b)
	if err != nil {
		t.Fatalf("re-parse of Marshal output: %v\n%s", err, b)
	}
	if len(again.SendConnectors) != 2 || !again.SendConnectors[1].FrontEndProxyEnabled || again.Mailbox("alice@contoso.com").Password != "P@ssw0rd" {
		t.Errorf("round trip lost data: %+v", again.SendConnectors)
	}
}

func TestTimers(t *testing.T) {
	lab := Timers{Profile: ProfileLab}.For(RoleMailbox)
	if lab.TransientFailureRetryInterval > 5*1e9 {
		t.Errorf("lab retry interval %v, want seconds", lab.TransientFailureRetryInterval)
	}
	ex := Timers{Profile: ProfileExchange}.For(RoleEdge)
	if ex.TransientFailureRetryInterval.Minutes() != 10 || ex.OutboundConnectionFailureRetryInterval.Minutes() != 30 || ex.MessageExpirationTimeout.Hours() != 48 {
		t.Errorf("exchange edge timers = %+v", ex)
	}
	src, _ := BuiltinSource("contoso")
	s := strings.Replace(string(src), "  profile: lab", "  profile: lab\n  message_retry_interval: 90\n  message_expiration_timeout: 2d\n  tarpit_interval: \"1.5s\"", 1)
	top, err := Parse("lab.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	v := top.Timers.For(RoleMailbox)
	if v.MessageRetryInterval.Seconds() != 90 || v.MessageExpirationTimeout.Hours() != 48 || v.TarpitInterval.Seconds() != 1.5 {
		t.Errorf("overrides = %+v", v)
	}
	s = strings.Replace(string(src), "  profile: lab", "  profile: lab\n  message_retry_interval: soon", 1)
	if _, err := Parse("lab.yaml", []byte(s)); err == nil || !strings.Contains(err.Error(), "lab.yaml:") {
		t.Errorf("bad duration: %v", err)
	}
}

func TestForNetwork(t *testing.T) {
	top, _ := Builtin("contoso")
	nt, err := top.ForNetwork()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"EDGE01": "198.51.100.1", "EX01": "192.0.2.1", "EX02": "192.0.2.2", "DNS01": "192.0.2.53", "INET01": "203.0.113.1"}
	for name, addr := range want {
		if got := nt.Server(name).Address; got != addr {
			t.Errorf("%s = %s, want %s", name, got, addr)
		}
	}
	if top.Server("EX01").Address != "127.0.20.1" {
		t.Error("ForNetwork changed the original")
	}
	if got := RouterAddr(netip.MustParsePrefix("192.0.2.0/24")); got.String() != "192.0.2.254" {
		t.Errorf("RouterAddr = %s", got)
	}
	// DNS follows the new addresses.
	found := false
	for _, z := range nt.DNSZones() {
		for _, r := range z.Records {
			if r.Name == "1.2.0.192.in-addr.arpa" && r.Value == "ex01.contoso.com" {
				found = true
			}
		}
	}
	if !found {
		t.Error("no PTR for 192.0.2.1")
	}
}
