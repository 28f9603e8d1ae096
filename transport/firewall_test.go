package transport

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/loopback"
)

// firewallInput has one field of every family the header firewall knows,
// folded and in odd case, around fields it never touches.
const firewallInput = "Received: from a (1.2.3.4) by b (5.6.7.8)\r\n\twith SMTP; Fri, 5 Aug 2016 16:24:41 -0700\r\n" +
	"Subject: hi\r\n" +
	"x-ms-exchange-organization-scl: -1\r\n" +
	"X-MS-Exchange-Organization-AuthAs: Internal\r\n" +
	"X-MS-Exchange-Forest-RulesExecuted: EX01\r\n" +
	"Resent-From: mallory@fabrikam.com\r\n" +
	"RESENT-MESSAGE-ID: <r1@fabrikam.com>\r\n" +
	"received: from c by d; Fri, 5 Aug 2016 16:24:42 -0700\r\n" +
	"X-MS-Exchange-Organizational: not ours\r\n" +
	"X-Originating-IP: [192.0.2.1]\r\n" +
	"\r\n" +
	"X-MS-Exchange-Organization-SCL: a body line, never a header\r\n"

// fieldNames lists the header's field names in order.
func fieldNames(m RawMessage) string {
	var names []string
	for _, f := range m.Fields() {
		names = append(names, strings.TrimSpace(f.Name))
	}
	return strings.Join(names, ",")
}

// TestHeaderFirewallPerPermission: the page's first table, one row per
// permission: a connector without the permission loses that family, with
// it keeps it; fields of no family stay whatever the connector holds.
func TestHeaderFirewallPerPermission(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    HeaderPermissions
		want string
	}{
		{"all", PermitAll, "Received,Subject,x-ms-exchange-organization-scl,X-MS-Exchange-Organization-AuthAs,X-MS-Exchange-Forest-RulesExecuted,Resent-From,RESENT-MESSAGE-ID,received,X-MS-Exchange-Organizational,X-Originating-IP"},
		{"none", 0, "Subject,X-MS-Exchange-Organizational,X-Originating-IP"},
		{"routing", PermitRouting, "Received,Subject,Resent-From,RESENT-MESSAGE-ID,received,X-MS-Exchange-Organizational,X-Originating-IP"},
		{"organization", PermitOrganization, "Subject,x-ms-exchange-organization-scl,X-MS-Exchange-Organization-AuthAs,X-MS-Exchange-Organizational,X-Originating-IP"},
		{"forest", PermitForest, "Subject,X-MS-Exchange-Forest-RulesExecuted,X-MS-Exchange-Organizational,X-Originating-IP"},
		{"organization and forest", PermitOrganization | PermitForest, "Subject,x-ms-exchange-organization-scl,X-MS-Exchange-Organization-AuthAs,X-MS-Exchange-Forest-RulesExecuted,X-MS-Exchange-Organizational,X-Originating-IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := SplitMessage([]byte(firewallInput))
			got := in.Firewall(tc.p)
			if names := fieldNames(got); names != tc.want {
				t.Errorf("Firewall(%v) fields = %s\nwant %s", tc.p, names, tc.want)
			}
			if !bytes.Equal(got.Body, in.Body) || &got.Body[0] != &in.Body[0] {
				t.Errorf("Firewall(%v) changed or copied the body", tc.p)
			}
			if strings.Contains(tc.want, "Received") && !bytes.Contains(got.Header, []byte("\r\n\twith SMTP;")) {
				t.Errorf("Firewall(%v) lost the folded line of a kept field:\n%s", tc.p, got.Header)
			}
		})
	}
}

// TestHeaderFirewallTables: the page's tables of default permissions.
func TestHeaderFirewallTables(t *testing.T) {
	for _, tc := range []struct {
		group PermissionGroup
		want  HeaderPermissions
	}{
		{ExchangeServers, PermitOrganization | PermitForest | PermitRouting}, // Internal
		{AnonymousUsers, PermitRouting},                                      // Internet
		{ExchangeUsers, PermitRouting},                                       // Client
		{Partners, PermitRouting},                                            // Internet and Partner
		{"ExchangeLegacyServers", 0},                                         // the page is silent
		{"", 0},                                                              // PermissionGroups None
	} {
		if got := AcceptHeaders(tc.group); got != tc.want {
			t.Errorf("AcceptHeaders(%q) = %b, want %b", tc.group, got, tc.want)
		}
	}
	for _, tc := range []struct {
		usage SendConnectorUsage
		want  HeaderPermissions
	}{
		{UsageInternal, PermitOrganization | PermitForest | PermitRouting},
		{UsageInternet, PermitRouting},
		{UsagePartner, PermitRouting},
		{UsageCustom, 0},
	} {
		if got := SendHeaders(tc.usage); got != tc.want {
			t.Errorf("SendHeaders(%q) = %b, want %b", tc.usage, got, tc.want)
		}
	}
}

