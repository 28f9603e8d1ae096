package ldapd

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/internal/leaktest"
	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

func TestLDAPSBindAddSearchModifyDelete(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	c := bound(t, ts.dialLDAPS(t), directorytest.Writer)

	dn := "CN=alice,CN=Data," + directorytest.NC
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"top", "contact"})
	add.Attribute("mail", []string{"alice@contoso.com"})
	add.Attribute("description", []string{"one", "two"})
	if err := c.Add(add); err != nil {
		t.Fatalf("Add(%s) = %v", dn, err)
	}
	if err := c.Add(add); resultCode(err) != ldap.LDAPResultEntryAlreadyExists {
		t.Errorf("Add(%s) again = %v, want entryAlreadyExists", dn, err)
	}

	// The DN compares case-insensitively.
	res, err := c.Search(ldap.NewSearchRequest("cn=ALICE,cn=data,"+directorytest.NC, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"mail", "cn"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("Search(base) = %v, %v; want 1 entry", res, err)
	}
	if got := res.Entries[0].GetAttributeValue("mail"); got != "alice@contoso.com" {
		t.Errorf("mail = %q, want alice@contoso.com", got)
	}
	if got := res.Entries[0].GetAttributeValue("cn"); got != "alice" {
		t.Errorf("cn = %q, want alice (filled in from the RDN)", got)
	}

	mod := ldap.NewModifyRequest(dn, nil)
	mod.Add("description", []string{"three"})
	mod.Delete("description", []string{"one"})
	mod.Replace("mail", []string{"alice@fabrikam.com"})
	mod.Add("telephoneNumber", []string{"+1 555 0100"})
	if err := c.Modify(mod); err != nil {
		t.Fatalf("Modify(%s) = %v", dn, err)
	}
	e, err := ts.dir.Get(dn)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Get("description"), []string{"two", "three"}; !slices.Equal(got, want) {
		t.Errorf("description = %q, want %q", got, want)
	}
	if got := e.First("mail"); got != "alice@fabrikam.com" {
		t.Errorf("mail = %q, want alice@fabrikam.com", got)
	}

	del := ldap.NewModifyRequest(dn, nil)
	del.Delete("telephoneNumber", nil)
	if err := c.Modify(del); err != nil {
		t.Fatalf("Modify(delete attribute) = %v", err)
	}
	if e, _ := ts.dir.Get(dn); len(e.Get("telephoneNumber")) != 0 {
		t.Errorf("telephoneNumber still present: %q", e.Get("telephoneNumber"))
	}

	for _, tc := range []struct {
		name string
		mod  func(*ldap.ModifyRequest)
		want uint16
	}{
		{"delete missing value", func(m *ldap.ModifyRequest) { m.Delete("description", []string{"nope"}) }, ldap.LDAPResultNoSuchAttribute},
		{"add existing value", func(m *ldap.ModifyRequest) { m.Add("description", []string{"TWO"}) }, ldap.LDAPResultAttributeOrValueExists},
		{"remove naming value", func(m *ldap.ModifyRequest) { m.Replace("cn", []string{"bob"}) }, ldap.LDAPResultNotAllowedOnRDN},
		{"system attribute", func(m *ldap.ModifyRequest) { m.Replace("whenCreated", []string{"20000101000000.0Z"}) }, ldap.LDAPResultUnwillingToPerform},
	} {
		m := ldap.NewModifyRequest(dn, nil)
		tc.mod(m)
		if err := c.Modify(m); resultCode(err) != tc.want {
			t.Errorf("Modify(%s) = %v, want code %d", tc.name, err, tc.want)
		}
	}

	if err := c.Del(ldap.NewDelRequest("CN=Data,"+directorytest.NC, nil)); resultCode(err) != ldap.LDAPResultNotAllowedOnNonLeaf {
		t.Errorf("Del(non-leaf) = %v, want notAllowedOnNonLeaf", err)
	}
	if err := c.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		t.Fatalf("Del(%s) = %v", dn, err)
	}
	_, err = c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil))
	if resultCode(err) != ldap.LDAPResultNoSuchObject {
		t.Fatalf("Search(deleted) = %v, want noSuchObject", err)
	}
	if le := err.(*ldap.Error); le.MatchedDN == "" {
		t.Errorf("noSuchObject without matchedDN: %v", err)
	}
}

