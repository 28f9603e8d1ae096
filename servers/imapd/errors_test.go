package imapd

import (
	"errors"
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/exsim/exsim/store"
)

// TestStoreError: each store error, wrapped as the store returns it,
// becomes its NO of storeRefusals; a damaged store is CORRUPTION; nil and
// anything else pass through.
func TestStoreError(t *testing.T) {
	no := func(err error) *imap.Error {
		var ie *imap.Error
		if !errors.As(storeError(err), &ie) || ie.Type != imap.StatusResponseTypeNo {
			t.Fatalf("storeError(%v) = %v, want a NO", err, storeError(err))
		}
		return ie
	}
	for _, r := range storeRefusals {
		if got := no(fmt.Errorf("folder %q: %w", "x", r.err)); got.Code != r.code || got.Text != r.text {
			t.Errorf("storeError(%v) = [%s] %s, want [%s] %s", r.err, got.Code, got.Text, r.code, r.text)
		}
	}
	if got := no(fmt.Errorf("read: %w", &store.CorruptError{Path: "m.db", Err: errors.New("bad page")})); got.Code != imap.ResponseCodeCorruption {
		t.Errorf("storeError(corrupt) = [%s] %s, want CORRUPTION", got.Code, got.Text)
	}
	other := errors.New("disk on fire")
	if storeError(nil) != nil || storeError(other) != other {
		t.Errorf("storeError(nil), storeError(unknown) = %v, %v; want them unchanged", storeError(nil), storeError(other))
	}
}
