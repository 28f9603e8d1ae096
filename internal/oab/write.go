package oab

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/exsim/exsim/internal/nspi"
)

// Version4Details is OAB_HDR.ulVersion of an uncompressed OAB version 4
// Full Details file (MS-OXOAB section 2.9.1), also the ver attribute of
// the manifest's <Full> element.
const Version4Details = 0x20

// Book is one offline address list: the Global Address List as NSPI
// serves it, with the identity the manifest and the header record give it.
type Book struct {
	Name     string // the address list's name, `\Global Address List`
	DN       string // its distinguished name; "/" for the Global Address List
	GUID     string // its objectGUID, 8-4-4-4-12: the manifest's OAL id
	Sequence uint32 // the generation, 1 and up (PidTagOfflineAddressBookSequence)
	Entries  []nspi.Entry
}

// headerProps is the schema of the OAB header record.
var headerProps = []PropRec{
	{Tag: TagOABName}, {Tag: TagOABDN}, {Tag: TagOABSequence}, {Tag: TagOABContainerGUID},
}

// objectProps is the schema of the Address Book object records: what
// nspi.Entry holds. PidTagEmailAddress is the primary key (every entry has
// a legacyExchangeDN); names and addresses are ANR indexes, as Outlook
// resolves names online.
var objectProps = []PropRec{
	{Tag: TagEmailAddress, Flags: FlagPrimaryKey},
	{Tag: TagDisplayName, Flags: FlagANR},
	{Tag: TagSMTPAddress, Flags: FlagANR},
	{Tag: TagAccount, Flags: FlagANR},
	{Tag: TagObjectType},
	{Tag: TagDisplayType},
	{Tag: TagProxyAddresses},
	{Tag: TagObjectGUID},
}

// WriteDetails returns the uncompressed OAB version 4 Full Details file of
// b: OAB_HDR, OAB_META_DATA, the header record and one record per entry,
// in b.Entries' order. An entry without a legacyExchangeDN is an error: the
// primary key must be on every record.
func WriteDetails(b Book) ([]byte, error) {
	out := make([]byte, 12, 256+128*len(b.Entries))
	out = appendMeta(out)
	out = appendRecord(out, headerProps, []any{b.Name, b.DN, b.Sequence, b.GUID})
	for i, e := range b.Entries {
		if e.LegacyDN == "" {
			return nil, fmt.Errorf("oab: entry %d (%s) has no legacyExchangeDN", i, e.Address)
		}
		if len(out) > math.MaxUint32-(1<<20) {
			return nil, fmt.Errorf("oab: details file would exceed 4 GB at entry %d", i)
		}
		out = appendRecord(out, objectProps, entryValues(e))
	}
	binary.LittleEndian.PutUint32(out[0:], Version4Details)
	binary.LittleEndian.PutUint32(out[4:], serial(out[12:]))
	binary.LittleEndian.PutUint32(out[8:], uint32(len(b.Entries)))
	return out, nil
}

// serial is OAB_HDR.ulSerial. MS-OXOAB calls it a hash for consistency
// checks; for version 4 files it gives no algorithm that this package could
// find, so it is the section 2.1 CRC of everything after the header (the
// reader reports it and checks nothing against it).
func serial(rest []byte) uint32 { return crc(rest) }

// entryValues are e's values in objectProps' order; nil means absent.
func entryValues(e nspi.Entry) []any {
	v := []any{e.LegacyDN, e.DisplayName, e.Address, e.Alias, uint32(6), uint32(0), nil, e.GUID[:]}
	if len(e.ProxyAddresses) > 0 {
		v[6] = e.ProxyAddresses
	}
	for i, x := range v {
		if s, ok := x.(string); ok && s == "" {
			v[i] = nil
		}
	}
	if e.GUID == [16]byte{} {
		v[7] = nil
	}
	return v
}

// appendMeta appends OAB_META_DATA (MS-OXOAB section 2.9.2): its size, then
// the header and object property tables.
func appendMeta(b []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	for _, table := range [][]PropRec{headerProps, objectProps} {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(table)))
		for _, p := range table {
			b = binary.LittleEndian.AppendUint32(b, p.Tag)
			b = binary.LittleEndian.AppendUint32(b, p.Flags)
		}
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// appendRecord appends one OAB_V4_REC (MS-OXOAB section 2.9.5): cbSize,
// the presence bit array (first property in the most significant bit of
// the first byte), then the present values in table order.
func appendRecord(b []byte, table []PropRec, values []any) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	bits := len(b)
	b = append(b, make([]byte, (len(table)+7)/8)...)
	for i, p := range table {
		if values[i] == nil {
			continue
		}
		b[bits+i/8] |= 0x80 >> (i % 8)
		b = appendValue(b, p.Tag&typMask, values[i])
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// appendValue encodes v, which must have the Go type decoder.value returns
// for typ (the tables above are the only callers).
func appendValue(b []byte, typ uint32, v any) []byte {
	switch typ {
	case typInteger32:
		return appendInt(b, v.(uint32))
	case typBoolean:
		return append(b, byte(v.(uint32)))
	case typString, typString8:
		return appendString(b, v.(string))
	case typBinary:
		bin := v.([]byte)
		return append(appendInt(b, uint32(len(bin))), bin...)
	case typMVString, typMVString8:
		ss := v.([]string)
		b = appendInt(b, uint32(len(ss)))
		for _, s := range ss {
			b = appendString(b, s)
		}
		return b
	}
	panic(fmt.Sprintf("oab: no encoder for property type %#04x", typ)) // the tables name only the types above
}

// appendString appends a null-terminated string; a NUL inside s (which no
// directory value should hold) is dropped rather than cutting the value.
func appendString(b []byte, s string) []byte {
	return append(append(b, strings.ReplaceAll(s, "\x00", "")...), 0)
}
