package mapi

import (
	"fmt"
	"time"
)

// Property types (MS-OXCDATA 2.11.1).
const (
	PtypUnspecified    = 0x0000
	PtypInteger16      = 0x0002
	PtypInteger32      = 0x0003
	PtypErrorCode      = 0x000A
	PtypBoolean        = 0x000B
	PtypInteger64      = 0x0014
	PtypString8        = 0x001E
	PtypString         = 0x001F
	PtypTime           = 0x0040
	PtypBinary         = 0x0102
	PtypMultiString8   = 0x101E
	PtypMultiString    = 0x101F
	PtypMultiInteger32 = 0x1003
)

// PropTag is a property tag: the id in the high 16 bits, the type in the
// low 16 (MS-OXCDATA 2.9).
type PropTag uint32

// Tag builds a tag from an id and a type.
func Tag(id, typ uint16) PropTag { return PropTag(uint32(id)<<16 | uint32(typ)) }

func (t PropTag) ID() uint16   { return uint16(t >> 16) }
func (t PropTag) Type() uint16 { return uint16(t) }

// WithType is t's id with another type.
func (t PropTag) WithType(typ uint16) PropTag { return Tag(t.ID(), typ) }

// Properties exsim's folders, messages and address book answer
// (MS-OXPROPS).
var (
	PidTagDisplayName          = Tag(0x3001, PtypString)
	PidTagSubject              = Tag(0x0037, PtypString)
	PidTagMessageDeliveryTime  = Tag(0x0E06, PtypTime)
	PidTagContentCount         = Tag(0x3602, PtypInteger32)
	PidTagContentUnreadCount   = Tag(0x3603, PtypInteger32)
	PidTagSubfolders           = Tag(0x360A, PtypBoolean)
	PidTagFolderID             = Tag(0x6748, PtypInteger64)
	PidTagMid                  = Tag(0x674A, PtypInteger64)
	PidTagParentFolderID       = Tag(0x6749, PtypInteger64)
	PidTagContainerClass       = Tag(0x3613, PtypString)
	PidTagMessageClass         = Tag(0x001A, PtypString)
	PidTagMessageSize          = Tag(0x0E08, PtypInteger32)
	PidTagMessageFlags         = Tag(0x0E07, PtypInteger32)
	PidTagSenderName           = Tag(0x0C1A, PtypString)
	PidTagSentRepresentingName = Tag(0x0042, PtypString)
	PidTagDisplayTo            = Tag(0x0E04, PtypString)
	PidTagEmailAddress         = Tag(0x3003, PtypString)
	PidTagSMTPAddress          = Tag(0x39FE, PtypString)
	PidTagAccount              = Tag(0x3A00, PtypString)
	PidTagAddressType          = Tag(0x3002, PtypString)
	PidTagObjectType           = Tag(0x0FFE, PtypInteger32)
	PidTagDisplayType          = Tag(0x3900, PtypInteger32)
	PidTagEntryID              = Tag(0x0FFF, PtypBinary)
	PidTagInstanceKey          = Tag(0x0FF6, PtypBinary)
)

// ErrorCode is the value of a PtypErrorCode property, or a MAPI return
// value (MS-OXCDATA 2.4).
type ErrorCode uint32

func (e ErrorCode) Error() string {
	if s, ok := errorNames[e]; ok {
		return fmt.Sprintf("%s (0x%08X)", s, uint32(e))
	}
	return fmt.Sprintf("MAPI error 0x%08X", uint32(e))
}

// MAPI error codes used here (MS-OXCDATA 2.4.1, 2.4.2).
const (
	Success          ErrorCode = 0
	ErrNotFound      ErrorCode = 0x8004010F
	ErrInvalidParam  ErrorCode = 0x80070057
	ErrNoSupport     ErrorCode = 0x80040102
	ErrNullObject    ErrorCode = 0x000004B9 // ecNullObject: the handle names no object
	ErrRpcFormat     ErrorCode = 0x000004B6 // ecRpcFormat: the ROP buffer is malformed
	ErrUnknownUser   ErrorCode = 0x000003EB // ecUnknownUser
	ErrLoginFailure  ErrorCode = 0x80040111 // ecLoginFailure
	ErrNotEncrypted  ErrorCode = 0x00000970 // ecNotEncrypted
	ErrTooBig        ErrorCode = 0x80040305 // MAPI_E_TABLE_TOO_BIG
	ErrBufferTooSmal ErrorCode = 0x0000047D // ecBufferTooSmall
	ErrInvalidObject ErrorCode = 0x80040108
	// ErrorsReturned is the warning of an NSPI call whose answer holds
	// PtypErrorCode values (MS-OXNSPI 2.2.1.2).
	ErrorsReturned ErrorCode = 0x00040380
)