// TestFirewallMessage: the send path sends the message itself when nothing
// goes, else a new header section followed by the unchanged body.
func TestFirewallMessage(t *testing.T) {
	data := []byte(firewallInput)
	if parts := FirewallMessage(data, PermitAll); len(parts) != 1 || &parts[0][0] != &data[0] {
		t.Errorf("FirewallMessage(all) = %d parts, want data itself", len(parts))
	}
	clean := []byte("Received: from a by b; Fri, 5 Aug 2016 16:24:41 -0700\r\nSubject: hi\r\n\r\nbody\r\n")
	if parts := FirewallMessage(clean, PermitRouting); len(parts) != 1 || &parts[0][0] != &clean[0] {
		t.Errorf("FirewallMessage(nothing to remove) = %d parts, want data itself", len(parts))
	}
	parts := FirewallMessage(data, PermitRouting)
	if len(parts) != 2 {
		t.Fatalf("FirewallMessage(routing) = %d parts, want header and body", len(parts))
	}
	body := data[strings.Index(firewallInput, "\r\n\r\n")+4:]
	if &parts[1][0] != &body[0] || len(parts[1]) != len(body) {
		t.Error("FirewallMessage copied the body")
	}
	got := string(bytes.Join(parts, nil))
	// The input without its organization and forest fields.
	want := strings.NewReplacer(
		"x-ms-exchange-organization-scl: -1\r\n", "",
		"X-MS-Exchange-Organization-AuthAs: Internal\r\n", "",
		"X-MS-Exchange-Forest-RulesExecuted: EX01\r\n", "",
	).Replace(firewallInput)
	if got != want {
		t.Errorf("FirewallMessage(routing) =\n%s\nwant\n%s", got, want)
	}
}

// TestIngressHeaderFirewall: a Receive connector removes what the
// session's permission group may not bring, before its own Received.
func TestIngressHeaderFirewall(t *testing.T) {
	in := "Received: from forged by forged; Fri, 5 Aug 2016 16:24:41 -0700\r\n" +
		"Resent-From: mallory@fabrikam.com\r\n" +
		"X-MS-Exchange-Organization-SCL: -1\r\n" +
		"X-MS-Exchange-Forest-RulesExecuted: forged\r\n" +
		"Subject: hi\r\nMessage-ID: <fw@fabrikam.com>\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name  string
		st    Stamp
		want  []string
		gone  []string
		recvd int
	}{
		{"AnonymousUsers", Stamp{Accept: AcceptHeaders(AnonymousUsers), Org: OrgStamp, AuthAs: "Anonymous"},
			[]string{"Resent-From", "Subject"}, []string{"X-MS-Exchange-Organization-SCL", "X-MS-Exchange-Forest-RulesExecuted"}, 2},
		{"ExchangeServers", Stamp{Accept: AcceptHeaders(ExchangeServers), Org: OrgFill},
			[]string{"Resent-From", "X-MS-Exchange-Organization-SCL", "X-MS-Exchange-Forest-RulesExecuted"}, nil, 2},
		{"no permission group", Stamp{Accept: 0, Org: OrgStamp, AuthAs: "Anonymous"},
			[]string{"Subject"}, []string{"Resent-From", "X-MS-Exchange-Organization-SCL", "X-MS-Exchange-Forest-RulesExecuted"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := newFakeNet()
			tr := newTransport(t, t.TempDir(), net, &byDomain{}, labTimers())
			defer tr.Close()
			addr := serveIngress(t, &ingressBackend{stamp: tc.st, target: tr})
			if got := send(t, addr, in, "alice@contoso.com"); !strings.HasPrefix(got, "250 ") {
				t.Fatalf("DATA = %q", got)
			}
			<-net.sent
			m := SplitMessage([]byte(net.bodies("alice@contoso.com")[0]))
			for _, f := range tc.want {
				if m.Get(f) == "" {
					t.Errorf("%s missing:\n%s", f, m.Header)
				}
			}
			for _, f := range tc.gone {
				if m.Get(f) != "" {
					t.Errorf("%s kept:\n%s", f, m.Header)
				}
			}
			if n := m.Count("Received"); n != tc.recvd {
				t.Errorf("%d Received fields, want %d:\n%s", n, tc.recvd, m.Header)
			}
			if !strings.Contains(m.Get("Received"), "by ex01.contoso.com") {
				t.Errorf("first Received = %q, want this hop's", m.Get("Received"))
			}
		})
	}
}

