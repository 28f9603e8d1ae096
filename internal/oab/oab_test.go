package oab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/nspi"
)

// testBook is a book of two mailboxes, one with every property and one
// with the least a record can have (the primary key).
func testBook() Book {
	return Book{
		Name: `\Global Address List`, DN: "/", GUID: "4A6B5C3D-1E2F-4A5B-8C7D-0E1F2A3B4C5D", Sequence: 300,
		Entries: []nspi.Entry{
			{DisplayName: "Alice Wood", Alias: "alice", Address: "alice@contoso.com",
				LegacyDN:       "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=alice",
				ProxyAddresses: []string{"SMTP:alice@contoso.com", "smtp:a.wood@contoso.com"},
				GUID:           [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
			{LegacyDN: "/o=Contoso/cn=bob"},
		},
	}
}

func TestAppendInt(t *testing.T) {
	for _, tt := range []struct {
		v    uint32
		want []byte
	}{
		{0, []byte{0}}, {0x7F, []byte{0x7F}}, {0x80, []byte{0x81, 0x80}}, {0xFF, []byte{0x81, 0xFF}},
		{0x100, []byte{0x82, 0x00, 0x01}}, {0x12345, []byte{0x83, 0x45, 0x23, 0x01}},
		{0xFFFFFFFF, []byte{0x84, 0xFF, 0xFF, 0xFF, 0xFF}},
	} {
		got := appendInt(nil, tt.v)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("appendInt(%#x) = % x, want % x", tt.v, got, tt.want)
		}
		d := decoder{b: got}
		if v, err := d.int(); err != nil || v != tt.v || d.off != len(got) {
			t.Errorf("decoder.int(% x) = %#x, %v, read %d", got, v, err, d.off)
		}
	}
}

// MS-OXOAB section 2.1: the IEEE polynomial seeded with 0xFFFFFFFF, no
// final inversion; for "123456789" that is the complement of CRC-32's
// check value 0xCBF43926.
func TestCRC(t *testing.T) {
	if got := crc([]byte("123456789")); got != 0x340BC6D9 {
		t.Errorf("crc(123456789) = %#08x, want 0x340bc6d9", got)
	}
}

// The bytes WriteDetails lays down, checked at the offsets of MS-OXOAB
// section 2.9 by hand rather than through the reader.
func TestDetailsLayout(t *testing.T) {
	b := testBook()
	b.Entries = b.Entries[1:] // bob: the primary key only
	got, err := WriteDetails(b)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if le.Uint32(got) != 0x20 || le.Uint32(got[8:]) != 1 {
		t.Fatalf("OAB_HDR = % x, want version 0x20 and 1 record", got[:12])
	}
	if le.Uint32(got[4:]) != crc(got[12:]) {
		t.Errorf("ulSerial %#x is not the CRC of the rest", le.Uint32(got[4:]))
	}
	// OAB_META_DATA: cbSize, 4 header properties, 8 object properties.
	meta := got[12:]
	if size := le.Uint32(meta); size != 4+4+4*8+4+8*8 {
		t.Fatalf("OAB_META_DATA.cbSize = %d, want 108", size)
	}
	if le.Uint32(meta[4:]) != 4 || le.Uint32(meta[8:]) != 0x6800001F || le.Uint32(meta[40:]) != 8 ||
		le.Uint32(meta[44:]) != 0x3003001F || le.Uint32(meta[48:]) != FlagPrimaryKey {
		t.Errorf("property tables = % x", meta[4:108])
	}
	// Header record: cbSize, presence 0xF0 (4 of 4), name, dn, seq 300 as
	// 0x82 0x2C 0x01, container GUID.
	hdr := got[12+108:]
	wantHdr := []byte{0xF0}
	wantHdr = append(wantHdr, `\Global Address List`+"\x00/\x00"...)
	wantHdr = append(wantHdr, 0x82, 0x2C, 0x01)
	wantHdr = append(wantHdr, "4A6B5C3D-1E2F-4A5B-8C7D-0E1F2A3B4C5D\x00"...)
	hsize := le.Uint32(hdr)
	if int(hsize) != 4+len(wantHdr) || !bytes.Equal(hdr[4:hsize], wantHdr) {
		t.Errorf("header record = % x, want size %d and % x", hdr[:hsize], 4+len(wantHdr), wantHdr)
	}
	// Bob's record: presence 0x8C (email address, object type, display
	// type), the DN, 6, 0.
	rec := hdr[hsize:]
	wantRec := append([]byte{0x8C}, "/o=Contoso/cn=bob\x00"...)
	wantRec = append(wantRec, 6, 0)
	if size := le.Uint32(rec); int(size) != len(rec) || !bytes.Equal(rec[4:], wantRec) {
		t.Errorf("record = % x, want % x", rec, wantRec)
	}
}

func TestPublishRoundTrip(t *testing.T) {
	b := testBook()
	p, err := Publish(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.FullName != "4a6b5c3d-1e2f-4a5b-8c7d-0e1f2a3b4c5d-data-300.lzx" {
		t.Errorf("FullName = %q", p.FullName)
	}
	m, err := ParseManifest(p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.OALs) != 1 || m.OALs[0].Name != `\Global Address List` || m.OALs[0].DN != "/" || m.fullV4() == nil {
		t.Fatalf("manifest = %s", p.Manifest)
	}
	f := m.fullV4()
	if f.Name != p.FullName || f.Size != int64(len(p.Full)) || f.Seq != 300 {
		t.Errorf("<Full> = %+v", f)
	}
	details, err := Unpack(p.Full)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(details)) != f.UncompressedSize {
		t.Errorf("unpacked %d bytes, uncompressedsize %d", len(details), f.UncompressedSize)
	}
	d, err := ParseDetails(details)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != b.Name || d.DN != "/" || d.Sequence != 300 || d.ContainerGUID != b.GUID || len(d.Entries) != 2 {
		t.Fatalf("details = %+v", d)
	}
	a := d.Entries[0]
	if a.DisplayName != "Alice Wood" || a.SMTPAddress != "alice@contoso.com" || a.Account != "alice" ||
		a.LegacyDN != b.Entries[0].LegacyDN || a.ObjectType != 6 || a.DisplayType != 0 ||
		strings.Join(a.ProxyAddresses, ",") != "SMTP:alice@contoso.com,smtp:a.wood@contoso.com" ||
		!bytes.Equal(a.ObjectGUID, b.Entries[0].GUID[:]) {
		t.Errorf("alice = %+v", a)
	}
	if bob := d.Entries[1]; bob.LegacyDN != "/o=Contoso/cn=bob" || bob.DisplayName != "" || len(bob.Props) != 3 {
		t.Errorf("bob = %+v", bob)
	}
}

// A file over several blocks: every block but the last is BlockSize, each
// an LZX block of one chunk holding one uncompressed block.
func TestPackBlocks(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), BlockSize/8+3) // 2 blocks and 48 bytes
	data = append(data, 'x')                                        // an odd last block
	c := Pack(data)
	perBlock := lzxBlkSize + 2 + 4 + 12 // LZX_BLK, chunk size, block header, R0-R2
	if want := lzxHdrSize + len(data) + 3*perBlock + 1; len(c) != want {
		t.Fatalf("Pack: %d bytes, want %d", len(c), want)
	}
	le := binary.LittleEndian
	blk := c[lzxHdrSize:]
	if le.Uint32(blk) != 1 || le.Uint32(blk[4:]) != 2+4+12+BlockSize || le.Uint32(blk[8:]) != BlockSize ||
		le.Uint32(blk[12:]) != crc(data[:BlockSize]) {
		t.Errorf("first LZX_BLK = % x", blk[:16])
	}
	// The chunk: its size (0x8010), then 0 (no E8), 011 (uncompressed), the
	// 24-bit size 0x008000 and 4 bits of padding, as two 16-bit
	// little-endian words (0x3008, 0x0000).
	if !bytes.Equal(blk[16:22], []byte{0x10, 0x80, 0x08, 0x30, 0x00, 0x00}) || le.Uint32(blk[22:]) != 1 {
		t.Errorf("first chunk starts % x", blk[16:30])
	}
	got, err := Unpack(c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Unpack(Pack(x)) = %d bytes, %v", len(got), err)
	}
}

