package directory

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func code(err error) int {
	if err == nil {
		return ResultSuccess
	}
	var le *Error
	if errors.As(err, &le) {
		return le.Code
	}
	return -1
}

func entry(dn string, attrs ...string) *Entry {
	e := &Entry{DN: dn, Attributes: []Attribute{{Name: "objectClass", Values: []string{"top"}}}}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.Set(attrs[i], append(e.Get(attrs[i]), attrs[i+1])...)
	}
	return e
}

func TestTreeApplyResults(t *testing.T) {
	x := "CN=x," + testData
	for _, tc := range []struct {
		name   string
		change Change
		want   int
	}{
		{"add", Change{Kind: ChangeAdd, Entry: entry(x)}, ResultSuccess},
		{"add without parent", Change{Kind: ChangeAdd, Entry: entry("CN=x,CN=nowhere," + testNC)}, ResultNoSuchObject},
		{"add without objectClass", Change{Kind: ChangeAdd, Entry: &Entry{DN: x}}, ResultObjectClassViolation},
		{"add bad DN", Change{Kind: ChangeAdd, Entry: entry("CN=x,,=")}, ResultInvalidDNSyntax},
		{"add duplicate values", Change{Kind: ChangeAdd, Entry: entry(x, "mail", "a", "mail", "A")}, ResultAttributeOrValueExists},
		{"add existing", Change{Kind: ChangeAdd, Entry: entry(testData)}, ResultEntryAlreadyExists},
		{"modify missing", Change{Kind: ChangeModify, DN: x}, ResultNoSuchObject},
		{"modify objectClass away", Change{Kind: ChangeModify, DN: testData, Mods: []Modification{{Op: ModDelete, Attr: "objectClass"}}}, ResultObjectClassViolation},
		{"modify delete absent attribute", Change{Kind: ChangeModify, DN: testData, Mods: []Modification{{Op: ModDelete, Attr: "mail"}}}, ResultNoSuchAttribute},
		{"modify replace absent", Change{Kind: ChangeModify, DN: testData, Mods: []Modification{{Op: ModReplace, Attr: "mail"}}}, ResultSuccess},
		{"delete non-leaf", Change{Kind: ChangeDelete, DN: testNC}, ResultNotAllowedOnNonLeaf},
		{"delete missing", Change{Kind: ChangeDelete, DN: x}, ResultNoSuchObject},
		{"delete root", Change{Kind: ChangeDelete, DN: ""}, ResultInvalidDNSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := seededTree(t)
			if got := code(dir.Apply(tc.change)); got != tc.want {
				t.Errorf("Apply(%s) = %d, want %d", tc.name, got, tc.want)
			}
		})
	}
}

func TestTreeBatchIsAllOrNothing(t *testing.T) {
	dir := seededTree(t)
	before := dir.Len()
	err := dir.Apply(
		Change{Kind: ChangeAdd, Entry: entry("CN=a," + testData)},
		Change{Kind: ChangeModify, DN: testData, Mods: []Modification{{Op: ModAdd, Attr: "description", Values: []string{"x"}}}},
		Change{Kind: ChangeDelete, DN: testWriter},
		Change{Kind: ChangeAdd, Entry: entry("CN=a," + testData)}, // fails: exists
	)
	if code(err) != ResultEntryAlreadyExists {
		t.Fatalf("Apply(batch) = %v, want entryAlreadyExists", err)
	}
	if dir.Len() != before {
		t.Errorf("Len() = %d after a failed batch, want %d", dir.Len(), before)
	}
	if e, _ := dir.Get(testData); len(e.Get("description")) != 0 {
		t.Errorf("modify of a failed batch kept: %q", e.Get("description"))
	}
	if _, err := dir.Get(testWriter); err != nil {
		t.Errorf("delete of a failed batch kept: %v", err)
	}
}

func TestTreeSearchOrderAndScopes(t *testing.T) {
	dir := seededTree(t)
	dir.Apply(Change{Kind: ChangeAdd, Entry: entry("CN=b," + testData)}, Change{Kind: ChangeAdd, Entry: entry("CN=a," + testData)})
	var got []string
	dir.Search(testNC, ScopeWholeSubtree, func(e *Entry) bool {
		got = append(got, strings.SplitN(e.DN, ",", 2)[0])
		return true
	})
	want := []string{"CN=Configuration", "CN=Data", "CN=a", "CN=b", "CN=Roles", "CN=Administrators", "CN=Services", "CN=Reader", "CN=Writer"}
	if !slices.Equal(got, want) {
		t.Errorf("subtree order = %q, want %q", got, want)
	}
	if err := dir.Search("CN=nope,"+testData, ScopeBaseObject, func(*Entry) bool { return true }); code(err) != ResultNoSuchObject {
		t.Errorf("Search(missing) = %v, want noSuchObject", err)
	} else if le := err.(*Error); le.MatchedDN != testData {
		t.Errorf("matchedDN = %q, want %q", le.MatchedDN, testData)
	}
	n := 0
	dir.Search("", ScopeWholeSubtree, func(*Entry) bool { n++; return n < 3 })
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
			path := tempPath(t)
			os.MkdirAll(filepath.Dir(path), 0o700)
			os.WriteFile(path, []byte(content), 0o600)
			dir, err := OpenTree(path)
			if dir != nil {
				t.Cleanup(func() { dir.Close() })
			}
			var de *DamagedFileError
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
			seed(t, dir) // usable, and saves a good file
			again, err := OpenTree(path)
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
	e := entry("CN=x", "mail", "a@b")
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
	when := mustTime(t, "2024-05-01T12:30:00Z")
	got, ok := ParseFileTime(FileTime(when))
	if !ok || !got.Equal(when) {
		t.Errorf("ParseFileTime(FileTime(%v)) = %v, %v", when, got, ok)
	}
	if FileTime(mustTime(t, "1970-01-01T00:00:00Z")) != "116444736000000000" {
		t.Errorf("FileTime(unix epoch) = %s, want 116444736000000000", FileTime(mustTime(t, "1970-01-01T00:00:00Z")))
	}
	for _, never := range []string{"0", "9223372036854775807", "x"} {
		if _, ok := ParseFileTime(never); ok {
			t.Errorf("ParseFileTime(%q) ok, want never", never)
		}
	}
}

