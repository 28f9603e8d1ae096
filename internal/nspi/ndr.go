package nspi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// errStub: the request stub does not decode as the operation's NDR.
var errStub = errors.New("nspi: malformed request stub")

// reader decodes NDR 2.0 (little-endian, 4-byte alignment is all MS-NSPI's
// types need) from a request stub.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) align4() { r.off = (r.off + 3) &^ 3 }

func (r *reader) u32() uint32 {
	r.align4()
	if r.err != nil || r.off+4 > len(r.b) {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		r.fail()
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w at offset %d of %d", errStub, r.off, len(r.b))
	}
}

// stat reads a STAT (MS-NSPI section 2.3.7).
func (r *reader) stat() Stat {
	var s Stat
	s.SortType, s.ContainerID, s.CurrentRec = r.u32(), r.u32(), r.u32()
	s.Delta = int32(r.u32())
	s.NumPos, s.TotalRecs, s.CodePage, s.TemplateLocale, s.SortLocale = r.u32(), r.u32(), r.u32(), r.u32(), r.u32()
	return s
}

// handle reads a context handle (20 bytes: attributes and UUID).
func (r *reader) handle() [20]byte {
	var h [20]byte
	r.align4()
	copy(h[:], r.bytes(20))
	return h
}

// u32Array reads a conformant array of DWORDs, at most max long.
func (r *reader) u32Array(max int) []uint32 {
	n := int(r.u32())
	if n > max || r.err != nil {
		r.fail()
		return nil
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = r.u32()
	}
	return out
}

// tagArray reads a PropertyTagArray_r (cValues and a conformant varying
// array of property tags).
func (r *reader) tagArray() []uint32 {
	maxCount := int(r.u32())
	count := int(r.u32())
	offset, actual := r.u32(), int(r.u32())
	if offset != 0 || actual > maxCount || count > maxCount || actual > 4096 || r.err != nil {
		r.fail()
		return nil
	}
	out := make([]uint32, actual)
	for i := range out {
		out[i] = r.u32()
	}
	return out[:min(count, actual)]
}

// writer encodes NDR 2.0. Embedded pointers are written as referent ids
// in place and their referents later (deferred), in the order the caller
// gives them.
type writer struct {
	b   []byte
	ref uint32
}

func (w *writer) align4() {
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *writer) u32(v uint32) {
	w.align4()
	w.b = binary.LittleEndian.AppendUint32(w.b, v)
}

func (w *writer) u16(v uint16) {
	w.b = binary.LittleEndian.AppendUint16(w.b, v)
}

// ptr writes a referent id (non-null).
func (w *writer) ptr() {
	w.ref += 4
	w.u32(0x00020000 + w.ref)
}

func (w *writer) stat(s Stat) {
	for _, v := range []uint32{s.SortType, s.ContainerID, s.CurrentRec, uint32(s.Delta), s.NumPos, s.TotalRecs, s.CodePage, s.TemplateLocale, s.SortLocale} {
		w.u32(v)
	}
}

// wstring writes the referent of an LPWSTR: a conformant varying string
// of UTF-16 code units with its terminating null.
func (w *writer) wstring(s string) {
	u := append(utf16.Encode([]rune(s)), 0)
	w.u32(uint32(len(u)))
	w.u32(0)
	w.u32(uint32(len(u)))
	for _, c := range u {
		w.u16(c)
	}
}

// astring writes the referent of an LPSTR (8-bit characters; characters
// outside ASCII become '?', as a code page conversion would leave them).
func (w *writer) astring(s string) {
	var b []byte
	for _, c := range s {
		if c > 0x7e {
			c = '?'
		}
		b = append(b, byte(c))
	}
	b = append(b, 0)
	w.u32(uint32(len(b)))
	w.u32(0)
	w.u32(uint32(len(b)))
	w.b = append(w.b, b...)
}

// binary writes the referent of a Binary_r's lpb.
func (w *writer) binary(b []byte) {
	w.u32(uint32(len(b)))
	w.b = append(w.b, b...)
}

// tags writes the referent of a PropertyTagArray_r.
func (w *writer) tags(tags []uint32) {
	w.u32(uint32(len(tags))) // conformance
	w.u32(uint32(len(tags))) // cValues
	w.u32(0)                 // offset
	w.u32(uint32(len(tags))) // actual count
	for _, t := range tags {
		w.u32(t)
	}
}
