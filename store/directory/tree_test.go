package directory_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

func code(err error) int {
	if err == nil {
		return directory.ResultSuccess
	}
	var le *directory.Error
	if errors.As(err, &le) {
		return le.Code
	}
	return -1
}

func TestTreeApplyResults(t *testing.T) {
	x := "CN=x," + directorytest.Data
	for _, tc := range []struct {
		name   string
		change directory.Change
		want   int
	}{
		{"add", directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry(x)}, directory.ResultSuccess},
		{"add without parent", directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=x,CN=nowhere," + directorytest.NC)}, directory.ResultNoSuchObject},
		{"add without objectClass", directory.Change{Kind: directory.ChangeAdd, Entry: &directory.Entry{DN: x}}, directory.ResultObjectClassViolation},
		{"add bad DN", directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=x,,=")}, directory.ResultInvalidDNSyntax},
		{"add duplicate values", directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry(x, "mail", "a", "mail", "A")}, directory.ResultAttributeOrValueExists},
		{"add existing", directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry(directorytest.Data)}, directory.ResultEntryAlreadyExists},
		{"modify missing", directory.Change{Kind: directory.ChangeModify, DN: x}, directory.ResultNoSuchObject},
		{"modify objectClass away", directory.Change{Kind: directory.ChangeModify, DN: directorytest.Data, Mods: []directory.Modification{{Op: directory.ModDelete, Attr: "objectClass"}}}, directory.ResultObjectClassViolation},
		{"modify delete absent attribute", directory.Change{Kind: directory.ChangeModify, DN: directorytest.Data, Mods: []directory.Modification{{Op: directory.ModDelete, Attr: "mail"}}}, directory.ResultNoSuchAttribute},
		{"modify replace absent", directory.Change{Kind: directory.ChangeModify, DN: directorytest.Data, Mods: []directory.Modification{{Op: directory.ModReplace, Attr: "mail"}}}, directory.ResultSuccess},
		{"delete non-leaf", directory.Change{Kind: directory.ChangeDelete, DN: directorytest.NC}, directory.ResultNotAllowedOnNonLeaf},
		{"delete missing", directory.Change{Kind: directory.ChangeDelete, DN: x}, directory.ResultNoSuchObject},
		{"delete root", directory.Change{Kind: directory.ChangeDelete, DN: ""}, directory.ResultInvalidDNSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := directorytest.Tree(t)
			if got := code(dir.Apply(tc.change)); got != tc.want {
				t.Errorf("Apply(%s) = %d, want %d", tc.name, got, tc.want)
			}
		})
	}
}

func TestTreeBatchIsAllOrNothing(t *testing.T) {
	dir := directorytest.Tree(t)
	before := dir.Len()
	err := dir.Apply(
		directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=a," + directorytest.Data)},
		directory.Change{Kind: directory.ChangeModify, DN: directorytest.Data, Mods: []directory.Modification{{Op: directory.ModAdd, Attr: "description", Values: []string{"x"}}}},
		directory.Change{Kind: directory.ChangeDelete, DN: directorytest.Writer},
		directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=a," + directorytest.Data)}, // fails: exists
	)
	if code(err) != directory.ResultEntryAlreadyExists {
		t.Fatalf("Apply(batch) = %v, want entryAlreadyExists", err)
	}
	if dir.Len() != before {
		t.Errorf("Len() = %d after a failed batch, want %d", dir.Len(), before)
	}
	if e, _ := dir.Get(directorytest.Data); len(e.Get("description")) != 0 {
		t.Errorf("modify of a failed batch kept: %q", e.Get("description"))
	}
	if _, err := dir.Get(directorytest.Writer); err != nil {
		t.Errorf("delete of a failed batch kept: %v", err)
	}
}

