package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Records are stored in a small versioned binary encoding: one version byte,
// then fields as uvarints and length-prefixed strings. Decoding checks every
// length, so a damaged record becomes a CorruptError instead of a panic.

const (
	folderRecVersion  = 1
	msgRecVersion     = 1
	mailboxRecVersion = 1
)

// maxRecString bounds any string inside a record; headers are truncated to it
// when the record is built.
const maxRecString = 4096

var errTruncated = errors.New("truncated record")

// folderRec is the persistent state of one folder.
type folderRec struct {
	Name        string // display name, hierarchy delimiter "/"
	UIDValidity uint32
	UIDNext     uint32
	Messages    uint32
	Unseen      uint32
	Deleted     uint32
	Size        uint64
	ModSeq      uint64
	Subscribed  bool
	SpecialUse  string // "\Sent", "\Drafts", ... or ""
	Default     bool   // created with the mailbox; cannot be deleted or renamed
	Created     int64  // unix seconds
}

// msgRec is the persistent metadata of one message; the body lives in the
// bodies bucket under Body and is shared (reference counted) between copies.
type msgRec struct {
	Flags    flagBits
	Keywords []string
	Internal int64 // unix nanoseconds
	Size     uint64
	Body     uint64
	From     string
	To       string
	Cc       string
	Subject  string
	MsgID    string
	Sent     int64 // unix seconds of the Date header; 0 when absent or unparsable
}

// mailboxRec is the persistent state of one mailbox.
type mailboxRec struct {
	Address string
	Created int64 // unix seconds
}

type encoder struct{ b []byte }

func (e *encoder) u(v uint64)   { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) i(v int64)    { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) s(v string)   { e.u(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) bool(v bool)  { e.b = append(e.b, boolByte(v)) }
func (e *encoder) byte(v uint8) { e.b = append(e.b, v) }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) u() uint64 { return varint(d, binary.Uvarint) }
func (d *decoder) i() int64  { return varint(d, binary.Varint) }

// varint reads one varint with read (binary.Uvarint or binary.Varint).
func varint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	v := d.u()
	if v > 1<<32-1 {
		d.fail(fmt.Errorf("value %d out of range", v))
	}
	return uint32(v)
}

func (d *decoder) s() string {
	v := string(d.raw())
	if !utf8.ValidString(v) {
		d.fail(errors.New("invalid UTF-8 in record"))
	}
	return v
}

// skipS skips what s would read.
func (d *decoder) skipS() { d.raw() }

// raw reads a length-prefixed string's bytes.
func (d *decoder) raw() []byte {
	n := d.u()
	if d.err != nil {
		return nil
	}
	if n > maxRecString || n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() uint8 {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(errTruncated)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail(errors.New("bad boolean"))
		return false
	}
}

func (d *decoder) version(want uint8) {
	if v := d.byte(); d.err == nil && v != want {
		d.fail(fmt.Errorf("unknown record version %d", v))
	}
}

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Errorf("%d trailing bytes", len(d.b)))
	}
	return d.err
}

func (r *folderRec) encode() []byte {
	e := encoder{b: make([]byte, 0, 64+len(r.Name))}
	e.byte(folderRecVersion)
	e.s(r.Name)
	e.u(uint64(r.UIDValidity))
	e.u(uint64(r.UIDNext))
	e.u(uint64(r.Messages))
	e.u(uint64(r.Unseen))
	e.u(uint64(r.Deleted))
	e.u(r.Size)
	e.u(r.ModSeq)
	e.bool(r.Subscribed)
	e.s(r.SpecialUse)
	e.bool(r.Default)
	e.i(r.Created)
	return e.b
}

func decodeFolderRec(b []byte) (folderRec, error) {
	d := decoder{b: b}
	var r folderRec
	d.version(folderRecVersion)
	r.Name = d.s()
	r.UIDValidity = d.u32()
	r.UIDNext = d.u32()
	r.Messages = d.u32()
	r.Unseen = d.u32()
	r.Deleted = d.u32()
	r.Size = d.u()
	r.ModSeq = d.u()
	r.Subscribed = d.bool()
	r.SpecialUse = d.s()
	r.Default = d.bool()
	r.Created = d.i()
	if err := d.end(); err != nil {
		return folderRec{}, err
	}
	if r.Name == "" || r.UIDValidity == 0 || r.UIDNext == 0 {
		return folderRec{}, errors.New("folder record without name, UIDVALIDITY or UIDNEXT")
	}
	return r, nil
}

func (r *msgRec) encode() []byte {
	e := encoder{b: make([]byte, 0, 64+len(r.From)+len(r.To)+len(r.Cc)+len(r.Subject)+len(r.MsgID))}
	e.byte(msgRecVersion)
	e.byte(uint8(r.Flags))
	e.u(uint64(len(r.Keywords)))
	for _, k := range r.Keywords {
		e.s(k)
	}
	e.i(r.Internal)
	e.u(r.Size)
	e.u(r.Body)
	e.s(r.From)
	e.s(r.To)
	e.s(r.Cc)
	e.s(r.Subject)
	e.s(r.MsgID)
	e.i(r.Sent)
	return e.b
}

// maxKeywords bounds the keywords of one message (IMAP clients use a handful).
const maxKeywords = 64

func decodeMsgRec(b []byte) (msgRec, error) { return decodeMsgRecText(b, true) }

// decodeMsgRecText decodes a message record; without text, the header
// fields (From to MsgID) are skipped, not made into strings nor checked
// for UTF-8.
func decodeMsgRecText(b []byte, text bool) (msgRec, error) {
	d := decoder{b: b}
	var r msgRec
	d.version(msgRecVersion)
	r.Flags = flagBits(d.byte())
	if r.Flags&^flagAll != 0 {
		d.fail(fmt.Errorf("unknown flag bits %#x", uint8(r.Flags)))
	}
	n := d.u()
	if n > maxKeywords {
		d.fail(fmt.Errorf("%d keywords", n))
		n = 0
	}
	for range n {
		r.Keywords = append(r.Keywords, d.s())
	}
	r.Internal = d.i()
	r.Size = d.u()
	r.Body = d.u()
	if text {
		r.From = d.s()
		r.To = d.s()
		r.Cc = d.s()
		r.Subject = d.s()
		r.MsgID = d.s()
	} else {
		for range 5 {
			d.skipS()
		}
	}
	r.Sent = d.i()
	if err := d.end(); err != nil {
		return msgRec{}, err
	}
	if r.Body == 0 {
		return msgRec{}, errors.New("message record without body")
	}
	return r, nil
}

func (r *mailboxRec) encode() []byte {
	e := encoder{}
	e.byte(mailboxRecVersion)
	e.s(r.Address)
	e.i(r.Created)
	return e.b
}

func decodeMailboxRec(b []byte) (mailboxRec, error) {
	d := decoder{b: b}
	var r mailboxRec
	d.version(mailboxRecVersion)
	r.Address = d.s()
	r.Created = d.i()
	return r, d.end()
}

func u64key(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func u32key(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func keyU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

func keyU32(b []byte) (uint32, bool) {
	if len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
