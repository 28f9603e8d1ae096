package clienttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Ldapsearch runs OpenLDAP's ldapsearch -LLL against url (ldaps://...)
// with args, trusting only the CA caPEM and reading no ldap.conf, and
// returns its combined output. A missing ldapsearch skips the test.
func Ldapsearch(t testing.TB, caPEM []byte, url string, args ...string) (string, error) {
	t.Helper()
	bin := need(t, "ldapsearch", "ldap-utils")
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.pem", string(caPEM))
	cmd := exec.Command(bin, append([]string{"-H", url, "-o", "nettimeout=10", "-LLL"}, args...)...)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+ca, "LDAPTLS_REQCERT=demand", "HOME="+dir, "LDAPCONF="+filepath.Join(dir, "none"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}