var errorNames = map[ErrorCode]string{
	ErrNotFound: "MAPI_E_NOT_FOUND", ErrInvalidParam: "MAPI_E_INVALID_PARAMETER", ErrNoSupport: "MAPI_E_NO_SUPPORT",
	ErrNullObject: "ecNullObject", ErrRpcFormat: "ecRpcFormat", ErrUnknownUser: "ecUnknownUser",
	ErrLoginFailure: "ecLoginFailure", ErrNotEncrypted: "ecNotEncrypted", ErrTooBig: "MAPI_E_TABLE_TOO_BIG",
	ErrBufferTooSmal: "ecBufferTooSmall", ErrInvalidObject: "MAPI_E_INVALID_OBJECT", ErrorsReturned: "ErrorsReturned",
}

// PropValue is one property: Tag and a Go value of its type: int16,
// int32, int64, bool, string, []byte, time.Time, []string, []int32, or
// ErrorCode when Tag's type is PtypErrorCode.
type PropValue struct {
	Tag   PropTag
	Value any
}

// NotFound is the PtypErrorCode value a row holds for a property the
// object does not have.
func NotFound(t PropTag) PropValue {
	return PropValue{Tag: t.WithType(PtypErrorCode), Value: ErrNotFound}
}

// String returns v's value when it is a string.
func (v PropValue) String() string { s, _ := v.Value.(string); return s }

// Time returns v's value when it is a time.
func (v PropValue) Time() time.Time { t, _ := v.Value.(time.Time); return t }

// Int returns v's integer value (any width).
func (v PropValue) Int() int64 {
	switch x := v.Value.(type) {
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	}
	return 0
}

// ErrorValue returns the code of a PtypErrorCode value.
func (v PropValue) ErrorValue() (ErrorCode, bool) {
	e, ok := v.Value.(ErrorCode)
	return e, ok && v.Tag.Type() == PtypErrorCode
}

// epoch is FILETIME's zero, 1601-01-01 UTC.
var epoch = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)

// FileTime is t as a FILETIME (100 ns intervals since 1601).
func FileTime(t time.Time) uint64 {
	if t.IsZero() || t.Before(epoch) {
		return 0
	}
	return uint64(t.Unix()+11644473600)*10000000 + uint64(t.Nanosecond()/100)
}

// FromFileTime is the time of a FILETIME.
func FromFileTime(ft uint64) time.Time {
	return time.Unix(int64(ft/10000000)-11644473600, int64(ft%10000000)*100).UTC()
}

// valueForm is how a value is laid out: in a ROP (MS-OXCDATA 2.11.2) or
// in the address book bodies of MAPI/HTTP (MS-OXCMAPIHTTP 2.2.1.1, where
// strings, binaries and multi-values carry a HasValue byte and binary
// lengths are four bytes).
type valueForm int

const (
	formROP valueForm = iota
	formAB
)

// value runs the codec of one value of type typ.
func (c *Codec) value(typ uint16, v *any, form valueForm) {
	if form == formAB && hasValueByte(typ) {
		has := true
		if c.enc {
			has = *v != nil
		}
		c.Bool(&has)
		if !has {
			return
		}
	}
	switch typ {
	case PtypInteger16:
		x, _ := (*v).(int16)
		u := uint16(x)
		c.U16(&u)
		*v = int16(u)
	case PtypInteger32:
		x, _ := (*v).(int32)
		u := uint32(x)
		c.U32(&u)
		*v = int32(u)
	case PtypErrorCode:
		x, _ := (*v).(ErrorCode)
		u := uint32(x)
		c.U32(&u)
		*v = ErrorCode(u)
	case PtypBoolean:
		x, _ := (*v).(bool)
		var u uint8
		if x {
			u = 1
		}
		c.U8(&u)
		*v = u != 0
	case PtypInteger64:
		x, _ := (*v).(int64)
		u := uint64(x)
		c.U64(&u)
		*v = int64(u)
	case PtypTime:
		x, _ := (*v).(time.Time)
		u := FileTime(x)
		c.U64(&u)
		*v = FromFileTime(u)
	case PtypString:
		x, _ := (*v).(string)
		c.UTF16Z(&x)
		*v = x
	case PtypString8:
		x, _ := (*v).(string)
		c.ASCIIZ(&x)
		*v = x
	case PtypBinary:
		x, _ := (*v).([]byte)
		if form == formAB {
			c.Blob32(&x)
		} else {
			c.Blob16(&x)
		}
		*v = x
	case PtypMultiString, PtypMultiString8:
		x, _ := (*v).([]string)
		n := uint32(len(x))
		k := c.Count(&n, 1)
		if !c.enc {
			x = make([]string, k)
		}
		for i := range x {
			if typ == PtypMultiString {
				c.UTF16Z(&x[i])
			} else {
				c.ASCIIZ(&x[i])
			}
		}
		*v = x
	case PtypMultiInteger32:
		x, _ := (*v).([]int32)
		n := uint32(len(x))
		k := c.Count(&n, 4)
		if !c.enc {
			x = make([]int32, k)
		}
		for i := range x {
			u := uint32(x[i])
			c.U32(&u)
			x[i] = int32(u)
		}
		*v = x
	default:
		c.Fail(fmt.Errorf("mapi: property type 0x%04X not supported", typ))
	}
}

