package directory_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

// FuzzParseName checks that the canonical form of a DN is stable: parsing
// it again gives the same canonical form.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{directorytest.Writer, `CN=a\,b+OU=c,DC=x`, `cn=#0403616263`, ` CN = a , OU=b `, `CN=\ lead\ `} {
		fuzzseed.Add(f, s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		key, err := directory.NormalizeDN(dn)
		if err != nil {
			return
		}
		again, err := directory.NormalizeDN(key)
		if err != nil {
			t.Fatalf("NormalizeDN(%q, the canonical form of %q) = %v", key, dn, err)
		}
		if again != key {
			t.Fatalf("canonical form unstable: %q -> %q -> %q", dn, key, again)
		}
	})
}

// FuzzOpenTree loads arbitrary directory files: OpenTree must load them or
// report them damaged, never crash, and the tree must stay usable.
func FuzzOpenTree(f *testing.F) {
	good := directory.NewTree()
	directorytest.Seed(f, good)
	fuzzseed.Add(f, []byte(`{"format":"exsim-ldapd/1","usn":1,"entries":[{"dn":"CN=a","naming_context":true,"attributes":[{"name":"objectClass","values":["top"]}]}]}`),
		[]byte(`{"usn":2,"ops":[{"put":{"dn":"CN=b,CN=a","attributes":[]}},{"del":"CN=b,CN=a"}]}`+"\n"))
	fuzzseed.Add(f, []byte(""), []byte(`{"usn":1,"ops":[{"put":{"dn":"CN=x","naming_context":true,"attributes":[]}}]}`+"\n"+`{"usn":2,"ops":[{"del":"CN=x"}]}`+"\n{\"usn\":3"))
	fuzzseed.Add(f, []byte("{"), []byte("\n\n"))
	f.Fuzz(func(t *testing.T, snapshot, journal []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "directory.json")
		if len(snapshot) > 0 {
			os.WriteFile(path, snapshot, 0o600)
		}
		os.WriteFile(path+".journal", journal, 0o600)
		tree, err := directory.OpenTree(path)
		var de *directory.DamagedFileError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("OpenTree() = %v, want nil or *DamagedFileError", err)
		}
		defer tree.Close()
		directorytest.Seed(t, &prefixed{tree}) // usable: writes work on top of whatever loaded
	})
}

// prefixed seeds under a naming context of its own, so that seeding works
// whatever the fuzzed files contained.
type prefixed struct{ *directory.Tree }

func (p *prefixed) Apply(changes ...directory.Change) error {
	return p.Tree.Apply(directory.Change{Kind: directory.ChangeAdd, NamingContext: true, Entry: directorytest.Entry("DC=fuzz" + strconv.Itoa(int(p.USN())))})
}
