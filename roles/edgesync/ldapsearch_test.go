package edgesync

import (
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/clienttest"
)

// TestLdapsearchSeesSyncedEntries uses OpenLDAP's ldapsearch, a real client,
// against the Edge's secure LDAP with the replication credentials.
func TestLdapsearchSeesSyncedEntries(t *testing.T) {
	te := startEdge(t)
	creds := te.subscribe(t, ex01)
	if err := te.syncer(t, creds["EX01"], newOrg(ex01), &dialer{}).SyncNow(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		return clienttest.Ldapsearch(t, te.ca.PEM(), "ldaps://"+te.addr, args...)
	}
	c := creds["EX01"]
	l := te.edge.Layout()

	out, err := run("-x", "-D", c.Username, "-w", c.Password, "-b", l.AcceptedDomains(), "-s", "one", "(objectClass=msExchAcceptedDomain)", "msExchAcceptedDomainName")
	if err != nil || !strings.Contains(out, "msExchAcceptedDomainName: contoso.com") {
		t.Errorf("ldapsearch accepted domains = %v:\n%s", err, out)
	}
	out, err = run("-x", "-D", c.Username, "-w", c.Password, "-b", l.Recipients(), "-s", "one", "(cn="+HashAddress("alice@contoso.com")+")", "cn")
	if err != nil || !strings.Contains(out, "cn: "+HashAddress("alice@contoso.com")) {
		t.Errorf("ldapsearch recipient hash = %v:\n%s", err, out)
	}
	out, err = run("-x", "-D", c.Username, "-w", c.Password, "-b", l.Servers(), "-s", "one", "dNSHostName")
	if err != nil || !strings.Contains(out, "dNSHostName: ex01.contoso.com") {
		t.Errorf("ldapsearch servers = %v:\n%s", err, out)
	}
	// Passwords never leave the directory.
	out, err = run("-x", "-D", c.Username, "-w", c.Password, "-b", l.Services(), "-s", "one", "(objectClass=user)", "*")
	if err != nil || !strings.Contains(out, "ESRA.EDGE01.EX01.0") || strings.Contains(strings.ToLower(out), "userpassword") {
		t.Errorf("ldapsearch accounts = %v:\n%s", err, out)
	}

	out, err = run("-x", "-b", l.Recipients())
	if err == nil || !strings.Contains(out, "000004DC") {
		t.Errorf("ldapsearch without credentials = %v, want refused:\n%s", err, out)
	}
	out, err = run("-x", "-D", c.Username, "-w", "wrong", "-b", l.Recipients())
	if err == nil || !strings.Contains(out, "Invalid credentials") {
		t.Errorf("ldapsearch with a wrong password = %v, want refused:\n%s", err, out)
	}
}