// snapshotOf returns every entry of dir in search order.
func snapshotOf(t *testing.T, dir Directory) []*Entry {
	t.Helper()
	var out []*Entry
	if err := dir.Search("", ScopeWholeSubtree, func(e *Entry) bool { out = append(out, e.Clone()); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTrees(t *testing.T, got, want Directory) {
	t.Helper()
	g, w := snapshotOf(t, got), snapshotOf(t, want)
	if len(g) != len(w) {
		t.Fatalf("reloaded tree has %d entries, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i].DN != w[i].DN || !slices.EqualFunc(g[i].Attributes, w[i].Attributes, func(a, b Attribute) bool {
			return a.Name == b.Name && slices.Equal(a.Values, b.Values)
		}) {
			t.Errorf("entry %d = %+v, want %+v", i, g[i], w[i])
		}
	}
}

func TestJournalSurvivesACrash(t *testing.T) {
	path := tempPath(t)
	live, err := OpenTree(path)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, live)
	live.Apply(Change{Kind: ChangeAdd, Entry: entry("CN=a,"+testData, "mail", "a@x")})
	live.Apply(
		Change{Kind: ChangeAdd, Entry: entry("CN=b," + testData)},
		Change{Kind: ChangeModify, DN: "CN=a," + testData, Mods: []Modification{{Op: ModAdd, Attr: "mail", Values: []string{"b@x"}}}},
		Change{Kind: ChangeDelete, DN: "CN=b," + testData},
		Change{Kind: ChangeDelete, DN: testReader},
	)
	// No Close: the process dies. A half-written batch is at the end.
	f, err := os.OpenFile(path+".journal", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"usn":999,"ops":[{"put":{"dn":"CN=torn`)
	f.Close()

	again, err := OpenTree(path)
	if err != nil {
		t.Fatalf("OpenTree after a crash = %v", err)
	}
	t.Cleanup(func() { again.Close() })
	sameTrees(t, again, live)
	if again.USN() != live.USN() {
		t.Errorf("USN() = %d, want %d", again.USN(), live.USN())
	}
	// The torn line is gone: more changes and another reopen work.
	if err := again.Apply(Change{Kind: ChangeAdd, Entry: entry("CN=c," + testData)}); err != nil {
		t.Fatal(err)
	}
	third, err := OpenTree(path)
	if err != nil {
		t.Fatalf("third OpenTree = %v", err)
	}
	t.Cleanup(func() { third.Close() })
	sameTrees(t, third, again)
	live.Close()
}

func TestJournalDamagedInTheMiddle(t *testing.T) {
	path := tempPath(t)
	live, err := OpenTree(path)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, live)
	live.Apply(Change{Kind: ChangeAdd, Entry: entry("CN=a," + testData)})
	b, _ := os.ReadFile(path + ".journal")
	os.WriteFile(path+".journal", append([]byte("not json\n"), b...), 0o600)
	live.Close()
	os.WriteFile(path+".journal", append([]byte("not json\n"), b...), 0o600)

	again, err := OpenTree(path)
	var de *DamagedFileError
	if !errors.As(err, &de) || de.Path != path+".journal" {
		t.Fatalf("OpenTree(damaged journal) = %v, want *DamagedFileError for the journal", err)
	}
	t.Cleanup(func() { again.Close() })
	if again.Len() != 0 {
		t.Errorf("tree after a damaged journal has %d entries, want 0", again.Len())
	}
}

func TestJournalCompacts(t *testing.T) {
	path := tempPath(t)
	live, err := OpenTree(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	seed(t, live)
	for i := range compactAfter + 10 {
		if err := live.Apply(Change{Kind: ChangeModify, DN: testData, Mods: []Modification{{Op: ModReplace, Attr: "description", Values: []string{strconv.Itoa(i)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if live.disk.records >= compactAfter || st.Size() > 64<<10 {
		t.Errorf("journal not compacted: %d records, %d bytes", live.disk.records, st.Size())
	}
	again, err := OpenTree(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	sameTrees(t, again, live)
}
