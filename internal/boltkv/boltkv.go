// Package boltkv holds bbolt bucket operations the mailbox store's
// exactly-once records use (the transport queue was a bbolt database too
// until its log replaced it).
package boltkv

import "go.etcd.io/bbolt"

// DeleteIf deletes the keys of b whose entry drop reports, after walking
// the whole bucket (bbolt does not allow deleting during ForEach).
func DeleteIf(b *bbolt.Bucket, drop func(k, v []byte) bool) error {
	var old [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if drop(k, v) {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range old {
		if err != nil {
			break
		}
		err = b.Delete(k)
	}
	return err
}