func TestTreeSearchOrderAndScopes(t *testing.T) {
	dir := directorytest.Tree(t)
	dir.Apply(directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=b," + directorytest.Data)}, directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=a," + directorytest.Data)})
	var got []string
	dir.Search(directorytest.NC, directory.ScopeWholeSubtree, func(e *directory.Entry) bool {
		got = append(got, strings.SplitN(e.DN, ",", 2)[0])
		return true
	})
	want := []string{"CN=Configuration", "CN=Data", "CN=a", "CN=b", "CN=Roles", "CN=Administrators", "CN=Services", "CN=Reader", "CN=Writer"}
	if !slices.Equal(got, want) {
		t.Errorf("subtree order = %q, want %q", got, want)
	}
	if err := dir.Search("CN=nope,"+directorytest.Data, directory.ScopeBaseObject, func(*directory.Entry) bool { return true }); code(err) != directory.ResultNoSuchObject {
		t.Errorf("Search(missing) = %v, want noSuchObject", err)
	} else if le := err.(*directory.Error); le.MatchedDN != directorytest.Data {
		t.Errorf("matchedDN = %q, want %q", le.MatchedDN, directorytest.Data)
	}
	n := 0
	dir.Search("", directory.ScopeWholeSubtree, func(*directory.Entry) bool { n++; return n < 3 })
	if n != 3 {
		t.Errorf("Search stopped after %d calls, want 3", n)
	}
}

func TestOpenTreeDamagedFile(t *testing.T) {
	for name, content := range map[string]string{
		"not json":      "{{{",
		"bad format":    `{"format":"other","usn":1,"entries":[]}`,
		"orphan":        `{"format":"exsim-ldapd/1","usn":1,"entries":[{"dn":"CN=a,CN=b","attributes":[]}]}`,
		"duplicate":     `{"format":"exsim-ldapd/1","usn":1,"entries":[{"dn":"CN=a","naming_context":true,"attributes":[]},{"dn":"cn=A","naming_context":true,"attributes":[]}]}`,
		"unknown field": `{"format":"exsim-ldapd/1","usn":1,"entries":[],"x":1}`,
		"truncated":     `{"format":"exsim-ldapd/1","usn":1,"entries":[{"dn":"CN=a","naming_con`,
	} {
		t.Run(name, func(t *testing.T) {
			path := directorytest.Path(t)
			os.MkdirAll(filepath.Dir(path), 0o700)
			os.WriteFile(path, []byte(content), 0o600)
			dir, err := directory.OpenTree(path)
			if dir != nil {
				t.Cleanup(func() { dir.Close() })
			}
			var de *directory.DamagedFileError
			if !errors.As(err, &de) {
				t.Fatalf("OpenTree(%s) = %v, want *DamagedFileError", name, err)
			}
			if !strings.Contains(err.Error(), path) || de.Path != path {
				t.Errorf("error %q does not name %s", err, path)
			}
			if b, rerr := os.ReadFile(de.MovedTo); rerr != nil || string(b) != content {
				t.Errorf("damaged file not kept at %s: %v", de.MovedTo, rerr)
			}
			if dir == nil || dir.Len() != 0 {
				t.Fatalf("OpenTree(%s) tree = %v, want an empty usable tree", name, dir)
			}
			directorytest.Seed(t, dir) // usable, and saves a good file
			again, err := directory.OpenTree(path)
			if again != nil {
				t.Cleanup(func() { again.Close() })
			}
			if err != nil || again.Len() != dir.Len() {
				t.Errorf("reopen after repair = %v entries, %v; want %d", again.Len(), err, dir.Len())
			}
		})
	}
}

func TestEntryHelpers(t *testing.T) {
	e := directorytest.Entry("CN=x", "mail", "a@b")
	e.Set("MAIL", "c@d")
	if got := e.Get("mail"); !slices.Equal(got, []string{"c@d"}) {
		t.Errorf("Get(mail) = %q, want [c@d]", got)
	}
	e.Set("mail")
	if len(e.Get("mail")) != 0 || e.First("mail") != "" {
		t.Errorf("Set(mail) did not remove it: %v", e)
	}
	c := e.Clone()
	c.Attributes[0].Values[0] = "changed"
	if e.First("objectClass") != "top" {
		t.Errorf("Clone shares values")
	}
}

func TestFileTimeRoundTrip(t *testing.T) {
	when := directorytest.Time(t, "2024-05-01T12:30:00Z")
	got, ok := directory.ParseFileTime(directory.FileTime(when))
	if !ok || !got.Equal(when) {
		t.Errorf("ParseFileTime(FileTime(%v)) = %v, %v", when, got, ok)
	}
	if directory.FileTime(directorytest.Time(t, "1970-01-01T00:00:00Z")) != "116444736000000000" {
		t.Errorf("FileTime(unix epoch) = %s, want 116444736000000000", directory.FileTime(directorytest.Time(t, "1970-01-01T00:00:00Z")))
	}
	for _, never := range []string{"0", "9223372036854775807", "x"} {
		if _, ok := directory.ParseFileTime(never); ok {
			t.Errorf("ParseFileTime(%q) ok, want never", never)
		}
	}
}

