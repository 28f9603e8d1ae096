package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// The queue database's file is a log of records, each written once and
// never changed, as ESE writes mail.que's transaction log: a commit is one
// write at the end of the file and one fdatasync, where a B+tree (bbolt,
// used here before) needs a write per changed page and two fdatasyncs.
// Opening the file replays it into memory (only the bodies stay on disk),
// and when most of the file is dead records it is rewritten with the live
// ones (compact).
//
// The file starts with spoolMagic; every record is
//
//	length  uint32  of the payload
//	crc     uint32  CRC-32C of the type byte and the payload
//	type    byte
//	payload
//
// all integers big-endian. A record cut short or failing its checksum
// ends the log: a crash can only tear the last write, which no 250 was
// given for.
const spoolMagic = "exsim queue log 1\n"

const recHeader = 9

const (
	recPut    byte = 1 // id, at, flags, meta length, meta, body
	recUpdate byte = 2 // id, meta
	recDelete byte = 3 // ids
	recSeen   byte = 4 // at, id, key
	recSeq    byte = 5 // the highest id given so far
	recBroken byte = 6 // id, meta that could not be decoded
)

// putMarksSeen: replaying this put records its recipients as seen
// (seen.go), in the same record and so in the same write.
const putMarksSeen byte = 1

// maxRecord bounds a record's length: above it the length is damage, not
// a message (Exchange's largest limit is 2 GB; exsim's receive side caps
// messages far below it).
const maxRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends one record to buf, the payload written by fill
// (which appends to and returns the slice it is given).
func appendRecord(buf []byte, typ byte, fill func([]byte) []byte) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	buf = fill(buf)
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-recHeader))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
	return buf
}

func putU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// putRecord appends a put record and reports where its body starts,
// counted from the start of buf.
func putRecord(buf []byte, id int64, at time.Time, flags byte, meta, body []byte) ([]byte, int) {
	var bodyAt int
	buf = appendRecord(buf, recPut, func(b []byte) []byte {
		b = putU64(b, uint64(id))
		b = putU64(b, uint64(at.UnixNano()))
		b = append(b, flags)
		b = binary.BigEndian.AppendUint32(b, uint32(len(meta)))
		b = append(b, meta...)
		bodyAt = len(b)
		return append(b, body...)
	})
	return buf, bodyAt
}

func updateRecord(buf []byte, id int64, meta []byte) []byte {
	return appendRecord(buf, recUpdate, func(b []byte) []byte { return append(putU64(b, uint64(id)), meta...) })
}

func brokenRecord(buf []byte, id int64, meta []byte) []byte {
	return appendRecord(buf, recBroken, func(b []byte) []byte { return append(putU64(b, uint64(id)), meta...) })
}

func deleteRecord(buf []byte, ids []int64) []byte {
	return appendRecord(buf, recDelete, func(b []byte) []byte {
		for _, id := range ids {
			b = putU64(b, uint64(id))
		}
		return b
	})
}

func seenRecord(buf []byte, key string, v seenVal) []byte {
	return appendRecord(buf, recSeen, func(b []byte) []byte {
		b = putU64(b, uint64(v.at))
		b = putU64(b, uint64(v.id))
		return append(b, key...)
	})
}

func seqRecord(buf []byte, next int64) []byte {
	return appendRecord(buf, recSeq, func(b []byte) []byte { return putU64(b, uint64(next)) })
}

// spoolState is what a replayed log holds.
type spoolState struct {
	msgs   map[int64]*spoolEntry
	seen   map[string]seenVal
	broken map[int64][]byte
	last   int64 // the highest id given
	live   int64 // bytes the live records would take in a compacted file
}

// spoolEntry is one queued message: its latest state and where its body is.
type spoolEntry struct {
	meta []byte
	off  int64 // file offset of the body; -1 until its write is done
	n    int
}

func newSpoolState() *spoolState {
	return &spoolState{msgs: map[int64]*spoolEntry{}, seen: map[string]seenVal{}, broken: map[int64][]byte{}}
}

// putSize is the bytes a message's put record takes.
func putSize(e *spoolEntry) int64 { return recHeader + 21 + int64(len(e.meta)+e.n) }

func seenSize(key string) int64 { return recHeader + 16 + int64(len(key)) }

func (st *spoolState) add(id int64, e *spoolEntry) {
	st.msgs[id] = e
	st.live += putSize(e)
	st.last = max(st.last, id)
}

func (st *spoolState) remove(id int64) {
	if e, ok := st.msgs[id]; ok {
		st.live -= putSize(e)
		delete(st.msgs, id)
	}
}

func (st *spoolState) update(id int64, meta []byte) {
	if e, ok := st.msgs[id]; ok {
		st.live += int64(len(meta) - len(e.meta))
		e.meta = meta
	}
}

