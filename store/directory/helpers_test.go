package directory

import (
	"path/filepath"
	"testing"
	"time"
)

// Test directory layout: a configuration naming context with an accounts
// container and a data container, in the style of an Edge's AD LDS.
const (
	testNC       = "CN=Configuration,CN={4D9F3A0B-1C2D-4E5F-8A9B-0C1D2E3F4A5B}"
	testAccounts = "CN=Services," + testNC
	testData     = "CN=Data," + testNC
	testWriter   = "CN=Writer," + testAccounts
	testReader   = "CN=Reader," + testAccounts
	testAdmins   = "CN=Administrators,CN=Roles," + testNC
	testPassword = "Secret-1"
)

// seed fills dir with the test layout and two accounts: Writer (a member of
// Administrators, which may write under Data) and Reader (read-only).
func seed(t testing.TB, dir Directory) {
	t.Helper()
	user := func(dn string) *Entry {
		return &Entry{DN: dn, Attributes: []Attribute{
			{Name: "objectClass", Values: []string{"top", "user"}},
			{Name: "userPassword", Values: []string{HashPassword(testPassword)}},
		}}
	}
	container := func(dn string) *Entry {
		return &Entry{DN: dn, Attributes: []Attribute{{Name: "objectClass", Values: []string{"top", "container"}}}}
	}
	err := dir.Apply(
		Change{Kind: ChangeAdd, Entry: container(testNC), NamingContext: true},
		Change{Kind: ChangeAdd, Entry: container(testAccounts)},
		Change{Kind: ChangeAdd, Entry: container(testData)},
		Change{Kind: ChangeAdd, Entry: container("CN=Roles," + testNC)},
		Change{Kind: ChangeAdd, Entry: &Entry{DN: testAdmins, Attributes: []Attribute{
			{Name: "objectClass", Values: []string{"top", "group"}},
			{Name: "member", Values: []string{testWriter}},
		}}},
		Change{Kind: ChangeAdd, Entry: user(testWriter)},
		Change{Kind: ChangeAdd, Entry: user(testReader)},
	)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// seededTree returns an in-memory tree holding the test layout.
func seededTree(t testing.TB) *Tree {
	t.Helper()
	dir := NewTree()
	seed(t, dir)
	return dir
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tempPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "adam", "directory.json")
}
