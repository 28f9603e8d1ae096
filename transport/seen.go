package transport

import (
	"encoding/binary"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exsim/exsim/internal/boltkv"
)

// The queue database remembers which (Network-Message-Id, recipient) pairs
// this server has accepted, in the same transaction that queued them: an
// Exchange server that sent us a message and crashed before it recorded
// our 250 sends it again, and the copy is recognised instead of queued a
// second time (exactly once per hop, EX01 -> EX02 and Edge -> EX01). The
// Network-Message-Id is stamped by the first Exchange hop and kept by every
// trusted one after it; the header firewall removes it from anonymous
// senders, so an outsider cannot use it to suppress a message.
var bucketSeen = []byte("seen")

// SeenWindow is how long an accepted pair is remembered: past the
// senders' MessageExpirationTimeout (2 days), after which no retry comes.
const SeenWindow = 7 * 24 * time.Hour

func seenKey(netID, rcpt string) []byte {
	return []byte(netID + "\x00" + strings.ToLower(rcpt))
}

// seenRec is a seen record's value: when, and the InternalId it got.
func seenRec(at time.Time, id int64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(at.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], uint64(id))
	return b[:]
}

// splitSeen sorts m's recipients into those new to this server and
// reports the InternalId under which a recipient was seen before (0: all
// new). It only reads the transaction.
func splitSeen(tx *bolt.Tx, m *Message) (fresh []Recipient, prevID int64) {
	seen := tx.Bucket(bucketSeen)
	if m.NetworkID == "" || seen == nil {
		return m.Recipients, 0
	}
	for _, r := range m.Recipients {
		if v := seen.Get(seenKey(m.NetworkID, r.Address)); len(v) == 16 {
			prevID = int64(binary.BigEndian.Uint64(v[8:]))
			continue
		}
		fresh = append(fresh, r)
	}
	return fresh, prevID
}

// markSeen records m's recipients as accepted under m.ID.
func markSeen(tx *bolt.Tx, m *Message, now time.Time) error {
	if m.NetworkID == "" {
		return nil
	}
	seen := tx.Bucket(bucketSeen)
	for _, r := range m.Recipients {
		if err := seen.Put(seenKey(m.NetworkID, r.Address), seenRec(now, m.ID)); err != nil {
			return err
		}
	}
	return nil
}

// pruneSeen drops the records older than SeenWindow.
func pruneSeen(tx *bolt.Tx, now time.Time) error {
	seen := tx.Bucket(bucketSeen)
	cut := uint64(now.Add(-SeenWindow).UnixNano())
	return boltkv.DeleteIf(seen, func(_, v []byte) bool {
		return len(v) != 16 || binary.BigEndian.Uint64(v) < cut
	})
}