func (st *spoolState) markSeen(key string, v seenVal) {
	if _, ok := st.seen[key]; !ok {
		st.live += seenSize(key)
	}
	st.seen[key] = v
	st.last = max(st.last, v.id)
}

// replay reads the log in f, size bytes long, into a state. It returns
// the offset where the whole records end; what follows (a write cut
// short) is the caller's to set aside.
func replay(f *os.File, size int64) (*spoolState, int64, error) {
	st := newSpoolState()
	r := bufio.NewReaderSize(f, 1<<16)
	magic := make([]byte, len(spoolMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != spoolMagic {
		return nil, 0, errors.New("not an exsim queue log")
	}
	off := int64(len(spoolMagic))
	var hdr [recHeader]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return st, off, nil
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxRecord || off+recHeader+int64(n) > size {
			return st, off, nil // damage or a torn write: not allocated for
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return st, off, nil
		}
		crc := crc32.Update(crc32.Checksum(hdr[8:], castagnoli), castagnoli, payload)
		if crc != binary.BigEndian.Uint32(hdr[4:]) || !st.apply(hdr[8], payload, off+recHeader) {
			return st, off, nil
		}
		off += recHeader + int64(n)
	}
}

// apply replays one record whose payload starts at file offset at. It
// reports false for a record it cannot read.
func (st *spoolState) apply(typ byte, p []byte, at int64) bool {
	u64 := func(i int) int64 { return int64(binary.BigEndian.Uint64(p[i:])) }
	switch typ {
	case recPut:
		if len(p) < 21 {
			return false
		}
		ml := int(binary.BigEndian.Uint32(p[17:]))
		if 21+ml > len(p) {
			return false
		}
		id := u64(0)
		e := &spoolEntry{meta: append([]byte(nil), p[21:21+ml]...), off: at + 21 + int64(ml), n: len(p) - 21 - ml}
		st.add(id, e)
		if p[16]&putMarksSeen != 0 {
			if netID, rcpts, ok := seenKeysOf(e.meta); ok {
				for _, r := range rcpts {
					st.markSeen(seenKey(netID, r), seenVal{at: u64(8), id: id})
				}
			}
		}
	case recUpdate:
		if len(p) < 8 {
			return false
		}
		st.update(u64(0), append([]byte(nil), p[8:]...))
	case recDelete:
		if len(p)%8 != 0 {
			return false
		}
		for i := 0; i < len(p); i += 8 {
			st.remove(u64(i))
		}
	case recSeen:
		if len(p) < 16 {
			return false
		}
		st.markSeen(string(p[16:]), seenVal{at: u64(0), id: u64(8)})
	case recSeq:
		if len(p) != 8 {
			return false
		}
		st.last = max(st.last, u64(0))
	case recBroken:
		if len(p) < 8 {
			return false
		}
		st.broken[u64(0)] = append([]byte(nil), p[8:]...)
		st.remove(u64(0))
	default:
		return false
	}
	return true
}

// writeCompact writes st's live records to a new log at path, reading the
// bodies from src, and fsyncs it. It returns the open file, each
// message's body offset in it and its size. Seen records older than cut
// are left out.
func writeCompact(path string, st *spoolState, src io.ReaderAt, cut int64) (*os.File, map[int64]int64, int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, 0, err
	}
	offs := make(map[int64]int64, len(st.msgs))
	off := int64(0)
	err = func() error {
		w := bufio.NewWriterSize(f, 1<<16)
		var buf []byte
		emit := func() error {
			_, err := w.Write(buf)
			off += int64(len(buf))
			buf = buf[:0]
			return err
		}
		buf = append(buf, spoolMagic...)
		buf = seqRecord(buf, st.last)
		for key, v := range st.seen {
			if v.at >= cut && !v.pending {
				buf = seenRecord(buf, key, v)
			}
		}
		for id, meta := range st.broken {
			buf = brokenRecord(buf, id, meta)
		}
		if err := emit(); err != nil {
			return err
		}
		var body []byte
		for _, id := range sortedIDs(st.msgs) {
			e := st.msgs[id]
			if e.off < 0 {
				continue // not written yet: its batch follows in the new file
			}
			body = body[:0]
			if cap(body) < e.n {
				body = make([]byte, e.n)
			}
			body = body[:e.n]
			if _, err := src.ReadAt(body, e.off); err != nil {
				return fmt.Errorf("read message %d: %w", id, err)
			}
			var at int
			buf, at = putRecord(buf, id, time.Unix(0, 0), 0, e.meta, body)
			offs[id] = off + int64(at)
			if err := emit(); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return datasync(f)
	}()
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, nil, 0, err
	}
	return f, offs, off, nil
}
