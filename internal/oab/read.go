package oab

import (
	"encoding/binary"
	"fmt"
)

// Details is a parsed OAB version 4 Full Details file.
type Details struct {
	Serial        uint32    // OAB_HDR.ulSerial, as found
	HeaderProps   []PropRec // the header record's schema
	ObjectProps   []PropRec // the object records' schema
	Name          string    // PidTagOfflineAddressBookName
	DN            string    // PidTagOfflineAddressBookDistinguishedName
	ContainerGUID string    // PidTagOfflineAddressBookContainerGuid
	Sequence      uint32    // PidTagOfflineAddressBookSequence
	Entries       []Entry
}

// Entry is one Address Book object record, with the properties this
// package knows by name; Props has every value of the record by tag.
type Entry struct {
	LegacyDN       string // PidTagEmailAddress
	DisplayName    string
	SMTPAddress    string
	Account        string
	ObjectType     uint32
	DisplayType    uint32
	ProxyAddresses []string
	ObjectGUID     []byte
	Props          map[uint32]any
}

// ParseDetails reads an uncompressed OAB version 4 Full Details file
// (MS-OXOAB section 2.9) and checks it against the section's layouts:
// the header's version, the metadata's size and property types, every
// record's size, its presence bits (unused bits zero), that its values
// fill it exactly, that primary key properties are on every record, and
// that the file holds ulTotRecs records and nothing after them.
func ParseDetails(b []byte) (*Details, error) {
	if len(b) < 16 {
		return nil, fmt.Errorf("oab: details file of %d bytes is shorter than OAB_HDR and OAB_META_DATA's size", len(b))
	}
	if v := binary.LittleEndian.Uint32(b); v != Version4Details {
		return nil, fmt.Errorf("oab: OAB_HDR.ulVersion %#x is not %#x (version 4 full details)", v, Version4Details)
	}
	d := &Details{Serial: binary.LittleEndian.Uint32(b[4:])}
	total := binary.LittleEndian.Uint32(b[8:])
	rest, err := d.parseMeta(b[12:])
	if err != nil {
		return nil, err
	}
	hdr, rest, err := parseRecord(rest, d.HeaderProps)
	if err != nil {
		return nil, fmt.Errorf("oab: header record: %w", err)
	}
	d.setHeader(hdr)
	// Every record is at least 4 bytes, which bounds the count.
	if uint64(total)*4 > uint64(len(rest)) {
		return nil, fmt.Errorf("oab: OAB_HDR.ulTotRecs %d records cannot fit in the %d bytes left", total, len(rest))
	}
	d.Entries = make([]Entry, 0, total)
	for i := range total {
		var vals map[uint32]any
		vals, rest, err = parseRecord(rest, d.ObjectProps)
		if err != nil {
			return nil, fmt.Errorf("oab: record %d: %w", i, err)
		}
		for _, p := range d.ObjectProps {
			if _, ok := vals[p.Tag]; p.Flags&FlagPrimaryKey != 0 && !ok {
				return nil, fmt.Errorf("oab: record %d lacks primary key property %#08x", i, p.Tag)
			}
		}
		d.Entries = append(d.Entries, entryOf(vals))
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("oab: %d bytes after the %d records OAB_HDR announces", len(rest), total)
	}
	return d, nil
}

// parseMeta reads OAB_META_DATA and returns what follows it.
func (d *Details) parseMeta(b []byte) ([]byte, error) {
	size := binary.LittleEndian.Uint32(b)
	if size < 12 || uint64(size) > uint64(len(b)) {
		return nil, fmt.Errorf("oab: OAB_META_DATA.cbSize %d is outside 12..%d", size, len(b))
	}
	meta := b[4:size]
	var err error
	if d.HeaderProps, meta, err = parsePropTable(meta, "rgHdrAtts"); err != nil {
		return nil, err
	}
	if d.ObjectProps, meta, err = parsePropTable(meta, "rgOabAtts"); err != nil {
		return nil, err
	}
	if len(meta) != 0 {
		return nil, fmt.Errorf("oab: %d bytes after the property tables in OAB_META_DATA", len(meta))
	}
	return b[size:], nil
}

// parsePropTable reads one OAB_PROP_TABLE (MS-OXOAB section 2.9.3).
func parsePropTable(b []byte, name string) ([]PropRec, []byte, error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("oab: %s: no cAtts", name)
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n)*8 > uint64(len(b)) {
		return nil, nil, fmt.Errorf("oab: %s: %d properties do not fit in %d bytes", name, n, len(b))
	}
	out := make([]PropRec, n)
	seen := make(map[uint32]bool, n)
	for i := range out {
		p := PropRec{Tag: binary.LittleEndian.Uint32(b[8*i:]), Flags: binary.LittleEndian.Uint32(b[8*i+4:])}
		if !validType(p.Tag) {
			return nil, nil, fmt.Errorf("oab: %s: property %#08x has a type OAB version 4 files cannot hold", name, p.Tag)
		}
		if seen[p.Tag] {
			return nil, nil, fmt.Errorf("oab: %s: property %#08x listed twice", name, p.Tag)
		}
		seen[p.Tag] = true
		out[i] = p
	}
	return out, b[8*n:], nil
}

// parseRecord reads one OAB_V4_REC of schema table and returns its values
// by tag and what follows it.
func parseRecord(b []byte, table []PropRec) (map[uint32]any, []byte, error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("no cbSize: %d bytes left", len(b))
	}
	size := binary.LittleEndian.Uint32(b)
	nbits := (len(table) + 7) / 8
	if uint64(size) < 4+uint64(nbits) || uint64(size) > uint64(len(b)) {
		return nil, nil, fmt.Errorf("cbSize %d is outside %d..%d", size, 4+nbits, len(b))
	}
	bits := b[4 : 4+nbits]
	if extra := len(table) % 8; extra != 0 && bits[nbits-1]&(0xFF>>extra) != 0 {
		return nil, nil, fmt.Errorf("unused bits of the presence bit array are set (%08b)", bits[nbits-1])
	}
	dec := decoder{b: b[4+nbits : size]}
	vals := make(map[uint32]any)
	for i, p := range table {
		if bits[i/8]&(0x80>>(i%8)) == 0 {
			continue
		}
		v, err := dec.value(p.Tag & typMask)
		if err != nil {
			return nil, nil, fmt.Errorf("property %#08x: %w", p.Tag, err)
		}
		vals[p.Tag] = v
	}
	if dec.off != len(dec.b) {
		return nil, nil, fmt.Errorf("%d bytes after the last value (cbSize %d)", len(dec.b)-dec.off, size)
	}
	return vals, b[size:], nil
}

func (d *Details) setHeader(v map[uint32]any) {
	d.Name, _ = v[TagOABName].(string)
	d.DN, _ = v[TagOABDN].(string)
	d.ContainerGUID, _ = v[TagOABContainerGUID].(string)
	d.Sequence, _ = v[TagOABSequence].(uint32)
}

func entryOf(v map[uint32]any) Entry {
	e := Entry{Props: v}
	e.LegacyDN, _ = v[TagEmailAddress].(string)
	e.DisplayName, _ = v[TagDisplayName].(string)
	e.SMTPAddress, _ = v[TagSMTPAddress].(string)
	e.Account, _ = v[TagAccount].(string)
	e.ObjectType, _ = v[TagObjectType].(uint32)
	e.DisplayType, _ = v[TagDisplayType].(uint32)
	e.ProxyAddresses, _ = v[TagProxyAddresses].([]string)
	e.ObjectGUID, _ = v[TagObjectGUID].([]byte)
	return e
}
