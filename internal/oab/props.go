package oab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Property types an OAB_PROP_REC may name (MS-OXOAB section 2.9.4, types
// of MS-OXCDATA section 2.11.1).
const (
	typInteger32    = 0x0003
	typBoolean      = 0x000B
	typObject       = 0x000D
	typString8      = 0x001E
	typString       = 0x001F
	typBinary       = 0x0102
	typMVInteger32  = 0x1003
	typMVString8    = 0x101E
	typMVString     = 0x101F
	typMVBinary     = 0x1102
	mvFlag          = 0x1000
	typMask         = 0xFFFF
	maxCompactValue = 0x7F
)

// Property tags of the OAB header record (MS-OXOAB section 2.9.2.1;
// MS-OXPROPS names them PidTagOfflineAddressBook*).
const (
	TagOABName          = 0x6800001F // PidTagOfflineAddressBookName
	TagOABSequence      = 0x68010003 // PidTagOfflineAddressBookSequence
	TagOABContainerGUID = 0x6802001E // PidTagOfflineAddressBookContainerGuid
	TagOABDN            = 0x6804001E // PidTagOfflineAddressBookDistinguishedName
)

// Property tags of the Address Book object records this package writes
// and Entry reads (MS-OXPROPS; MS-OXOABK section 2.2 for the address book
// ones). Strings are PtypString: UTF-8 in the file (MS-OXOAB 2.9.5).
const (
	TagEmailAddress   = 0x3003001F // PidTagEmailAddress: the legacyExchangeDN, the primary key
	TagDisplayName    = 0x3001001F // PidTagDisplayName
	TagSMTPAddress    = 0x39FE001F // PidTagSmtpAddress
	TagAccount        = 0x3A00001F // PidTagAccount (mailNickname)
	TagObjectType     = 0x0FFE0003 // PidTagObjectType: 6, MAPI_MAILUSER
	TagDisplayType    = 0x39000003 // PidTagDisplayType: 0, DT_MAILUSER
	TagProxyAddresses = 0x800F101F // PidTagAddressBookProxyAddresses
	TagObjectGUID     = 0x8C6D0102 // PidTagAddressBookObjectGuid
)

// Flags of an OAB_PROP_REC (MS-OXOAB section 2.9.4): the property is an
// ambiguous name resolution index online (a), a primary key index whose
// value every record carries (b). The values read the section's diagram
// (c, b, a from the most significant bit down) in the little-endian order
// of every OAB integer: a is bit 0, b bit 1.
const (
	FlagANR        = 0x1
	FlagPrimaryKey = 0x2
)

// PropRec is one OAB_PROP_REC: a property of the header or object records
// and how it is indexed online.
type PropRec struct {
	Tag   uint32
	Flags uint32
}

// validType reports whether a property tag's type may appear in an OAB
// version 4 file. PtypObject is allowed by the table but its encoding is
// not described; this package neither writes nor reads it.
func validType(tag uint32) bool {
	switch tag & typMask {
	case typInteger32, typBoolean, typString8, typString, typBinary,
		typMVInteger32, typMVString8, typMVString, typMVBinary:
		return true
	}
	return false
}

// crc is the CRC of MS-OXOAB section 2.1: the IEEE 802.3 polynomial
// seeded with 0xFFFFFFFF and not inverted at the end, so the complement
// of the usual CRC-32 (libmspack's oabd.c computes it the same way).
func crc(b []byte) uint32 { return ^crc32.ChecksumIEEE(b) }

// appendInt appends an integer in the record encoding of MS-OXOAB section
// 2.9.5: values up to 0x7F in one byte, larger ones as a byte 0x81-0x84
// giving the count of little-endian bytes that follow. Counts of
// multi-valued properties and binary lengths use the same encoding.
func appendInt(b []byte, v uint32) []byte {
	if v <= maxCompactValue {
		return append(b, byte(v))
	}
	var le [4]byte
	binary.LittleEndian.PutUint32(le[:], v)
	n := 4
	for n > 1 && le[n-1] == 0 {
		n--
	}
	b = append(b, 0x80|byte(n))
	return append(b, le[:n]...)
}

// errTruncated is the error of a value that runs past its record.
var errTruncated = errors.New("value runs past the end of its record")

// decoder reads the values of one record.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) byte1() (byte, error) {
	if d.off >= len(d.b) {
		return 0, errTruncated
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

// int reads the integer encoding appendInt writes.
func (d *decoder) int() (uint32, error) {
	c, err := d.byte1()
	if err != nil || c <= maxCompactValue {
		return uint32(c), err
	}
	n := int(c &^ 0x80)
	if c&0x80 == 0 || n < 1 || n > 4 {
		return 0, fmt.Errorf("integer length byte %#02x is not 0x81-0x84", c)
	}
	if d.off+n > len(d.b) {
		return 0, errTruncated
	}
	var le [4]byte
	copy(le[:], d.b[d.off:d.off+n])
	d.off += n
	return binary.LittleEndian.Uint32(le[:]), nil
}

// str reads a null-terminated string.
func (d *decoder) str() (string, error) {
	for i := d.off; i < len(d.b); i++ {
		if d.b[i] == 0 {
			s := string(d.b[d.off:i])
			d.off = i + 1
			return s, nil
		}
	}
	return "", errTruncated
}

// bin reads a length-prefixed binary value.
func (d *decoder) bin() ([]byte, error) {
	n, err := d.int()
	if err != nil {
		return nil, err
	}
	if uint64(d.off)+uint64(n) > uint64(len(d.b)) {
		return nil, errTruncated
	}
	v := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return v, nil
}

// count reads the value count of a multi-valued property; each value takes
// at least one byte, which bounds it by what is left.
func (d *decoder) count() (int, error) {
	n, err := d.int()
	if err != nil {
		return 0, err
	}
	if uint64(n) > uint64(len(d.b)-d.off) {
		return 0, fmt.Errorf("%d values cannot fit in the %d bytes left", n, len(d.b)-d.off)
	}
	return int(n), nil
}

// value reads one value of type typ: uint32 for integers and booleans,
// string, []byte, or a slice of those for multi-valued types.
func (d *decoder) value(typ uint32) (any, error) {
	switch typ {
	case typInteger32:
		return d.int()
	case typBoolean:
		c, err := d.byte1()
		return uint32(c), err
	case typString, typString8:
		return d.str()
	case typBinary:
		return d.bin()
	}
	if typ&mvFlag == 0 {
		return nil, fmt.Errorf("property type %#04x has no OAB encoding", typ)
	}
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	switch typ {
	case typMVInteger32:
		return readN(n, d.int)
	case typMVString, typMVString8:
		return readN(n, d.str)
	case typMVBinary:
		return readN(n, d.bin)
	}
	return nil, fmt.Errorf("property type %#04x has no OAB encoding", typ)
}

func readN[T any](n int, read func() (T, error)) ([]T, error) {
	out := make([]T, 0, n)
	for range n {
		v, err := read()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