func TestWrongPasswordGetsADText(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	for _, tc := range []struct{ dn, pw string }{
		{directorytest.Writer, "wrong"},
		{"CN=Nobody," + directorytest.Accounts, directorytest.Password},
		{"not a dn", directorytest.Password},
	} {
		c := ts.dialLDAPS(t)
		err := c.Bind(tc.dn, tc.pw)
		if resultCode(err) != ldap.LDAPResultInvalidCredentials {
			t.Errorf("Bind(%q, %q) = %v, want invalidCredentials", tc.dn, tc.pw, err)
			continue
		}
		if got, want := diagnostic(err), textInvalidCreds; got != want {
			t.Errorf("Bind(%q) diagnostic = %q, want %q", tc.dn, got, want)
		}
	}
}

func TestExpiredAccountGetsData701(t *testing.T) {
	dir := directorytest.Tree(t)
	expired := "CN=Expired," + directorytest.Accounts
	if err := dir.Apply(directory.Change{Kind: directory.ChangeAdd, Entry: &directory.Entry{DN: expired, Attributes: []directory.Attribute{
		{Name: "objectClass", Values: []string{"user"}},
		{Name: "userPassword", Values: []string{directory.HashPassword(directorytest.Password)}},
		{Name: "accountExpires", Values: []string{directory.FileTime(directorytest.Time(t, "2001-01-01T00:00:00Z"))}},
	}}}); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, dir)
	err := ts.dialLDAPS(t).Bind(expired, directorytest.Password)
	if got := diagnostic(err); got != textExpired {
		t.Errorf("Bind(expired) = %v, want diagnostic %q", err, textExpired)
	}
}

