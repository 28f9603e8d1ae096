package oab

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The compressed OAB container (MS-OXOAB LZX_HDR and LZX_BLK; libmspack's
// oabd.c reads the same layout): a 16-byte header, then blocks of a 16-byte
// header and their data.
const (
	lzxVersionHi = 3 // LZX_HDR.ulVersionHi
	lzxVersionLo = 1 // LZX_HDR.ulVersionLo: a full file (2 is a patch)
	lzxHdrSize   = 16
	lzxBlkSize   = 16
	// BlockSize is the uncompressed size of every block but the last, and
	// the header's ulBlockMax: one LZXD chunk (MS-PATCH 2.2.1), so that
	// each block's stream is a single chunk.
	BlockSize = 32768
	// blockStored and blockLZX are LZX_BLK.ulFlags.
	blockStored = 0
	blockLZX    = 1
)

// ErrCompressed is Unpack's error for LZX-compressed data (LZXD verbatim
// or aligned offset blocks, with Huffman trees and matches), which this
// package does not decode.
var ErrCompressed = errors.New("oab: LZX-compressed block: this reader decodes stored and LZX uncompressed blocks only")

// Pack wraps an uncompressed file in the OAB container: blocks of
// BlockSize bytes (the last one less), each with ulFlags 1 and an LZXD
// stream holding the block's data as one LZX uncompressed block (block
// type 3 of MS-PATCH), and the MS-OXOAB section 2.1 CRC of the data. Every
// LZX decoder reads uncompressed blocks; the file is 36 bytes a block
// larger than the data.
func Pack(data []byte) []byte {
	nblk := (len(data) + BlockSize - 1) / BlockSize
	out := make([]byte, 0, lzxHdrSize+len(data)+nblk*(lzxBlkSize+lzxChunkPrefixSize+lzxUncompHdrSize+1))
	out = binary.LittleEndian.AppendUint32(out, lzxVersionHi)
	out = binary.LittleEndian.AppendUint32(out, lzxVersionLo)
	out = binary.LittleEndian.AppendUint32(out, BlockSize)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	for len(data) > 0 {
		blk := data[:min(len(data), BlockSize)]
		data = data[len(blk):]
		out = binary.LittleEndian.AppendUint32(out, blockLZX)
		out = binary.LittleEndian.AppendUint32(out, uint32(lzxChunkPrefixSize+lzxUncompHdrSize+len(blk)+len(blk)&1))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(blk)))
		out = binary.LittleEndian.AppendUint32(out, crc(blk))
		out = appendLZXDUncompressed(out, blk)
	}
	return out
}

// Unpack returns the file a container holds: stored blocks (ulFlags 0) and
// LZX blocks made of LZXD uncompressed blocks (what Pack writes). It checks
// the header's version, every block's sizes against ulBlockMax and what is
// left of ulTargetSize, its LZXD chunks, its CRC, and that nothing follows
// the last block.
func Unpack(b []byte) ([]byte, error) {
	if len(b) < lzxHdrSize {
		return nil, fmt.Errorf("oab: container of %d bytes has no LZX_HDR", len(b))
	}
	hi, lo := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
	if hi != lzxVersionHi || lo != lzxVersionLo {
		return nil, fmt.Errorf("oab: LZX_HDR version %d.%d is not 3.1 (a full file)", hi, lo)
	}
	blockMax := binary.LittleEndian.Uint32(b[8:])
	left := binary.LittleEndian.Uint32(b[12:])
	b = b[lzxHdrSize:]
	// Stored and LZX uncompressed data are never larger than their
	// container, which bounds the allocation whatever ulTargetSize claims.
	out := make([]byte, 0, min(uint64(left), uint64(len(b))))
	for n := 0; left > 0; n++ {
		if len(b) < lzxBlkSize {
			return nil, fmt.Errorf("oab: block %d: no LZX_BLK header (%d bytes of ulTargetSize left)", n, left)
		}
		flags := binary.LittleEndian.Uint32(b)
		csize, usize := binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
		sum := binary.LittleEndian.Uint32(b[12:])
		b = b[lzxBlkSize:]
		switch {
		case flags != blockStored && flags != blockLZX:
			return nil, fmt.Errorf("oab: block %d: ulFlags %#x is neither 0 (stored) nor 1 (LZX)", n, flags)
		case usize == 0 || usize > blockMax || usize > left:
			return nil, fmt.Errorf("oab: block %d: ulUncompSize %d is outside 1..min(ulBlockMax %d, %d left)", n, usize, blockMax, left)
		case flags == blockStored && csize != usize:
			return nil, fmt.Errorf("oab: block %d: stored block with ulCompSize %d != ulUncompSize %d", n, csize, usize)
		case uint64(csize) > uint64(len(b)):
			return nil, fmt.Errorf("oab: block %d: %d bytes of data, %d in the file", n, csize, len(b))
		}
		data := b[:csize]
		if flags == blockLZX {
			var err error
			if data, err = unpackLZXD(data, int(usize)); err != nil {
				return nil, fmt.Errorf("block %d: %w", n, err)
			}
		}
		if got := crc(data); got != sum {
			return nil, fmt.Errorf("oab: block %d: CRC %#08x, ulCRC says %#08x", n, got, sum)
		}
		out = append(out, data...)
		b = b[csize:]
		left -= usize
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("oab: %d bytes after the last block", len(b))
	}
	return out, nil
}