// storedContainer is a container of stored blocks (ulFlags 0), which
// MS-OXOAB allows and Pack does not write, built by hand.
func storedContainer(data []byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 3), 1), BlockSize), uint32(len(data)))
	b = le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint32(b, 0), uint32(len(data))), uint32(len(data))), crc(data))
	return append(b, data...)
}

func TestUnpackStored(t *testing.T) {
	got, err := Unpack(storedContainer([]byte("details")))
	if err != nil || string(got) != "details" {
		t.Fatalf("Unpack(stored) = %q, %v", got, err)
	}
}

func TestUnpackErrors(t *testing.T) {
	good := Pack([]byte("details")) // LZX_BLK at 16, its chunk at 32, the data at 50
	stored := storedContainer([]byte("details"))
	edit := func(in []byte, off int, v ...byte) []byte {
		b := bytes.Clone(in)
		copy(b[off:], v)
		return b
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want string
	}{
		{"short", good[:10], "no LZX_HDR"},
		{"patch version", edit(good, 4, 2), "not 3.1"},
		{"unknown flags", edit(good, 16, 7), "neither 0"},
		{"block over ulBlockMax", edit(good, 8, 3, 0, 0, 0), "outside 1..min"},
		{"bad CRC", edit(good, 28, 0), "CRC"},
		{"truncated data", good[:len(good)-2], "bytes of data"},
		{"trailing bytes", append(bytes.Clone(good), 0), "after the last block"},
		{"missing block", edit(good, 12, 100), "no LZX_BLK"},
		{"verbatim block", edit(good, 35, 0x10), "LZX-compressed"},
		{"E8 translation", edit(good, 35, 0xB0), "E8"},
		{"chunk shorter than its block", edit(good, 32, 0x14), "past the chunk"},
		{"block longer than its data", edit(good, 36, 0x90), "size prefix"},
		{"stored sizes differ", edit(stored, 20, 6), "ulCompSize 6"},
		{"stored bad CRC", edit(stored, 28, 0), "CRC"},
	} {
		_, err := Unpack(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Unpack = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	if _, err := Unpack(edit(good, 35, 0x10)); !errors.Is(err, ErrCompressed) {
		t.Errorf("verbatim block: %v is not ErrCompressed", err)
	}
}

func TestParseDetailsErrors(t *testing.T) {
	b := testBook()
	good, err := WriteDetails(b)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	hdrAt := 12 + 108
	recAt := hdrAt + int(le.Uint32(good[hdrAt:]))
	edit := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tt := range []struct {
		name string
		in   []byte
		want string
	}{
		{"version 2 file", edit(func(x []byte) []byte { le.PutUint32(x, 7); return x }), "ulVersion"},
		{"too many records", edit(func(x []byte) []byte { le.PutUint32(x[8:], 3); return x }), "record 2"},
		{"huge record count", edit(func(x []byte) []byte { le.PutUint32(x[8:], 1<<30); return x }), "cannot fit"},
		{"record after the last", append(bytes.Clone(good), 4, 0, 0, 0), "bytes after"},
		{"meta size", edit(func(x []byte) []byte { le.PutUint32(x[12:], 1<<20); return x }), "cbSize"},
		{"object type", edit(func(x []byte) []byte { le.PutUint32(x[12+44:], 0x3003000D); return x }), "type"},
		{"duplicate property", edit(func(x []byte) []byte { le.PutUint32(x[12+52:], 0x3003001F); return x }), "twice"},
		{"unused presence bits", edit(func(x []byte) []byte { x[hdrAt+4] |= 0x01; return x }), "unused bits"},
		{"record too short", edit(func(x []byte) []byte { le.PutUint32(x[recAt:], le.Uint32(x[recAt:])-2); return x }), "record 0"},
		{"no primary key", edit(func(x []byte) []byte { x[recAt+4] &^= 0x80; return x }), "record 0"},
	} {
		_, err := ParseDetails(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseDetails = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	if _, err := WriteDetails(Book{Entries: []nspi.Entry{{Address: "x@contoso.com"}}}); err == nil {
		t.Error("WriteDetails accepted an entry without legacyExchangeDN")
	}
}

func TestParseManifestErrors(t *testing.T) {
	full := func(name, sha string) string {
		return `<OAB><OAL id="x" dn="/" name="n"><Full seq="1" ver="32" size="1" uncompressedsize="1" SHA="` + sha + `">` + name + `</Full></OAL></OAB>`
	}
	sha := strings.Repeat("ab", 20)
	for _, in := range []string{"<OAB", full("../../etc/passwd", sha), full("a/b.lzx", sha), full("x.lzx", "zz"), full("", sha)} {
		if _, err := ParseManifest([]byte(in)); err == nil {
			t.Errorf("ParseManifest(%s) accepted it", in)
		}
	}
	if _, err := ParseManifest([]byte(full("x-data-1.lzx", sha))); err != nil {
		t.Errorf("ParseManifest(good) = %v", err)
	}
}
