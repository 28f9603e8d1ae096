// Package directorytest gives the tests of store/directory, servers/ldapd
// and roles/edgesync their directories: a tree opened from a file for the
// length of a test (Open), and a small seeded layout in the style of an
// Edge's AD LDS, a configuration naming context with an accounts container,
// a data container and two accounts (Seed, Tree).
package directorytest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/exsim/exsim/store/directory"
)

// The layout Seed writes.
const (
	NC       = "CN=Configuration,CN={4D9F3A0B-1C2D-4E5F-8A9B-0C1D2E3F4A5B}"
	Accounts = "CN=Services," + NC
	Data     = "CN=Data," + NC
	Roles    = "CN=Roles," + NC
	Admins   = "CN=Administrators," + Roles
	// Writer is a member of Admins; Reader is in no group.
	Writer = "CN=Writer," + Accounts
	Reader = "CN=Reader," + Accounts
	// Password is the password of Writer and Reader.
	Password = "Secret-1"
)

// Seed fills dir with the layout and two accounts: Writer (a member of
// Administrators) and Reader.
func Seed(t testing.TB, dir directory.Directory) {
	t.Helper()
	user := func(dn string) *directory.Entry {
		return &directory.Entry{DN: dn, Attributes: []directory.Attribute{
			{Name: "objectClass", Values: []string{"top", "user"}},
			{Name: "userPassword", Values: []string{directory.HashPassword(Password)}},
		}}
	}
	container := func(dn string) *directory.Entry {
		return &directory.Entry{DN: dn, Attributes: []directory.Attribute{{Name: "objectClass", Values: []string{"top", "container"}}}}
	}
	err := dir.Apply(
		directory.Change{Kind: directory.ChangeAdd, Entry: container(NC), NamingContext: true},
		directory.Change{Kind: directory.ChangeAdd, Entry: container(Accounts)},
		directory.Change{Kind: directory.ChangeAdd, Entry: container(Data)},
		directory.Change{Kind: directory.ChangeAdd, Entry: container(Roles)},
		directory.Change{Kind: directory.ChangeAdd, Entry: Entry(Admins, "objectClass", "group", "member", Writer)},
		directory.Change{Kind: directory.ChangeAdd, Entry: user(Writer)},
		directory.Change{Kind: directory.ChangeAdd, Entry: user(Reader)},
	)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// Tree returns an in-memory tree holding the layout.
func Tree(t testing.TB) *directory.Tree {
	t.Helper()
	dir := directory.NewTree()
	Seed(t, dir)
	return dir
}

// Open opens the directory file at path, or fails the test; the tree is
// closed when the test ends.
func Open(t testing.TB, path string) *directory.Tree {
	t.Helper()
	dir, err := directory.OpenTree(path)
	if err != nil {
		t.Fatalf("OpenTree(%s) = %v", path, err)
	}
	t.Cleanup(func() { dir.Close() })
	return dir
}

// Entry returns an entry of objectClass top with the given attribute
// name/value pairs.
func Entry(dn string, attrs ...string) *directory.Entry {
	e := &directory.Entry{DN: dn, Attributes: []directory.Attribute{{Name: "objectClass", Values: []string{"top"}}}}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.Set(attrs[i], append(e.Get(attrs[i]), attrs[i+1])...)
	}
	return e
}

// Path returns where a test's directory file lives, in a folder that does
// not exist yet (OpenTree makes it).
func Path(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "adam", "directory.json")
}

// Time parses an RFC 3339 time or fails the test.
func Time(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
