package oab

import (
	"bytes"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// FuzzReader feeds the reader arbitrary containers, details files and
// manifests: it must return an error or a result, never panic or hang,
// and what it accepts must survive a second round.
func FuzzReader(f *testing.F) {
	p, err := Publish(testBook())
	if err != nil {
		f.Fatal(err)
	}
	details, err := Unpack(p.Full)
	if err != nil {
		f.Fatal(err)
	}
	fuzzseed.Add(f, p.Full)
	fuzzseed.Add(f, storedContainer(details[:100]))
	fuzzseed.Add(f, details)
	fuzzseed.Add(f, p.Manifest)
	fuzzseed.Add(f, details[:len(details)/2])
	fuzzseed.Add(f, []byte{3, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if out, err := Unpack(b); err == nil && len(out) > len(b) {
			t.Fatalf("Unpack gave %d bytes from a %d-byte container", len(out), len(b))
		}
		if d, err := ParseDetails(b); err == nil {
			for _, e := range d.Entries {
				if e.LegacyDN == "" && hasPrimaryKey(d.ObjectProps, TagEmailAddress) {
					t.Fatal("accepted a record without its primary key")
				}
			}
		}
		if m, err := ParseManifest(b); err == nil {
			for _, o := range m.OALs {
				if o.Full != nil && bytes.ContainsAny([]byte(o.Full.Name), "/\\") {
					t.Fatalf("accepted full file name %q", o.Full.Name)
				}
			}
		}
	})
}

func hasPrimaryKey(props []PropRec, tag uint32) bool {
	for _, p := range props {
		if p.Tag == tag && p.Flags&FlagPrimaryKey != 0 {
			return true
		}
	}
	return false
}
