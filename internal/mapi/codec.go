// Package mapi is the wire codec of MAPI over HTTP (MS-OXCMAPIHTTP) and
// of the remote operations it carries (MS-OXCROPS inside MS-OXCRPC's
// RPC_HEADER_EXT): the request and response bodies of the EMSMDB and NSPI
// endpoints, property values and rows (MS-OXCDATA), and the ROPs exsim
// serves, and the NDR stubs of the same mailbox operations over DCE/RPC
// (MS-OXCRPC's EcDoConnectEx, EcDoRpcExt2, EcDoDisconnect). The server
// (servers/httpd) and the client (internal/mapiclient) share it, so one
// definition of each structure encodes and decodes: every structure has
// one codec method that a Codec runs either way.
package mapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// ErrShort and ErrTrailing are the decode failures of a malformed body.
var (
	ErrShort    = errors.New("mapi: buffer too short")
	ErrTrailing = errors.New("mapi: bytes after the end of the structure")
)

// Codec encodes (when built by NewEncoder) or decodes (NewDecoder) one
// buffer. Its methods take pointers: an encoder reads the value, a decoder
// stores into it. The first error sticks and later calls do nothing.
type Codec struct {
	enc bool
	b   []byte
	off int
	err error
}

// NewEncoder returns a Codec that appends to an empty buffer.
func NewEncoder() *Codec { return &Codec{enc: true} }

// NewDecoder returns a Codec that reads b.
func NewDecoder(b []byte) *Codec { return &Codec{b: b} }

// Encoding says whether c writes.
func (c *Codec) Encoding() bool { return c.enc }

// Bytes is the encoded buffer.
func (c *Codec) Bytes() []byte { return c.b }

// Err is the first error met.
func (c *Codec) Err() error { return c.err }

// Remaining is how many bytes a decoder has not read.
func (c *Codec) Remaining() int { return len(c.b) - c.off }

// Fail records err unless an error is already recorded.
func (c *Codec) Fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *Codec) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || n > len(c.b)-c.off {
		c.err = ErrShort
		return nil
	}
	p := c.b[c.off : c.off+n]
	c.off += n
	return p
}

func (c *Codec) U8(v *uint8) {
	if c.enc {
		c.b = append(c.b, *v)
	} else if p := c.take(1); p != nil {
		*v = p[0]
	}
}

func (c *Codec) U16(v *uint16) {
	if c.enc {
		c.b = binary.LittleEndian.AppendUint16(c.b, *v)
	} else if p := c.take(2); p != nil {
		*v = binary.LittleEndian.Uint16(p)
	}
}

func (c *Codec) U32(v *uint32) {
	if c.enc {
		c.b = binary.LittleEndian.AppendUint32(c.b, *v)
	} else if p := c.take(4); p != nil {
		*v = binary.LittleEndian.Uint32(p)
	}
}

func (c *Codec) U64(v *uint64) {
	if c.enc {
		c.b = binary.LittleEndian.AppendUint64(c.b, *v)
	} else if p := c.take(8); p != nil {
		*v = binary.LittleEndian.Uint64(p)
	}
}

// Fixed is a fixed-size field (a GUID).
func (c *Codec) Fixed(v []byte) {
	if c.enc {
		c.b = append(c.b, v...)
	} else if p := c.take(len(v)); p != nil {
		copy(v, p)
	}
}

// Align pads (encoding) or skips (decoding) to a multiple of n bytes
// from the start of the buffer, as NDR aligns scalars (C706 14.2.2): the
// EMSMDB RPC stubs carry the same buffers MAPI/HTTP does.
func (c *Codec) Align(n int) {
	for c.err == nil && (c.enc && len(c.b)%n != 0 || !c.enc && c.off%n != 0) {
		var pad uint8
		c.U8(&pad)
	}
}

// Bool is a one-byte flag: 0xFF for true as MAPI/HTTP's Has* fields
// (MS-OXCMAPIHTTP 2.2.1); any non-zero byte reads as true.
func (c *Codec) Bool(v *bool) {
	var b uint8
	if *v {
		b = 0xFF
	}
	c.U8(&b)
	*v = b != 0
}

// Count is an element count followed by at least min bytes per element:
// a decoder refuses a count the rest of the buffer cannot hold, so a
// hostile count never allocates.
func (c *Codec) Count(n *uint32, min int) int {
	c.U32(n)
	return c.checkCount(int(*n), min)
}

// Count16 is Count with a two-byte count.
func (c *Codec) Count16(n *uint16, min int) int {
	c.U16(n)
	return c.checkCount(int(*n), min)
}

func (c *Codec) checkCount(n, min int) int {
	if c.err != nil {
		return 0
	}
	if !c.enc && n*max(min, 1) > len(c.b)-c.off {
		c.err = fmt.Errorf("mapi: count %d: %w", n, ErrShort)
		return 0
	}
	return n
}

// Blob32 is a byte array with a four-byte length (AuxiliaryBuffer,
// RopBuffer).
func (c *Codec) Blob32(v *[]byte) {
	n := uint32(len(*v))
	k := c.Count(&n, 1)
	c.raw(v, k)
}

// Blob16 is a byte array with a two-byte length (PtypBinary in a ROP).
func (c *Codec) Blob16(v *[]byte) {
	n := uint16(len(*v))
	k := c.Count16(&n, 1)
	c.raw(v, k)
}

func (c *Codec) raw(v *[]byte, n int) {
	if c.enc {
		c.b = append(c.b, *v...)
	} else if p := c.take(n); p != nil {
		*v = append([]byte(nil), p...)
	}
}

// ASCIIZ is a null-terminated 8-bit string.
func (c *Codec) ASCIIZ(v *string) {
	if c.enc {
		c.b = append(append(c.b, *v...), 0)
		return
	}
	if c.err != nil {
		return
	}
	for i := c.off; i < len(c.b); i++ {
		if c.b[i] == 0 {
			*v = string(c.b[c.off:i])
			c.off = i + 1
			return
		}
	}
	c.err = fmt.Errorf("mapi: unterminated string: %w", ErrShort)
}

// UTF16Z is a null-terminated UTF-16LE string.
func (c *Codec) UTF16Z(v *string) {
	if c.enc {
		for _, u := range utf16.Encode([]rune(*v)) {
			c.b = binary.LittleEndian.AppendUint16(c.b, u)
		}
		c.b = append(c.b, 0, 0)
		return
	}
	if c.err != nil {
		return
	}
	var u []uint16
	for i := c.off; i+1 < len(c.b); i += 2 {
		x := binary.LittleEndian.Uint16(c.b[i:])
		if x == 0 {
			*v = string(utf16.Decode(u))
			c.off = i + 2
			return
		}
		u = append(u, x)
	}
	c.err = fmt.Errorf("mapi: unterminated string: %w", ErrShort)
}

// Body is a structure with a codec: a request or response body, a ROP.
type Body interface{ Codec(c *Codec) }

// Marshal encodes b.
func Marshal(b Body) []byte {
	c := NewEncoder()
	b.Codec(c)
	return c.b
}

// Unmarshal decodes data into b; bytes left over are an error.
func Unmarshal(data []byte, b Body) error {
	c := NewDecoder(data)
	b.Codec(c)
	if c.err != nil {
		return c.err
	}
	if c.off != len(c.b) {
		return ErrTrailing
	}
	return nil
}
