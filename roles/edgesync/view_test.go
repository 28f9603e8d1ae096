package edgesync

import (
	"slices"
	"testing"

	"github.com/exsim/exsim/store/directory"
)

func TestViewOfLocalConfiguration(t *testing.T) {
	tree := directory.NewTree()
	edge, err := NewEdge(tree, EdgeOptions{Name: "EDGE01", FQDN: "edge01.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	if edge.Subscribed() {
		t.Fatalf("a new Edge is subscribed")
	}
	for _, d := range []AcceptedDomain{
		{Name: "contoso.com", Type: Authoritative, Default: true},
		{Name: "*.contoso.com", Type: InternalRelay},
		{Name: "*.eu.contoso.com", Type: Authoritative},
		{Name: "fabrikam.com", Type: ExternalRelay},
	} {
		if err := edge.SetAcceptedDomain(d); err != nil {
			t.Fatalf("SetAcceptedDomain(%v) = %v", d, err)
		}
	}
	// Set again: an update, not a duplicate.
	if err := edge.SetAcceptedDomain(AcceptedDomain{Name: "FABRIKAM.com", Type: InternalRelay}); err != nil {
		t.Fatal(err)
	}
	v := edge.View()
	for domain, want := range map[string]bool{
		"contoso.com":          true,
		"sales.contoso.com":    false, // *.contoso.com is InternalRelay
		"paris.eu.contoso.com": true,  // the more specific wildcard wins
		"fabrikam.com":         false,
		"example.com":          false,
	} {
		if got := v.IsAuthoritative(domain); got != want {
			t.Errorf("IsAuthoritative(%q) = %v, want %v", domain, got, want)
		}
	}
	if d, ok := v.AcceptedDomain("fabrikam.com"); !ok || d.Type != InternalRelay {
		t.Errorf("AcceptedDomain(fabrikam.com) = %v, %v; want InternalRelay", d, ok)
	}
	if got := len(v.AcceptedDomains()); got != 4 {
		t.Errorf("AcceptedDomains() = %d domains, want 4", got)
	}
	c := Connector{Name: "To Internet", AddressSpaces: []string{"SMTP:*;1"}, SmartHosts: []string{"smarthost.example"}, Port: 587}
	if err := edge.SetSendConnector(c); err != nil {
		t.Fatal(err)
	}
	got, ok := v.SendConnector("To Internet")
	if !ok || got.Name != c.Name || !slices.Equal(got.SmartHosts, c.SmartHosts) || got.Port != 587 || got.DNSRouting {
		t.Errorf("SendConnector() = %+v, %v; want %+v", got, ok, c)
	}
	if err := edge.RemoveSendConnector("To Internet"); err != nil {
		t.Errorf("RemoveSendConnector() = %v", err)
	}
	if !v.Stale(0) || !v.LastSync().IsZero() {
		t.Errorf("an Edge that never synced is not stale")
	}
	if known, have := v.KnownRecipient("alice@contoso.com"); known || have {
		t.Errorf("KnownRecipient() without data = %v, %v", known, have)
	}
	// A reader account may bind and read, and the RootDSE names the NC.
	dn, err := edge.AddReader("Reader", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := directory.NewDirectoryAuthenticator(tree, nil).Bind(dn, "pw"); err != nil {
		t.Errorf("reader bind = %v", err)
	}
	acl, _ := edge.Authorizer()
	if !acl.Allowed(dn, edge.Layout().AcceptedDomains(), directory.RightRead) || acl.Allowed(dn, edge.Layout().AcceptedDomains(), directory.RightWrite) {
		t.Errorf("reader rights wrong")
	}
	if got := edge.RootDSE()["configurationNamingContext"]; !slices.Equal(got, []string{edge.Layout().ConfigNC}) {
		t.Errorf("RootDSE configurationNamingContext = %q", got)
	}
}

func TestDiffAttributes(t *testing.T) {
	have := &directory.Entry{DN: "CN=x", Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"top", "a"}},
		{Name: "cn", Values: []string{"x"}},
		{Name: "old", Values: []string{"1"}},
		{Name: "same", Values: []string{"b", "a"}},
		{Name: "whenChanged", Values: []string{"20240101000000.0Z"}},
		{Name: "userPassword", Values: []string{"{SSHA256}x"}},
	}}
	want := &directory.Entry{DN: "CN=x", Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"a", "top"}},
		{Name: "cn", Values: []string{"x"}},
		{Name: "same", Values: []string{"a", "b"}},
		{Name: "new", Values: []string{"2"}},
	}}
	mods := diffAttributes(have, want)
	if len(mods) != 2 || mods[0].Attr != "new" || mods[1].Attr != "old" || len(mods[1].Values) != 0 {
		t.Errorf("diffAttributes() = %+v, want replace new and remove old", mods)
	}
}
