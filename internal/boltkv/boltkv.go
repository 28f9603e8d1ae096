// Package boltkv holds the bbolt bucket operations more than one of
// exsim's databases needs (the transport queue's and the mailbox store's
// exactly-once records).
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
