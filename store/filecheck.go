package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk meta page (go.etcd.io/bbolt internal/common/meta.go): a
// 16-byte page header, then magic, version, page size, flags, root bucket
// (root page, sequence), freelist page, page high-water mark, txid, checksum.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	pageHeaderSize  = 16
	metaSize        = 4 + 4 + 4 + 4 + 16 + 8 + 8 + 8 + 8
	noFreelist      = ^uint64(0)
	minBoltPageSize = 512
)

type boltMeta struct {
	pageSize       uint32
	root, freelist uint64
	pgid, txid     uint64
}

func readMeta(b []byte) (boltMeta, bool) {
	if len(b) < pageHeaderSize+metaSize {
		return boltMeta{}, false
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:metaSize-8])
	if h.Sum64() != le.Uint64(m[metaSize-8:]) {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: le.Uint32(m[8:]),
		root:     le.Uint64(m[16:]),
		freelist: le.Uint64(m[32:]),
		pgid:     le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
	}, true
}

// precheck validates what bbolt touches while opening a file, before it
// does: a page referenced beyond the end of a truncated file faults, and
// bbolt.Open runs where that fault cannot be turned into an error. Files
// without a valid meta page are left to bbolt, which reports them.
func precheck(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	buf := make([]byte, 4096)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return &CorruptError{Path: path, Err: err}
	}
	buf = buf[:n]
	m0, ok0 := readMeta(buf)
	var m1 boltMeta
	ok1 := false
	for _, ps := range []uint32{m0.pageSize, 4096, 8192, 16384, 65536} {
		if ps < minBoltPageSize || !ok0 && ps == 0 {
			continue
		}
		p := make([]byte, pageHeaderSize+metaSize)
		if _, err := f.ReadAt(p, int64(ps)); err != nil {
			continue
		}
		if m, ok := readMeta(p); ok && m.pageSize == ps {
			m1, ok1 = m, true
			break
		}
	}
	var m boltMeta
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		return nil
	}
	if m.pageSize < minBoltPageSize {
		return &CorruptError{Path: path, Err: fmt.Errorf("page size %d", m.pageSize)}
	}
	if need := int64(m.pgid) * int64(m.pageSize); m.pgid == 0 || need/int64(m.pageSize) != int64(m.pgid) || size < need {
		return &CorruptError{Path: path, Err: fmt.Errorf("file has %d bytes but its pages need %d (truncated)", size, int64(m.pgid)*int64(m.pageSize))}
	}
	if m.root >= m.pgid || (m.freelist != noFreelist && m.freelist >= m.pgid) {
		return &CorruptError{Path: path, Err: errors.New("meta page points beyond the last page")}
	}
	return nil
}
