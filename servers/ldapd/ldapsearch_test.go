package ldapd

import (
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/clienttest"
	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

// ldapsearch runs OpenLDAP's ldapsearch against url trusting the lab CA.
func ldapsearch(t *testing.T, ts *testServer, url string, args ...string) (string, error) {
	t.Helper()
	return clienttest.Ldapsearch(t, ts.ca.PEM(), url, args...)
}

func TestLdapsearchOverLDAPS(t *testing.T) {
	dir := directorytest.Tree(t)
	dir.Apply(directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=alice,"+directorytest.Data, "mail", "alice@contoso.com")})
	ts := startServer(t, dir)
	url := "ldaps://" + ts.ldaps

	out, err := ldapsearch(t, ts, url, "-x", "-D", directorytest.Reader, "-w", directorytest.Password, "-b", directorytest.Data, "(mail=alice@contoso.com)", "mail")
	if err != nil {
		t.Fatalf("ldapsearch with credentials: %v\n%s", err, out)
	}
	if !strings.Contains(out, "dn: CN=alice,CN=Data,") || !strings.Contains(out, "mail: alice@contoso.com") {
		t.Errorf("ldapsearch output lacks the entry:\n%s", out)
	}

	out, err = ldapsearch(t, ts, url, "-x", "-b", directorytest.Data)
	if err == nil || !strings.Contains(out, "Operations error") || !strings.Contains(out, "000004DC") || strings.Contains(out, "Unused") {
		t.Errorf("ldapsearch without credentials = %v, want Operations error with 000004DC:\n%s", err, out)
	}

	out, err = ldapsearch(t, ts, url, "-x", "-D", directorytest.Reader, "-w", "wrong", "-b", directorytest.Data)
	if err == nil || !strings.Contains(out, "Invalid credentials") || !strings.Contains(out, "data 52e") {
		t.Errorf("ldapsearch with a wrong password = %v, want Invalid credentials (data 52e):\n%s", err, out)
	}

	out, err = ldapsearch(t, ts, url, "-x", "-s", "base", "-b", "", "namingContexts", "supportedControl", "supportedLDAPPolicies")
	if err != nil || !strings.Contains(out, "namingContexts: "+directorytest.NC) ||
		strings.Count(out, "supportedControl: ") != len(adLDSControls) || strings.Count(out, "supportedLDAPPolicies: ") != len(adLDSPolicies) {
		t.Errorf("ldapsearch RootDSE = %v, want the naming context, %d controls and %d policies:\n%s", err, len(adLDSControls), len(adLDSPolicies), out)
	}

	// The clear-text listener (50389 on an Edge) serves the same directory.
	out, err = ldapsearch(t, ts, "ldap://"+ts.plain, "-x", "-D", directorytest.Reader, "-w", directorytest.Password, "-b", directorytest.Data, "-s", "one", "cn")
	if err != nil || !strings.Contains(out, "cn: alice") {
		t.Errorf("ldapsearch over ldap:// = %v:\n%s", err, out)
	}
}