// snapshotOf returns every entry of dir in search order.
func snapshotOf(t *testing.T, dir directory.Directory) []*directory.Entry {
	t.Helper()
	var out []*directory.Entry
	if err := dir.Search("", directory.ScopeWholeSubtree, func(e *directory.Entry) bool { out = append(out, e.Clone()); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTrees(t *testing.T, got, want directory.Directory) {
	t.Helper()
	g, w := snapshotOf(t, got), snapshotOf(t, want)
	if len(g) != len(w) {
		t.Fatalf("reloaded tree has %d entries, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i].DN != w[i].DN || !slices.EqualFunc(g[i].Attributes, w[i].Attributes, func(a, b directory.Attribute) bool {
			return a.Name == b.Name && slices.Equal(a.Values, b.Values)
		}) {
			t.Errorf("entry %d = %+v, want %+v", i, g[i], w[i])
		}
	}
}

func TestJournalSurvivesACrash(t *testing.T) {
	path := directorytest.Path(t)
	live := directorytest.Open(t, path)
	directorytest.Seed(t, live)
	live.Apply(directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=a,"+directorytest.Data, "mail", "a@x")})
	live.Apply(
		directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=b," + directorytest.Data)},
		directory.Change{Kind: directory.ChangeModify, DN: "CN=a," + directorytest.Data, Mods: []directory.Modification{{Op: directory.ModAdd, Attr: "mail", Values: []string{"b@x"}}}},
		directory.Change{Kind: directory.ChangeDelete, DN: "CN=b," + directorytest.Data},
		directory.Change{Kind: directory.ChangeDelete, DN: directorytest.Reader},
	)
	// No Close: the process dies. A half-written batch is at the end.
	f, err := os.OpenFile(path+".journal", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"usn":999,"ops":[{"put":{"dn":"CN=torn`)
	f.Close()

	again := directorytest.Open(t, path)
	sameTrees(t, again, live)
	if again.USN() != live.USN() {
		t.Errorf("USN() = %d, want %d", again.USN(), live.USN())
	}
	// The torn line is gone: more changes and another reopen work.
	if err := again.Apply(directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=c," + directorytest.Data)}); err != nil {
		t.Fatal(err)
	}
	third := directorytest.Open(t, path)
	sameTrees(t, third, again)
	live.Close()
}

func TestJournalDamagedInTheMiddle(t *testing.T) {
	path := directorytest.Path(t)
	live := directorytest.Open(t, path)
	directorytest.Seed(t, live)
	live.Apply(directory.Change{Kind: directory.ChangeAdd, Entry: directorytest.Entry("CN=a," + directorytest.Data)})
	b, _ := os.ReadFile(path + ".journal")
	os.WriteFile(path+".journal", append([]byte("not json\n"), b...), 0o600)
	live.Close()
	os.WriteFile(path+".journal", append([]byte("not json\n"), b...), 0o600)

	again, err := directory.OpenTree(path)
	var de *directory.DamagedFileError
	if !errors.As(err, &de) || de.Path != path+".journal" {
		t.Fatalf("OpenTree(damaged journal) = %v, want *DamagedFileError for the journal", err)
	}
	t.Cleanup(func() { again.Close() })
	if again.Len() != 0 {
		t.Errorf("tree after a damaged journal has %d entries, want 0", again.Len())
	}
}

func TestJournalCompacts(t *testing.T) {
	path := directorytest.Path(t)
	live := directorytest.Open(t, path)
	directorytest.Seed(t, live)
	for i := range directory.CompactAfter + 10 {
		if err := live.Apply(directory.Change{Kind: directory.ChangeModify, DN: directorytest.Data, Mods: []directory.Modification{{Op: directory.ModReplace, Attr: "description", Values: []string{strconv.Itoa(i)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if directory.JournalRecords(live) >= directory.CompactAfter || st.Size() > 64<<10 {
		t.Errorf("journal not compacted: %d records, %d bytes", directory.JournalRecords(live), st.Size())
	}
	again := directorytest.Open(t, path)
	sameTrees(t, again, live)
}