// TestSMTPSenderHeaderFirewall: an Exchange server's sender applies the
// Send connector's permissions to what it sends; the spooled bytes stay
// as they were. A sender that is not Exchange's sends everything.
func TestSMTPSenderHeaderFirewall(t *testing.T) {
	sk := &sink{}
	srv := smtp.NewServer(sk)
	srv.Domain = "mx.fabrikam.com"
	srv.AllowInsecureAuth = true
	l := loopback.ServeSMTP(t, srv)
	port := l.Addr().(*net.TCPAddr).Port
	data := "Received: from ex01.contoso.com by edge01.contoso.com; Fri, 5 Aug 2016 16:24:41 -0700\r\n" +
		HeaderAuthAs + ": Internal\r\n" + HeaderOrigClientIP + ": 192.0.2.10\r\n" +
		"X-MS-Exchange-Forest-RulesExecuted: EX01\r\nSubject: out\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name     string
		firewall bool
		keep     HeaderPermissions
		want     string
	}{
		{"Internet usage", true, SendHeaders(UsageInternet), "Received: from ex01.contoso.com by edge01.contoso.com; Fri, 5 Aug 2016 16:24:41 -0700\r\nSubject: out\r\n\r\nbody\r\n"},
		{"Internal usage", true, SendHeaders(UsageInternal), data},
		{"Custom usage", true, SendHeaders(UsageCustom), "Subject: out\r\n\r\nbody\r\n"},
		{"not an Exchange server", false, 0, data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sk.mu.Lock()
			sk.got = nil
			sk.mu.Unlock()
			s := &SMTPSender{
				HeloName: "edge01.contoso.com", HeaderFirewall: tc.firewall,
				Dial:     (&labnet.Dialer{}).DialContext,
				Resolver: staticResolver{"mx.fabrikam.com": {netip.MustParseAddr("127.0.0.1")}},
			}
			c, err := s.Open(context.Background(), NextHop{Type: DeliveryDNS, Domain: "fabrikam.com", MX: true, Port: port, SendHeaders: tc.keep})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			m, _ := msg("alice@contoso.com", "carol@fabrikam.com")
			body := []byte(data)
			replies, err := c.Send(context.Background(), m, []string{"carol@fabrikam.com"}, body)
			if err != nil || replies["carol@fabrikam.com"].Code != 250 {
				t.Fatalf("Send = %v, %v", replies, err)
			}
			if string(body) != data {
				t.Error("Send changed the spooled bytes")
			}
			sk.mu.Lock()
			defer sk.mu.Unlock()
			if len(sk.got) != 1 || sk.got[0] != "carol@fabrikam.com:"+tc.want {
				t.Errorf("sent %q\nwant %q", sk.got, tc.want)
			}
		})
	}
}

// TestEqualFold: the byte comparison of field names agrees with
// strings.EqualFold, Unicode folding of a non-ASCII name included.
func TestEqualFold(t *testing.T) {
	for _, name := range []string{"Received", "received", "RECEIVED", "Receivee", "Receive", "Received ",
		"X-MS-Exchange-Organization-AuthAs", "x-ms-exchange-organization-authas", "X-M\u017f-Exchange-Organization-AuthAs",
		"Rece[ved", "Rece{ved", "Re@eived", ""} {
		for _, s := range []string{"Received", "X-MS-Exchange-Organization-AuthAs", "Rece{ved", "Re`eived"} {
			if got, want := equalFold([]byte(name), s), strings.EqualFold(name, s); got != want {
				t.Errorf("equalFold(%q, %q) = %v, want %v", name, s, got, want)
			}
		}
	}
}
