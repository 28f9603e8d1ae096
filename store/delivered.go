package store

import (
	"encoding/binary"
	"time"

	"go.etcd.io/bbolt"

	"github.com/exsim/exsim/internal/boltkv"
)

// DeliveredWindow is how long the store remembers a delivered message id
// for DeliverOnce. A sender retries a message at most until its
// MessageExpirationTimeout (Exchange's default: 2 days) runs out, so a
// week covers every retry; older records are dropped when the store opens.
const DeliveredWindow = 7 * 24 * time.Hour

// deliveredRec is the value of a bucketDelivered record: when the message
// was stored, and where.
type deliveredRec struct {
	at          int64 // unix nanoseconds
	uidValidity uint32
	uid         uint32
}

const deliveredRecLen = 16

func (r deliveredRec) encode() []byte {
	b := make([]byte, deliveredRecLen)
	binary.BigEndian.PutUint64(b, uint64(r.at))
	binary.BigEndian.PutUint32(b[8:], r.uidValidity)
	binary.BigEndian.PutUint32(b[12:], r.uid)
	return b
}

func decodeDeliveredRec(b []byte) (deliveredRec, bool) {
	if len(b) != deliveredRecLen {
		return deliveredRec{}, false
	}
	return deliveredRec{
		at:          int64(binary.BigEndian.Uint64(b)),
		uidValidity: binary.BigEndian.Uint32(b[8:]),
		uid:         binary.BigEndian.Uint32(b[12:]),
	}, true
}

// deliveredKey is the record key of message id in a mailbox: NUL cannot
// occur in either part (ids are header values, mailboxes addresses).
func deliveredKey(id, mailbox string) []byte {
	return []byte(id + "\x00" + mailbox)
}

// lookupDelivered reports whether the mailbox already holds message id.
// A damaged record counts as absent: a second copy is better than a loss.
func lookupDelivered(tx *bbolt.Tx, id, mailbox string) (deliveredRec, bool) {
	if id == "" {
		return deliveredRec{}, false
	}
	b := tx.Bucket(bucketDelivered)
	if b == nil {
		return deliveredRec{}, false
	}
	return decodeDeliveredRec(b.Get(deliveredKey(id, mailbox)))
}

// putDelivered records that the mailbox received message id as a.
func putDelivered(tx *bbolt.Tx, id, mailbox string, now time.Time, a Appended) error {
	if id == "" {
		return nil
	}
	b := tx.Bucket(bucketDelivered)
	if b == nil {
		return nil // a store opened read-only before the bucket existed
	}
	return b.Put(deliveredKey(id, mailbox), deliveredRec{at: now.UnixNano(), uidValidity: a.UIDValidity, uid: a.UID}.encode())
}

// pruneDelivered drops the records older than DeliveredWindow.
func pruneDelivered(tx *bbolt.Tx, now time.Time) error {
	b := tx.Bucket(bucketDelivered)
	if b == nil {
		return nil
	}
	cut := now.Add(-DeliveredWindow).UnixNano()
	return boltkv.DeleteIf(b, func(_, v []byte) bool {
		r, ok := decodeDeliveredRec(v)
		return !ok || r.at < cut
	})
}
