package nspi

import (
	"encoding/binary"
	"strings"
	"time"
)

// Property types (MS-OXCDATA section 2.11.1).
const (
	ptypInteger32 = 0x0003
	ptypBoolean   = 0x000B
	ptypError     = 0x000A
	ptypString8   = 0x001E
	ptypString    = 0x001F
	ptypTime      = 0x0040
	ptypBinary    = 0x0102
	ptypMVString8 = 0x101E
	ptypMVString  = 0x101F
)

// Property ids this address book answers (MS-OXPROPS; the PR_EMS_AB_*
// ids are those of MS-OXOABK section 2.2).
const (
	pidInstanceKey     = 0x0FF6
	pidEntryID         = 0x0FFF
	pidObjectType      = 0x0FFE
	pidDisplayName     = 0x3001
	pidAddressType     = 0x3002
	pidEmailAddress    = 0x3003
	pidCreationTime    = 0x3007
	pidLastModified    = 0x3008
	pidDepth           = 0x3005
	pidContainerFlags  = 0x3600
	pidDisplayType     = 0x3900
	pidSMTPAddress     = 0x39FE
	pidAccount         = 0x3A00
	pidTransmittable   = 0x3A20
	pidProxyAddresses  = 0x800F
	pidObjectGUID      = 0x8C6D
	pidContainerID     = 0xFFFD
	errNotFound        = 0x8004010F // MAPI_E_NOT_FOUND (MS-OXCDATA section 2.4.2)
	objectTypeMailUser = 6          // MAPI_MAILUSER
	objectTypeABCont   = 4          // MAPI_ABCONT
)

// Container flags of the hierarchy table (MS-OXNSPI section 2.2.7).
const (
	abRecipients   = 0x1
	abUnmodifiable = 0x8
)

// guidNSPI is the ProviderUID of permanent entry ids (MS-OXNSPI section
// 2.2.9.1, C840A7DC-42C0-1A10-B4B9-08002B2FE182 in wire order).
var guidNSPI = [16]byte{0xdc, 0xa7, 0x40, 0xc8, 0xc0, 0x42, 0x10, 0x1a, 0xb4, 0xb9, 0x08, 0x00, 0x2b, 0x2f, 0xe1, 0x82}

// value is one property value of a row.
type value struct {
	tag  uint32
	i    int32
	s    string
	ms   []string
	bin  []byte
	ft   time.Time
	errc uint32
}

// property returns entry e's value of tag, converted to the type the
// client asked for where Exchange converts (strings), or a PtypErrorCode
// MAPI_E_NOT_FOUND.
func (e *Entry) property(tag uint32, mid uint32) value {
	id, typ := tag>>16, tag&0xffff
	str := func(s string) value {
		if s == "" || (typ != ptypString && typ != ptypString8) {
			return notFound(id)
		}
		return value{tag: tag, s: s}
	}
	switch id {
	case pidDisplayName, pidTransmittable:
		return str(e.DisplayName)
	case pidAccount:
		return str(e.Alias)
	case pidSMTPAddress:
		return str(e.Address)
	case pidEmailAddress:
		return str(e.LegacyDN)
	case pidAddressType:
		return str("EX")
	case pidObjectType:
		return intValue(tag, typ, objectTypeMailUser)
	case pidDisplayType:
		return intValue(tag, typ, 0) // DT_MAILUSER
	case pidInstanceKey:
		if typ == ptypBinary {
			return value{tag: tag, bin: binary.LittleEndian.AppendUint32(nil, mid)}
		}
	case pidEntryID:
		if typ == ptypBinary {
			return value{tag: tag, bin: permanentEntryID(0, e.LegacyDN)}
		}
	case pidObjectGUID:
		if typ == ptypBinary {
			return value{tag: tag, bin: append([]byte(nil), e.GUID[:]...)}
		}
	case pidCreationTime, pidLastModified:
		if typ == ptypTime && !e.Created.IsZero() {
			return value{tag: tag, ft: e.Created}
		}
	case pidProxyAddresses:
		if (typ == ptypMVString || typ == ptypMVString8) && len(e.ProxyAddresses) > 0 {
			return value{tag: tag, ms: e.ProxyAddresses}
		}
	}
	return notFound(id)
}

func intValue(tag, typ uint32, v int32) value {
	if typ != ptypInteger32 {
		return notFound(tag >> 16)
	}
	return value{tag: tag, i: v}
}

func notFound(id uint32) value { return value{tag: id<<16 | ptypError, errc: errNotFound} }

// permanentEntryID is a PermanentEntryID (MS-OXNSPI section 2.2.9.3).
func permanentEntryID(displayType uint32, dn string) []byte {
	b := []byte{0, 0, 0, 0}
	b = append(b, guidNSPI[:]...)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, displayType)
	b = append(b, strings.ToUpper(dn)...)
	return append(b, 0)
}

// fileTime is a FILETIME: 100 ns intervals since 1601-01-01 UTC.
func fileTime(t time.Time) uint64 {
	return uint64(t.UTC().Sub(time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)) / 100)
}

// writeRows writes the referent of a PropertyRowSet_r (MS-NSPI section
// 2.3.3): the rows, then every row's property array, then the pointers'
// referents of each array.
func (w *writer) rows(rows [][]value) {
	w.u32(uint32(len(rows))) // conformance of aRow
	w.u32(uint32(len(rows))) // cRows
	for _, r := range rows {
		w.u32(0) // ulAdrEntryPad
		w.u32(uint32(len(r)))
		w.ptr()
	}
	for _, r := range rows {
		w.u32(uint32(len(r)))
		for _, v := range r {
			w.u32(v.tag)
			w.u32(0) // ulReserved
			w.u32(v.tag & 0xffff)
			switch v.tag & 0xffff {
			case ptypInteger32:
				w.u32(uint32(v.i))
			case ptypBoolean:
				w.u16(uint16(v.i))
			case ptypError:
				w.u32(v.errc)
			case ptypString, ptypString8:
				w.ptr()
			case ptypBinary:
				w.u32(uint32(len(v.bin)))
				w.ptr()
			case ptypMVString, ptypMVString8:
				w.u32(uint32(len(v.ms)))
				w.ptr()
			case ptypTime:
				ft := fileTime(v.ft)
				w.u32(uint32(ft))
				w.u32(uint32(ft >> 32))
			}
		}
		for _, v := range r {
			switch v.tag & 0xffff {
			case ptypString:
				w.wstring(v.s)
			case ptypString8:
				w.astring(v.s)
			case ptypBinary:
				w.binary(v.bin)
			case ptypMVString, ptypMVString8:
				w.u32(uint32(len(v.ms)))
				for range v.ms {
					w.ptr()
				}
				for _, s := range v.ms {
					if v.tag&0xffff == ptypMVString {
						w.wstring(s)
					} else {
						w.astring(s)
					}
				}
			}
		}
	}
}