func TestAnonymousIsRefusedEverythingButTheRootDSE(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	c := ts.dialLDAPS(t)
	if err := c.UnauthenticatedBind(""); err != nil {
		t.Fatalf("anonymous bind = %v, want success (as on AD)", err)
	}
	root, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil))
	if err != nil || len(root.Entries) != 1 {
		t.Fatalf("Search(RootDSE) = %v, %v", root, err)
	}
	if got := root.Entries[0].GetAttributeValues("namingContexts"); !slices.Contains(got, directorytest.NC) {
		t.Errorf("namingContexts = %q, want %q among them", got, directorytest.NC)
	}
	if got := root.Entries[0].GetAttributeValue("configurationNamingContext"); got != directorytest.NC {
		t.Errorf("configurationNamingContext = %q, want %q", got, directorytest.NC)
	}
	if got := root.Entries[0].GetAttributeValues("supportedCapabilities"); !slices.Contains(got, "1.2.840.113556.1.4.1851") || slices.Contains(got, "1.2.840.113556.1.4.800") {
		t.Errorf("supportedCapabilities = %q, want the AD LDS capability and not AD DS's", got)
	}
	if got := root.Entries[0].GetAttributeValues("supportedControl"); !slices.Equal(got, adLDSControls) || !slices.Contains(got, ldap.ControlTypePaging) {
		t.Errorf("supportedControl = %q, want AD LDS's list with paged results", got)
	}
	if got := root.Entries[0].GetAttributeValues("supportedLDAPPolicies"); !slices.Equal(got, adLDSPolicies) || !slices.Contains(got, "MaxReceiveBuffer") {
		t.Errorf("supportedLDAPPolicies = %q, want AD LDS's list", got)
	}

	ops := map[string]func() error{
		"search": func() error {
			_, err := c.Search(ldap.NewSearchRequest(directorytest.NC, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", nil, nil))
			return err
		},
		"add": func() error {
			a := ldap.NewAddRequest("CN=x,"+directorytest.Data, nil)
			a.Attribute("objectClass", []string{"top"})
			return c.Add(a)
		},
		"modify": func() error {
			m := ldap.NewModifyRequest(directorytest.Data, nil)
			m.Replace("description", []string{"x"})
			return c.Modify(m)
		},
		"delete": func() error { return c.Del(ldap.NewDelRequest(directorytest.Data, nil)) },
	}
	for name, op := range ops {
		err := op()
		if resultCode(err) != ldap.LDAPResultOperationsError || diagnostic(err) != textBindRequired {
			t.Errorf("anonymous %s = %v, want operationsError %q", name, err, textBindRequired)
		}
	}
	// A failed bind leaves the connection anonymous too.
	c.Bind(directorytest.Writer, "wrong")
	if err := ops["search"](); resultCode(err) != ldap.LDAPResultOperationsError {
		t.Errorf("search after failed bind = %v, want operationsError", err)
	}
}

func TestAuthorization(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	reader := bound(t, ts.dialLDAPS(t), directorytest.Reader)
	a := ldap.NewAddRequest("CN=x,"+directorytest.Data, nil)
	a.Attribute("objectClass", []string{"top"})
	if err := reader.Add(a); resultCode(err) != ldap.LDAPResultInsufficientAccessRights {
		t.Errorf("reader Add = %v, want insufficientAccessRights", err)
	}
	res, err := reader.Search(ldap.NewSearchRequest(directorytest.NC, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", nil, nil))
	if err != nil || len(res.Entries) != 7 {
		t.Fatalf("reader subtree search = %d entries, %v; want 7", len(res.Entries), err)
	}
	for _, e := range res.Entries {
		if v := e.GetAttributeValues("userPassword"); len(v) != 0 {
			t.Errorf("%s: userPassword returned: %q", e.DN, v)
		}
	}

	writer := bound(t, ts.dialLDAPS(t), directorytest.Writer)
	// Writer may write under Data only.
	b := ldap.NewAddRequest("CN=x,"+directorytest.Accounts, nil)
	b.Attribute("objectClass", []string{"top"})
	if err := writer.Add(b); resultCode(err) != ldap.LDAPResultInsufficientAccessRights {
		t.Errorf("writer Add outside Data = %v, want insufficientAccessRights", err)
	}
	if err := writer.Add(a); err != nil {
		t.Errorf("writer Add under Data = %v", err)
	}
}

func TestSearchFiltersScopesAndSelection(t *testing.T) {
	dir := directorytest.Tree(t)
	var changes []directory.Change
	for i := range 12 {
		changes = append(changes, directory.Change{Kind: directory.ChangeAdd, Entry: &directory.Entry{
			DN: fmt.Sprintf("CN=user%02d,%s", i, directorytest.Data),
			Attributes: []directory.Attribute{
				{Name: "objectClass", Values: []string{"top", "contact"}},
				{Name: "mail", Values: []string{fmt.Sprintf("user%02d@contoso.com", i)}},
				{Name: "uSNRank", Values: []string{fmt.Sprint(i)}},
			},
		}})
	}
	if err := dir.Apply(changes...); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, dir, func(o *Options) { o.MaxEntries = 5 })
	c := bound(t, ts.dialLDAPS(t), directorytest.Reader)
	for _, tc := range []struct {
		base   string
		scope  int
		filter string
		want   int
	}{
		{directorytest.Data, ldap.ScopeBaseObject, "(objectClass=*)", 1},
		{directorytest.NC, ldap.ScopeSingleLevel, "(objectClass=container)", 3},
		{directorytest.Data, ldap.ScopeSingleLevel, "(mail=user0*)", 10},
		{directorytest.Data, ldap.ScopeWholeSubtree, "(&(objectClass=contact)(uSNRank>=10))", 2},
		{directorytest.Data, ldap.ScopeWholeSubtree, "(|(mail=user01@contoso.com)(mail=USER02@CONTOSO.COM))", 2},
		{directorytest.Data, ldap.ScopeWholeSubtree, "(&(objectClass=contact)(!(uSNRank<=8)))", 3},
		{directorytest.Data, ldap.ScopeWholeSubtree, "(mail=*@contoso.com)", 12},
		{directorytest.Data, ldap.ScopeWholeSubtree, "(mail=user1*)", 2},
		{directorytest.Data, ldap.ScopeWholeSubtree, "(mail=u*r*0*@*.com)", 11},
		{directorytest.Data, ldap.ScopeWholeSubtree, "(telephoneNumber=*)", 0},
		{directorytest.Data, ldap.ScopeWholeSubtree, "(distinguishedName=cn=user03,cn=data," + directorytest.NC + ")", 1},
	} {
		// Paged, so that MaxEntries (5) does not cap the count.
		res, err := c.SearchWithPaging(ldap.NewSearchRequest(tc.base, tc.scope, 0, 0, 0, false, tc.filter, []string{"1.1"}, nil), 5)
		if err != nil || len(res.Entries) != tc.want {
			t.Errorf("Search(%s, %d, %s) = %d entries, %v; want %d", tc.base, tc.scope, tc.filter, len(res.Entries), err, tc.want)
		}
	}

	// Without paging, MaxEntries caps a search with sizeLimitExceeded.
	res, err := c.Search(ldap.NewSearchRequest(directorytest.Data, ldap.ScopeSingleLevel, 0, 0, 0, false, "(objectClass=contact)", nil, nil))
	if resultCode(err) != ldap.LDAPResultSizeLimitExceeded || res == nil || len(res.Entries) != 5 {
		t.Errorf("unpaged Search = %v entries, %v; want 5 and sizeLimitExceeded", res, err)
	}
	// The client's own size limit.
	res, err = c.Search(ldap.NewSearchRequest(directorytest.Data, ldap.ScopeSingleLevel, 0, 2, 0, false, "(objectClass=contact)", nil, nil))
	if resultCode(err) != ldap.LDAPResultSizeLimitExceeded || res == nil || len(res.Entries) != 2 {
		t.Errorf("Search(sizeLimit 2) = %v, %v; want 2 entries and sizeLimitExceeded", res, err)
	}
	// Paging returns everything.
	res, err = c.SearchWithPaging(ldap.NewSearchRequest(directorytest.Data, ldap.ScopeSingleLevel, 0, 0, 0, false, "(objectClass=contact)", []string{"mail"}, nil), 4)
	if err != nil || len(res.Entries) != 12 {
		t.Fatalf("SearchWithPaging = %d entries, %v; want 12", len(res.Entries), err)
	}
	// directory.Attribute selection.
	e := res.Entries[0]
	if len(e.Attributes) != 1 || e.Attributes[0].Name != "mail" {
		t.Errorf("selected attributes = %v, want only mail", e.Attributes)
	}
	res, err = c.Search(ldap.NewSearchRequest("CN=user01,"+directorytest.Data, ldap.ScopeBaseObject, 0, 0, 0, true, "(objectClass=*)", []string{"mail", "objectClass"}, nil))
	if err != nil || len(res.Entries) != 1 || len(res.Entries[0].Attributes) != 2 || len(res.Entries[0].Attributes[0].Values) != 0 {
		t.Errorf("typesOnly search = %v, %v; want two attributes without values", res, err)
	}
}

func TestPersistsAcrossRestart(t *testing.T) {
	path := directorytest.Path(t)
	dir := directorytest.Open(t, path)
	directorytest.Seed(t, dir)
	ts := startServer(t, dir)
	c := bound(t, ts.dialLDAPS(t), directorytest.Writer)
	a := ldap.NewAddRequest("CN=kept,"+directorytest.Data, nil)
	a.Attribute("objectClass", []string{"top"})
	a.Attribute("userPassword", []string{"pw-kept"})
	if err := c.Add(a); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := ts.srv.Shutdown(shutdownCtx(t)); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}

	again := directorytest.Open(t, path)
	e, err := again.Get("cn=KEPT,cn=data," + directorytest.NC)
	if err != nil {
		t.Fatalf("entry lost across restart: %v", err)
	}
	if v := e.First("userPassword"); v == "pw-kept" || !directory.CheckPassword(v, "pw-kept") {
		t.Errorf("userPassword stored as %q, want a hash of the password", v)
	}
	if m := fileMode(t, path); m != 0o600 {
		t.Errorf("directory file mode = %v, want 0600", m)
	}
	ts2 := startServer(t, again)
	c2 := ts2.dialLDAPS(t)
	if err := c2.Bind("CN=kept,"+directorytest.Data, "pw-kept"); err == nil {
		t.Errorf("Bind as a non-user entry succeeded")
	}
	if err := c2.Bind(directorytest.Reader, directorytest.Password); err != nil {
		t.Fatalf("Bind after restart = %v", err)
	}
}

// TestConcurrentReadersAndWriters runs searches (whose ACL checks read group
// membership from the directory) alongside writes on other connections.
func TestConcurrentReadersAndWriters(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	errs := make(chan error, 8)
	for w := range 4 {
		go func() {
			c := ts.dialLDAPS(t)
			err := c.Bind(directorytest.Writer, directorytest.Password)
			for i := 0; err == nil && i < 40; i++ {
				dn := fmt.Sprintf("CN=w%d-%d,%s", w, i, directorytest.Data)
				a := ldap.NewAddRequest(dn, nil)
				a.Attribute("objectClass", []string{"top"})
				if err = c.Add(a); err == nil && i%2 == 0 {
					err = c.Del(ldap.NewDelRequest(dn, nil))
				}
			}
			errs <- err
		}()
		go func() {
			c := ts.dialLDAPS(t)
			err := c.Bind(directorytest.Writer, directorytest.Password)
			for i := 0; err == nil && i < 40; i++ {
				_, err = c.SearchWithPaging(ldap.NewSearchRequest(directorytest.NC, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", []string{"cn"}, nil), 50)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent client: %v", err)
		}
	}
	n := 0
	ts.dir.Search(directorytest.Data, directory.ScopeSingleLevel, func(*directory.Entry) bool { n++; return true })
	if n != 80 {
		t.Errorf("%d entries under Data, want 80", n)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	ts := startServer(t, directorytest.Tree(t))
	for range 5 {
		r := dialRaw(t, ts.plain) // idle, bound: Close must end it
		r.send(encodeSimpleBind(1, directorytest.Reader, directorytest.Password))
		if _, _, code, _, ok := r.read(); !ok || code != directory.ResultSuccess {
			t.Fatalf("bind: code=%d ok=%v", code, ok)
		}
	}
	if err := ts.srv.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	leaktest.WaitGoroutines(t, before)
}
