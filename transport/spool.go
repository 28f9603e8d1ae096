package transport

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The queue database, like Exchange's mail.que, is one file: bbolt gives
// crash-safe transactions, and its Batch gives group commit, so concurrent
// receive sessions share one fsync (MEASUREMENTS.md: a spool that creates
// and deletes a file per message collapses on this file system; a database
// that reuses pages does not).
var (
	bucketMeta   = []byte("meta")
	bucketBody   = []byte("body")
	bucketBroken = []byte("broken")
)

// groupWindow is how long a write waits for others to share its commit.
// Each commit is two fdatasyncs, and on the 2-vCPU machine of
// docs/PERFORMANCE.md they cost CPU the sessions need: with smtp-source's
// 20 sessions a 2 ms window took a third fewer fsyncs than 1 ms, ~10 %
// less CPU per message, and more messages a second on both the relay and
// the Edge path; 4 ms was slower again (the wait shows). No commit
// without waiting at all (a committer that takes whatever arrived during
// the last commit) was slower still: batches of one or two.
const groupWindow = 2 * time.Millisecond

// Spool is the durable queue database of one server.
type Spool struct {
	db   *bolt.DB
	path string
}

// OpenSpool opens (creating) the queue database at path.
func OpenSpool(path string) (*Spool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        5 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("queue: %s is in use by another exsim process", path)
		}
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	// Group commit: calls arriving within groupWindow share one commit.
	db.MaxBatchDelay = groupWindow
	db.MaxBatchSize = 256
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketBody, bucketBroken, bucketSeen} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return pruneSeen(tx, time.Now())
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("queue: %s: %w", path, err)
	}
	return &Spool{db: db, path: path}, nil
}

// Path is the database file.
func (s *Spool) Path() string { return s.path }

// Close closes the database.
func (s *Spool) Close() error { return s.db.Close() }

func key(id int64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(id))
	return k[:]
}

// Put stores a new message and its body and assigns m.ID. It returns once
// the message is on disk (fsync), so the caller may answer 250.
//
// Recipients that this server already accepted the message for (same
// Network-Message-Id, see seen.go) are taken out of m first; dup says how
// many. When none is left nothing is stored and m.ID is the InternalId the
// first copy got.
func (s *Spool) Put(m *Message, body []byte) (dup int, err error) {
	now := time.Now()
	all := m.Recipients
	var fresh []Recipient
	var prevID int64
	// Batch may run the function more than once: it must not depend on
	// what an earlier run did to m.
	err = s.db.Batch(func(tx *bolt.Tx) error {
		m.Recipients = all
		fresh, prevID = splitSeen(tx, m)
		if len(fresh) == 0 && len(all) > 0 {
			return nil
		}
		m.Recipients = fresh
		meta := tx.Bucket(bucketMeta)
		seq, err := meta.NextSequence()
		if err != nil {
			return err
		}
		m.ID = int64(seq)
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := meta.Put(key(m.ID), b); err != nil {
			return err
		}
		if err := tx.Bucket(bucketBody).Put(key(m.ID), body); err != nil {
			return err
		}
		return markSeen(tx, m, now)
	})
	if err != nil {
		m.Recipients = all
		return 0, fmt.Errorf("queue: store message: %w", err)
	}
	m.Recipients = fresh
	if len(fresh) == 0 && len(all) > 0 {
		m.ID = prevID
	}
	return len(all) - len(fresh), nil
}

// Update rewrites a message's state (recipients, flags).
func (s *Spool) Update(m *Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(key(m.ID)) == nil {
			return nil // already removed
		}
		return meta.Put(key(m.ID), b)
	})
	if err != nil {
		return fmt.Errorf("queue: update message %d: %w", m.ID, err)
	}
	return nil
}

// Delete removes messages that are done, in one commit (the caller
// gathers them: deletes.go).
func (s *Spool) Delete(ids ...int64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, body := tx.Bucket(bucketMeta), tx.Bucket(bucketBody)
		for _, id := range ids {
			if err := meta.Delete(key(id)); err != nil {
				return err
			}
			if err := body.Delete(key(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: delete %d messages: %w", len(ids), err)
	}
	return nil
}

// Body returns a copy of a message's body.
func (s *Spool) Body(id int64) ([]byte, error) { return s.AppendBody(nil, id) }

// AppendBody appends a copy of a message's body to buf (a reused buffer:
// the bytes must not outlive a read transaction of the database).
func (s *Spool) AppendBody(buf []byte, id int64) ([]byte, error) {
	out := buf
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBody).Get(key(id))
		if b == nil {
			return fmt.Errorf("no body for message %d", id)
		}
		out = append(out, b...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return out, nil
}

// Load returns every message in the database, oldest first. A record that
// cannot be decoded is moved to the broken bucket (kept for inspection,
// never delivered) and reported, instead of stopping the server.
func (s *Spool) Load() ([]*Message, []error) {
	var msgs []*Message
	var problems []error
	var broken [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		body := tx.Bucket(bucketBody)
		return tx.Bucket(bucketMeta).ForEach(func(k, v []byte) error {
			var m Message
			if err := json.Unmarshal(v, &m); err != nil || len(k) != 8 || body.Get(k) == nil {
				if err == nil {
					err = errors.New("record without a body")
				}
				problems = append(problems, fmt.Errorf("queue: %s: message %x unreadable (moved aside): %v", s.path, k, err))
				broken = append(broken, append([]byte(nil), k...))
				return nil
			}
			msgs = append(msgs, &m)
			return nil
		})
	})
	if err != nil {
		problems = append(problems, fmt.Errorf("queue: %s: %w", s.path, err))
	}
	if len(broken) > 0 {
		s.db.Update(func(tx *bolt.Tx) error {
			meta, body, br := tx.Bucket(bucketMeta), tx.Bucket(bucketBody), tx.Bucket(bucketBroken)
			for _, k := range broken {
				br.Put(k, append([]byte{}, meta.Get(k)...))
				meta.Delete(k)
				body.Delete(k)
			}
			return nil
		})
	}
	return msgs, problems
}