func hasValueByte(typ uint16) bool {
	return typ == PtypString || typ == PtypString8 || typ == PtypBinary || typ&0x1000 != 0
}

// Supported says whether the codec knows values of type typ.
func Supported(typ uint16) bool {
	switch typ {
	case PtypInteger16, PtypInteger32, PtypErrorCode, PtypBoolean, PtypInteger64, PtypTime,
		PtypString, PtypString8, PtypBinary, PtypMultiString, PtypMultiString8, PtypMultiInteger32:
		return true
	}
	return false
}

// Tags is a PropertyTagArray with a count of width 16 (ROPs) or 32 bits
// (LargePropertyTagArray, MAPI/HTTP address book bodies).
func (c *Codec) Tags(v *[]PropTag, large bool) {
	var k int
	if large {
		n := uint32(len(*v))
		k = c.Count(&n, 4)
	} else {
		n := uint16(len(*v))
		k = c.Count16(&n, 4)
	}
	if !c.enc {
		*v = make([]PropTag, k)
	}
	for i := range *v {
		u := uint32((*v)[i])
		c.U32(&u)
		(*v)[i] = PropTag(u)
	}
}

// Row flags of PropertyRow (MS-OXCDATA 2.8.1) and AddressBookPropertyRow
// (MS-OXCMAPIHTTP 2.2.1.7), and of their flagged values.
const (
	rowStandard   = 0x00
	rowFlagged    = 0x01
	valuePresent  = 0x00
	valueNotFound = 0x01
	valueError    = 0x0A
)

// Row runs the codec of one row of columns cols: a PropertyRow in a ROP,
// an AddressBookPropertyRow in MAPI/HTTP. A value whose tag has type
// PtypErrorCode where the column has another type makes the row flagged.
func (c *Codec) row(cols []PropTag, row *[]PropValue, form valueForm) {
	flag := uint8(rowStandard)
	if c.enc {
		if len(*row) != len(cols) {
			c.Fail(fmt.Errorf("mapi: row of %d values for %d columns", len(*row), len(cols)))
			return
		}
		for i, v := range *row {
			if v.Tag != cols[i] {
				flag = rowFlagged
			}
		}
	}
	c.U8(&flag)
	if flag != rowStandard && flag != rowFlagged {
		c.Fail(fmt.Errorf("mapi: row flag 0x%02X", flag))
		return
	}
	if !c.enc {
		*row = make([]PropValue, len(cols))
	}
	for i, col := range cols {
		p := &(*row)[i]
		if flag == rowFlagged {
			vf := uint8(valuePresent)
			if c.enc && p.Tag != col {
				vf = valueError
			}
			c.U8(&vf)
			switch vf {
			case valuePresent:
			case valueNotFound:
				*p = NotFound(col)
				continue
			case valueError:
				p.Tag = col.WithType(PtypErrorCode)
				c.value(PtypErrorCode, &p.Value, form)
				continue
			default:
				c.Fail(fmt.Errorf("mapi: value flag 0x%02X", vf))
				return
			}
		}
		p.Tag = col
		c.value(col.Type(), &p.Value, form)
	}
}

// Row is the PropertyRow of a ROP (RopQueryRows).
func (c *Codec) Row(cols []PropTag, row *[]PropValue) { c.row(cols, row, formROP) }

// ABRow is an AddressBookPropertyRow (MS-OXCMAPIHTTP 2.2.1.7).
func (c *Codec) ABRow(cols []PropTag, row *[]PropValue) { c.row(cols, row, formAB) }

// ABValues is an AddressBookPropertyValueList (MS-OXCMAPIHTTP 2.2.1.3):
// a count and tagged values.
func (c *Codec) ABValues(v *[]PropValue) {
	n := uint32(len(*v))
	k := c.Count(&n, 5)
	if !c.enc {
		*v = make([]PropValue, k)
	}
	for i := range *v {
		p := &(*v)[i]
		typ, id := p.Tag.Type(), p.Tag.ID()
		c.U16(&typ)
		c.U16(&id)
		p.Tag = Tag(id, typ)
		c.value(typ, &p.Value, formAB)
	}
}
