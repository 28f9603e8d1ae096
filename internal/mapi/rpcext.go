package mapi

import (
	"errors"
	"fmt"
)

// RPC_HEADER_EXT flags (MS-OXCRPC 2.2.2.1).
const (
	HeaderCompressed = 0x0001
	HeaderXorMagic   = 0x0002
	HeaderLast       = 0x0004
)

// ErrCompressed is what a buffer with a compressed or obfuscated payload
// decodes to: exsim reads and writes plain payloads only.
var ErrCompressed = errors.New("mapi: compressed or obfuscated RPC_HEADER_EXT payloads are not supported")

// maxPayload is the largest payload one RPC_HEADER_EXT carries (its Size
// is 16 bits).
const maxPayload = 0xFFFF

// SplitExt reads a chain of RPC_HEADER_EXT (MS-OXCRPC 2.2.2.1) and
// returns the payloads joined, up to the header flagged Last.
func SplitExt(b []byte) ([]byte, error) {
	var out []byte
	for {
		c := NewDecoder(b)
		var version, flags, size, actual uint16
		c.U16(&version)
		c.U16(&flags)
		c.U16(&size)
		c.U16(&actual)
		if c.err != nil {
			return nil, fmt.Errorf("mapi: RPC_HEADER_EXT: %w", c.err)
		}
		if version != 0 {
			return nil, fmt.Errorf("mapi: RPC_HEADER_EXT version %d", version)
		}
		if flags&(HeaderCompressed|HeaderXorMagic) != 0 {
			return nil, ErrCompressed
		}
		if int(size) > c.Remaining() || size != actual {
			return nil, fmt.Errorf("mapi: RPC_HEADER_EXT size %d (actual %d) of %d bytes: %w", size, actual, c.Remaining(), ErrShort)
		}
		out = append(out, b[8:8+int(size)]...)
		b = b[8+int(size):]
		if flags&HeaderLast != 0 {
			if len(b) != 0 {
				return nil, ErrTrailing
			}
			return out, nil
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("mapi: RPC_HEADER_EXT chain without Last: %w", ErrShort)
		}
	}
}

// JoinExt wraps payload in one uncompressed RPC_HEADER_EXT flagged Last.
func JoinExt(payload []byte) ([]byte, error) {
	if len(payload) > maxPayload {
		return nil, fmt.Errorf("mapi: payload of %d bytes exceeds one RPC_HEADER_EXT", len(payload))
	}
	c := NewEncoder()
	version, flags, n := uint16(0), uint16(HeaderLast), uint16(len(payload))
	c.U16(&version)
	c.U16(&flags)
	c.U16(&n)
	c.U16(&n)
	return append(c.b, payload...), nil
}

// ROPBuffer is the payload of an EcDoRpcExt2 / Execute buffer
// (MS-OXCRPC 3.1.4.2.1.1): RopSize, the ROPs, then the server object
// handle table.
type ROPBuffer struct {
	ROPs    []byte
	Handles []uint32
}

// ParseROPBuffer splits a payload into ROPs and handle table.
func ParseROPBuffer(p []byte) (*ROPBuffer, error) {
	c := NewDecoder(p)
	var size uint16
	c.U16(&size)
	if c.err != nil || size < 2 || int(size) > len(p) {
		return nil, fmt.Errorf("mapi: RopSize %d of a %d byte buffer: %w", size, len(p), ErrShort)
	}
	rest := p[size:]
	if len(rest)%4 != 0 {
		return nil, fmt.Errorf("mapi: handle table of %d bytes", len(rest))
	}
	b := &ROPBuffer{ROPs: p[2:size]}
	hc := NewDecoder(rest)
	for hc.Remaining() > 0 {
		var h uint32
		hc.U32(&h)
		b.Handles = append(b.Handles, h)
	}
	return b, nil
}

// Bytes is the payload of b.
func (b *ROPBuffer) Bytes() []byte {
	c := NewEncoder()
	size := uint16(2 + len(b.ROPs))
	c.U16(&size)
	c.b = append(c.b, b.ROPs...)
	for _, h := range b.Handles {
		c.U32(&h)
	}
	return c.b
}
