// Package clienttest runs the real clients that tests of several packages
// drive the same way: fetchmail polling a lab server, ldapsearch reading
// secure LDAP, and xmllint checking a JUnit report against its schema. It imports nothing of exsim, so the
// protocol servers' tests may use it as well as the roles'.
package clienttest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Fetchmail runs fetchmail once, verbosely, in a HOME of its own, on poll:
// the poll statement of a fetchmailrc (server, protocol, user, TLS options,
// keep) without its mda, which Fetchmail adds to append every message to
// an mbox. It returns fetchmail's log and the mbox; a failed run fails the
// test, and a missing fetchmail skips it.
func Fetchmail(t testing.TB, poll string) (log, mbox string) {
	t.Helper()
	bin := need(t, "fetchmail", "fetchmail")
	dir := t.TempDir()
	out := filepath.Join(dir, "mbox")
	rc := writeFile(t, dir, "fetchmailrc", "set no bouncemail\n"+poll+"\n  mda \"/bin/sh -c 'cat >> "+out+"'\"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--nodetach", "--nosyslog", "-v", "-f", rc, "--pidfile", filepath.Join(dir, "fetchmail.pid"))
	cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fetchmail: %v\n%s", err, b)
	}
	m, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("fetchmail delivered nothing: %v\n%s", err, b)
	}
	return string(b), string(m)
}

// need returns the path of the client name, or skips the test when it is
// not installed, naming the Debian package that has it.
func need(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	}
	return p
}

// writeFile writes content to dir/name, readable by its owner only, and
// returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
