package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Before the log (spoolfile.go) the queue database was a bbolt file at the
// same path. migrateBolt converts such a file in place, keeping every
// queued message, the seen table and the records set aside as broken, so
// an upgraded exsim resumes its queue.

// boltMagic is bbolt's meta page magic, after the 16-byte page header.
const boltMagic = 0xED0CDAED

func isBolt(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [20]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(head[16:]) == boltMagic
}

func migrateBolt(path string) error {
	if !isBolt(path) {
		return nil
	}
	st, bodies, err := readBolt(path)
	if err != nil {
		return fmt.Errorf("queue: convert %s from the earlier format: %w", path, err)
	}
	tmp := path + ".compact"
	f, _, _, err := writeCompact(tmp, st, bytes.NewReader(bodies), time.Now().Add(-SeenWindow).UnixNano())
	if err == nil {
		f.Close()
		if err = os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		return fmt.Errorf("queue: convert %s from the earlier format: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// readBolt reads a bbolt queue database into a state whose body offsets
// point into the returned bytes.
func readBolt(path string) (*spoolState, []byte, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, nil, fmt.Errorf("in use by another exsim process")
		}
		return nil, nil, err
	}
	defer db.Close()
	st := newSpoolState()
	var bodies []byte
	err = db.View(func(tx *bolt.Tx) error {
		meta, body := tx.Bucket([]byte("meta")), tx.Bucket([]byte("body"))
		if meta == nil || body == nil {
			return nil
		}
		st.last = int64(meta.Sequence())
		err := meta.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return nil // exsim never wrote such a key
			}
			id := int64(binary.BigEndian.Uint64(k))
			b := body.Get(k)
			if b == nil {
				st.broken[id] = append([]byte(nil), v...)
				return nil
			}
			st.add(id, &spoolEntry{meta: append([]byte(nil), v...), off: int64(len(bodies)), n: len(b)})
			bodies = append(bodies, b...)
			return nil
		})
		if err != nil {
			return err
		}
		if br := tx.Bucket([]byte("broken")); br != nil {
			br.ForEach(func(k, v []byte) error {
				if len(k) == 8 {
					st.broken[int64(binary.BigEndian.Uint64(k))] = append([]byte(nil), v...)
				}
				return nil
			})
		}
		if seen := tx.Bucket([]byte("seen")); seen != nil {
			seen.ForEach(func(k, v []byte) error {
				if len(v) == 16 {
					st.markSeen(string(k), seenVal{at: int64(binary.BigEndian.Uint64(v)), id: int64(binary.BigEndian.Uint64(v[8:]))})
				}
				return nil
			})
		}
		return nil
	})
	return st, bodies, err
}
