package oab

import (
	"encoding/binary"
	"fmt"
)

// The LZXD bit stream inside an LZX_BLK whose ulFlags is 1 (MS-PATCH, LZX
// DELTA, which libmspack's lzxd.c decodes with is_delta set for OAB
// files). This package writes and reads only its uncompressed blocks
// (block type 3): no Huffman trees, no matches, the data as is between
// block headers.
const (
	lzxChunkSize       = 32768 // MS-PATCH 2.2.1: a chunk is 32 KB of output, the last one less
	lzxBlockVerbatim   = 1
	lzxBlockAligned    = 2
	lzxBlockUncomp     = 3
	lzxUncompHdrSize   = 4 + 12 // the block header's two 16-bit words, then R0, R1, R2
	lzxChunkPrefixSize = 2
)

// appendLZXDUncompressed appends the LZXD stream of data (at most one
// chunk) as a single uncompressed block, the one chunk preceded by its
// 16-bit little-endian compressed size (MS-PATCH 2.2.1). The bits, most
// significant first in each 16-bit little-endian word: 0 (no E8
// translation, MS-PATCH 2.2.2), the block type 3 and the block size in 24
// bits (2.3.1), then 4 bits of padding to the 16-bit boundary; then R0, R1
// and R2 (all 1, their initial values) as 32-bit little-endian values, the
// data, and a pad byte when its length is odd (2.3.3).
func appendLZXDUncompressed(out, data []byte) []byte {
	n := len(data) // <= lzxChunkSize, which fits the 24-bit block size
	out = binary.LittleEndian.AppendUint16(out, uint16(lzxUncompHdrSize+n+n&1))
	hdr := uint32(lzxBlockUncomp)<<28 | uint32(n)<<4
	out = binary.LittleEndian.AppendUint16(out, uint16(hdr>>16))
	out = binary.LittleEndian.AppendUint16(out, uint16(hdr))
	for range 3 {
		out = binary.LittleEndian.AppendUint32(out, 1)
	}
	out = append(out, data...)
	if n&1 == 1 {
		out = append(out, 0)
	}
	return out
}

// lzxdReader decodes LZXD streams made of uncompressed blocks, in chunks
// as MS-PATCH lays them out: every chunk's size prefix is checked against
// where its data ends, blocks may span chunks, and any other block type is
// ErrCompressed.
type lzxdReader struct {
	in   []byte
	pos  int    // next byte of in
	bits uint32 // bit buffer: the next bits in its high end
	nbit int    // bits in the buffer
}

// word reads one 16-bit little-endian word into the bit buffer.
func (r *lzxdReader) word() error {
	if r.pos+2 > len(r.in) {
		return fmt.Errorf("oab: LZXD stream ends inside a block header at byte %d", r.pos)
	}
	r.bits |= uint32(binary.LittleEndian.Uint16(r.in[r.pos:])) << (16 - r.nbit)
	r.pos += 2
	r.nbit += 16
	return nil
}

func (r *lzxdReader) read(n int) (uint32, error) {
	for r.nbit < n {
		if err := r.word(); err != nil {
			return 0, err
		}
	}
	v := r.bits >> (32 - n)
	r.bits <<= n
	r.nbit -= n
	return v, nil
}

// align drops the bits left of the current 16-bit word, as at the end of a
// chunk (MS-PATCH 2.2.1) and before an uncompressed block's R0-R2, where 1
// to 16 bits of padding follow the header.
func (r *lzxdReader) align(atLeastOne bool) error {
	if r.nbit == 0 && atLeastOne {
		if err := r.word(); err != nil {
			return err
		}
	}
	r.bits, r.nbit = 0, 0
	return nil
}

// unpackLZXD returns the size bytes an LZXD stream of uncompressed blocks
// decodes to.
func unpackLZXD(in []byte, size int) ([]byte, error) {
	r := &lzxdReader{in: in}
	out := make([]byte, 0, min(size, len(in)))
	remaining, oddBlock := 0, false
	for chunk := 0; len(out) < size; chunk++ {
		if r.pos+lzxChunkPrefixSize > len(in) {
			return nil, fmt.Errorf("oab: LZXD chunk %d: no chunk size (%d of %d bytes decoded)", chunk, len(out), size)
		}
		end := r.pos + lzxChunkPrefixSize + int(binary.LittleEndian.Uint16(in[r.pos:]))
		r.pos += lzxChunkPrefixSize
		if end > len(in) {
			return nil, fmt.Errorf("oab: LZXD chunk %d: %d bytes announced, %d left", chunk, end-r.pos, len(in)-r.pos)
		}
		if chunk == 0 {
			e8, err := r.read(1)
			if err != nil {
				return nil, err
			}
			if e8 != 0 {
				return nil, fmt.Errorf("oab: LZXD stream asks for E8 translation, which OAB data never needs")
			}
		}
		want := min(lzxChunkSize, size-len(out))
		for got := 0; got < want; {
			if remaining == 0 {
				if oddBlock {
					r.pos++ // the pad byte after an odd-sized uncompressed block
				}
				n, err := r.blockHeader()
				if err != nil {
					return nil, fmt.Errorf("chunk %d: %w", chunk, err)
				}
				remaining, oddBlock = n, n&1 == 1
			}
			take := min(remaining, want-got)
			if r.pos+take > end {
				return nil, fmt.Errorf("oab: LZXD chunk %d: uncompressed data runs past the chunk's end", chunk)
			}
			out = append(out, in[r.pos:r.pos+take]...)
			r.pos += take
			got += take
			remaining -= take
		}
		if remaining == 0 && oddBlock && r.pos < end {
			r.pos++ // the pad byte that realigns the chunk
			oddBlock = false
		}
		if err := r.align(false); err != nil {
			return nil, err
		}
		if r.pos != end {
			return nil, fmt.Errorf("oab: LZXD chunk %d ends at byte %d, its size prefix says %d", chunk, r.pos, end)
		}
	}
	if remaining != 0 {
		return nil, fmt.Errorf("oab: LZXD block has %d bytes left after the %d announced", remaining, size)
	}
	if r.pos != len(in) {
		return nil, fmt.Errorf("oab: %d bytes after the LZXD stream", len(in)-r.pos)
	}
	return out, nil
}

// blockHeader reads an uncompressed block's header (MS-PATCH 2.3.1 and
// 2.3.3) and returns its size; other block types are ErrCompressed.
func (r *lzxdReader) blockHeader() (int, error) {
	typ, err := r.read(3)
	if err != nil {
		return 0, err
	}
	n, err := r.read(24)
	if err != nil {
		return 0, err
	}
	switch typ {
	case lzxBlockUncomp:
	case lzxBlockVerbatim, lzxBlockAligned:
		return 0, fmt.Errorf("LZXD block type %d: %w", typ, ErrCompressed)
	default:
		return 0, fmt.Errorf("oab: LZXD block type %d is not one MS-PATCH defines", typ)
	}
	if n == 0 {
		return 0, fmt.Errorf("oab: empty LZXD uncompressed block")
	}
	if err := r.align(true); err != nil {
		return 0, err
	}
	if r.pos+12 > len(r.in) {
		return 0, fmt.Errorf("oab: LZXD uncompressed block without R0-R2")
	}
	r.pos += 12 // R0, R1, R2: the repeated-match offsets, unused without matches
	return int(n), nil
}
