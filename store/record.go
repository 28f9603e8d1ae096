package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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

// codec reads or writes a record, one field at a time: each record's
// fields method walks its fields in their on-disk order, and the same walk
// encodes (appending to b) or decodes (reading b into the record), so the
// layout is written once and the two directions cannot drift apart.
// Decoding checks every length, so a damaged record becomes an error
// instead of a panic; after the first error the fields read as zero.
type codec struct {
	decode bool
	// noText, when decoding, skips the strings text reads (a message's
	// header fields) instead of making them strings and checking UTF-8.
	noText bool
	b      []byte
	err    error
}

func (c *codec) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// end is the decoding's result: the first error, or one for bytes left over.
func (c *codec) end() error {
	if c.err == nil && len(c.b) != 0 {
		c.fail(fmt.Errorf("%d trailing bytes", len(c.b)))
	}
	return c.err
}

// version writes the record version, or checks that it is v.
func (c *codec) version(v uint8) {
	got := v
	c.byte(&got)
	if c.err == nil && got != v {
		c.fail(fmt.Errorf("unknown record version %d", got))
	}
}

func (c *codec) byte(v *uint8) {
	switch {
	case !c.decode:
		c.b = append(c.b, *v)
	case c.err != nil:
	case len(c.b) == 0:
		c.fail(errTruncated)
	default:
		*v, c.b = c.b[0], c.b[1:]
	}
}

func (c *codec) bool(v *bool) {
	b := boolByte(*v)
	c.byte(&b)
	if b > 1 {
		c.fail(errors.New("bad boolean"))
	}
	*v = b == 1
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (c *codec) u(v *uint64) {
	if !c.decode {
		c.b = binary.AppendUvarint(c.b, *v)
		return
	}
	*v = varint(c, binary.Uvarint)
}

func (c *codec) i(v *int64) {
	if !c.decode {
		c.b = binary.AppendVarint(c.b, *v)
		return
	}
	*v = varint(c, binary.Varint)
}

// varint reads one varint with read (binary.Uvarint or binary.Varint).
func varint[T uint64 | int64](c *codec, read func([]byte) (T, int)) T {
	if c.err != nil {
		return 0
	}
	v, n := read(c.b)
	if n <= 0 {
		c.fail(errTruncated)
		return 0
	}
	c.b = c.b[n:]
	return v
}

func (c *codec) u32(v *uint32) {
	w := uint64(*v)
	c.u(&w)
	if w > math.MaxUint32 {
		c.fail(fmt.Errorf("value %d out of range", w))
	}
	*v = uint32(w)
}

// s is a length-prefixed string of at most maxRecString bytes of UTF-8.
func (c *codec) s(v *string) {
	n := uint64(len(*v))
	c.u(&n)
	switch {
	case !c.decode:
		c.b = append(c.b, *v...)
	case c.err != nil:
	case n > maxRecString || n > uint64(len(c.b)):
		c.fail(errTruncated)
	default:
		*v, c.b = string(c.b[:n]), c.b[n:]
		if !utf8.ValidString(*v) {
			c.fail(errors.New("invalid UTF-8 in record"))
		}
	}
}

// text is s for a string a decoding with noText skips: its length is
// still checked, its bytes are neither copied nor checked for UTF-8.
func (c *codec) text(v *string) {
	if !c.decode || !c.noText {
		c.s(v)
		return
	}
	var n uint64
	c.u(&n)
	switch {
	case c.err != nil:
	case n > maxRecString || n > uint64(len(c.b)):
		c.fail(errTruncated)
	default:
		c.b = c.b[n:]
	}
}

// strings is a count, then that many strings; decoding refuses more than max.
func (c *codec) strings(v *[]string, max uint64) {
	n := uint64(len(*v))
	c.u(&n)
	if c.decode && c.err == nil && n > 0 {
		if n > max {
			c.fail(fmt.Errorf("%d strings in a list of at most %d", n, max))
			return
		}
		*v = make([]string, n)
	}
	for i := range *v {
		c.s(&(*v)[i])
	}
}

func (r *folderRec) fields(c *codec) {
	c.version(folderRecVersion)
	c.s(&r.Name)
	c.u32(&r.UIDValidity)
	c.u32(&r.UIDNext)
	c.u32(&r.Messages)
	c.u32(&r.Unseen)
	c.u32(&r.Deleted)
	c.u(&r.Size)
	c.u(&r.ModSeq)
	c.bool(&r.Subscribed)
	c.s(&r.SpecialUse)
	c.bool(&r.Default)
	c.i(&r.Created)
}

func (r *folderRec) encode() []byte {
	c := codec{b: make([]byte, 0, 64+len(r.Name))}
	r.fields(&c)
	return c.b
}

func decodeFolderRec(b []byte) (folderRec, error) {
	var r folderRec
	c := codec{decode: true, b: b}
	r.fields(&c)
	if err := c.end(); err != nil {
		return folderRec{}, err
	}
	if r.Name == "" || r.UIDValidity == 0 || r.UIDNext == 0 {
		return folderRec{}, errors.New("folder record without name, UIDVALIDITY or UIDNEXT")
	}
	return r, nil
}

// maxKeywords bounds the keywords of one message (IMAP clients use a handful).
const maxKeywords = 64

func (r *msgRec) fields(c *codec) {
	c.version(msgRecVersion)
	c.byte((*uint8)(&r.Flags))
	c.strings(&r.Keywords, maxKeywords)
	c.i(&r.Internal)
	c.u(&r.Size)
	c.u(&r.Body)
	c.text(&r.From)
	c.text(&r.To)
	c.text(&r.Cc)
	c.text(&r.Subject)
	c.text(&r.MsgID)
	c.i(&r.Sent)
}

func (r *msgRec) encode() []byte {
	c := codec{b: make([]byte, 0, 64+len(r.From)+len(r.To)+len(r.Cc)+len(r.Subject)+len(r.MsgID))}
	r.fields(&c)
	return c.b
}

func decodeMsgRec(b []byte) (msgRec, error) { return decodeMsgRecText(b, true) }

// decodeMsgRecText decodes a message record; without text, the header
// fields (From to MsgID) are skipped, not made into strings nor checked
// for UTF-8.
func decodeMsgRecText(b []byte, text bool) (msgRec, error) {
	var r msgRec
	c := codec{decode: true, noText: !text, b: b}
	r.fields(&c)
	if err := c.end(); err != nil {
		return msgRec{}, err
	}
	if r.Flags&^flagAll != 0 {
		return msgRec{}, fmt.Errorf("unknown flag bits %#x", uint8(r.Flags))
	}
	if r.Body == 0 {
		return msgRec{}, errors.New("message record without body")
	}
	return r, nil
}

func (r *mailboxRec) fields(c *codec) {
	c.version(mailboxRecVersion)
	c.s(&r.Address)
	c.i(&r.Created)
}

func (r *mailboxRec) encode() []byte {
	var c codec
	r.fields(&c)
	return c.b
}

func decodeMailboxRec(b []byte) (mailboxRec, error) {
	var r mailboxRec
	c := codec{decode: true, b: b}
	r.fields(&c)
	return r, c.end()
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
