package roles

import (
	"os"
	"testing"

	"github.com/exsim/exsim/servers/httpd"
)

// TestOOFStoreKeepsWhatItRead: settings saved are read back by this store
// from memory and by a new one from the file; a mailbox without a file is
// off; a caller's changes to the copy it loaded stay its own.
func TestOOFStoreKeepsWhatItRead(t *testing.T) {
	dir := t.TempDir()
	o := &oofStore{dir: dir}
	rec, err := o.load("Alice@contoso.com")
	if err != nil || rec.Settings.State != "Disabled" || rec.Settings.ExternalAudience != "All" {
		t.Fatalf("never configured: %+v, %v", rec, err)
	}
	on := oofRecord{Settings: httpd.OOFSettings{State: "Enabled", ExternalAudience: "All", InternalReply: "away"}, Replied: []string{"bob@contoso.com"}}
	if err := o.save("alice@contoso.com", on); err != nil {
		t.Fatal(err)
	}
	got, _ := o.load("ALICE@contoso.com")
	if got.Settings.State != "Enabled" || len(got.Replied) != 1 {
		t.Fatalf("after save: %+v", got)
	}
	got.Replied[0] = "changed"
	_ = append(got.Replied[:1], "more")
	again, _ := o.load("alice@contoso.com")
	if again.Replied[0] != "bob@contoso.com" || len(again.Replied) != 1 {
		t.Fatalf("the stored record changed with the caller's copy: %+v", again)
	}

	// Kept: the file is not read again (it is only ever written by save).
	if err := os.WriteFile(o.path("alice@contoso.com"), []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rec, err := o.load("alice@contoso.com"); err != nil || rec.Settings.InternalReply != "away" {
		t.Fatalf("kept record: %+v, %v", rec, err)
	}
	// A new store (a restart) reads the file, and says when it is bad.
	if _, err := (&oofStore{dir: dir}).load("alice@contoso.com"); err == nil {
		t.Fatal("a damaged file read without error")
	}
	if err := o.save("alice@contoso.com", on); err != nil {
		t.Fatal(err)
	}
	if rec, err := (&oofStore{dir: dir}).load("alice@contoso.com"); err != nil || rec.Settings.InternalReply != "away" || len(rec.Replied) != 1 {
		t.Fatalf("after restart: %+v, %v", rec, err)
	}
}
