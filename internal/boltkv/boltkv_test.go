package boltkv

import (
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

func TestDeleteIf(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "t.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range []string{"keep1", "drop1", "keep2", "drop2", "drop3"} {
			if err := b.Put([]byte(k), []byte(k[:4])); err != nil {
				return err
			}
		}
		return DeleteIf(b, func(_, v []byte) bool { return string(v) == "drop" })
	})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("b")).ForEach(func(k, _ []byte) error {
			left = append(left, string(k))
			return nil
		})
	})
	if got := strings.Join(left, ","); got != "keep1,keep2" {
		t.Errorf("left %s, want keep1,keep2", got)
	}
}
