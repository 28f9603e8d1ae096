package nspi

import (
	"context"
	"fmt"
	"unicode/utf16"
)

// The client side of the operations a connectivity test needs: NspiBind,
// NspiUpdateStat, NspiQueryRows with string columns, NspiUnbind (MS-NSPI
// section 3.1.4.1, NDR 2.0 as in section 2.3). It runs over any
// association that carries calls (Caller), so it tests any Exchange, not
// only this package's Server.

// Caller runs one RPC call on a bound NSPI presentation context and
// returns the response stub.
type Caller interface {
	Call(ctx context.Context, opnum uint16, stub []byte) ([]byte, error)
}

// Handle is an NSPI context handle.
type Handle [20]byte

// CodePageUnicode is the STAT code page of a Unicode client (CP_WINUNICODE,
// MS-OXNSPI section 2.2.1.3).
const CodePageUnicode = 0x04B0

// ResultError is an NSPI call that returned a failure code.
type ResultError struct {
	Op   string
	Code uint32
}

func (e *ResultError) Error() string { return fmt.Sprintf("nspi: %s returned %#08x", e.Op, e.Code) }

// clientStat is the STAT of a Unicode client at the beginning of the
// Global Address List (en-US locales).
func clientStat() Stat {
	return Stat{CurrentRec: MIDBeginningOfTable, CodePage: CodePageUnicode, TemplateLocale: 0x0409, SortLocale: 0x0409}
}

// Bind is NspiBind with a Unicode STAT; it returns the context handle.
func Bind(ctx context.Context, c Caller) (Handle, error) {
	var w writer
	w.u32(0) // dwFlags
	w.stat(clientStat())
	w.u32(0) // pServerGuid NULL
	out, err := c.Call(ctx, opBind, w.b)
	if err != nil {
		return Handle{}, err
	}
	r := &reader{b: out}
	if r.u32() != 0 { // pServerGuid
		r.bytes(16)
	}
	h := Handle(r.handle())
	code := r.u32()
	if r.err != nil {
		return Handle{}, fmt.Errorf("nspi: NspiBind answer: %w", r.err)
	}
	if code != 0 {
		return Handle{}, &ResultError{"NspiBind", code}
	}
	return h, nil
}

// UpdateStat is NspiUpdateStat from the beginning of the Global Address
// List: its STAT holds the number of entries (TotalRecs).
func UpdateStat(ctx context.Context, c Caller, h Handle) (Stat, error) {
	var w writer
	w.b = append(w.b, h[:]...)
	w.u32(0) // Reserved
	w.stat(clientStat())
	w.u32(0) // plDelta NULL
	out, err := c.Call(ctx, opUpdateStat, w.b)
	if err != nil {
		return Stat{}, err
	}
	r := &reader{b: out}
	st := r.stat()
	if r.u32() != 0 { // plDelta
		r.u32()
	}
	code := r.u32()
	if r.err != nil {
		return Stat{}, fmt.Errorf("nspi: NspiUpdateStat answer: %w", r.err)
	}
	if code != 0 {
		return Stat{}, &ResultError{"NspiUpdateStat", code}
	}
	return st, nil
}

// Column tags a client asks for in Unicode.
const (
	TagDisplayName = pidDisplayName<<16 | ptypString
	TagSMTPAddress = pidSMTPAddress<<16 | ptypString
)

// QueryRows is NspiQueryRows of count rows from the beginning of the
// Global Address List with string columns (PtypString or PtypString8
// tags). A value the server does not have is "".
func QueryRows(ctx context.Context, c Caller, h Handle, count int, tags ...uint32) ([][]string, error) {
	var w writer
	w.b = append(w.b, h[:]...)
	w.u32(0) // dwFlags
	w.stat(clientStat())
	w.u32(0) // dwETableCount
	w.u32(0) // lpETable NULL
	w.u32(uint32(count))
	w.ptr()
	w.tags(tags)
	out, err := c.Call(ctx, opQueryRows, w.b)
	if err != nil {
		return nil, err
	}
	r := &reader{b: out}
	r.stat()
	var rows [][]string
	if r.u32() != 0 {
		rows = r.stringRows()
	}
	code := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("nspi: NspiQueryRows answer: %w", r.err)
	}
	if code != 0 {
		return nil, &ResultError{"NspiQueryRows", code}
	}
	return rows, nil
}

// Unbind is NspiUnbind; Exchange answers 1 (UNBIND_SUCCESS).
func Unbind(ctx context.Context, c Caller, h Handle) error {
	var w writer
	w.b = append(w.b, h[:]...)
	w.u32(0) // Reserved
	out, err := c.Call(ctx, opUnbind, w.b)
	if err != nil {
		return err
	}
	r := &reader{b: out}
	r.handle()
	code := r.u32()
	if r.err != nil {
		return fmt.Errorf("nspi: NspiUnbind answer: %w", r.err)
	}
	if code != 1 && code != 0 {
		return &ResultError{"NspiUnbind", code}
	}
	return nil
}

// stringRows reads the referent of a PropertyRowSet_r whose values are
// strings, 32-bit integers or error codes (the last two read as "").
func (r *reader) stringRows() [][]string {
	r.u32() // conformance
	n := int(r.u32())
	if n > maxValues || r.err != nil {
		r.fail()
		return nil
	}
	counts := make([]int, n)
	for i := range counts {
		r.u32() // ulAdrEntryPad
		counts[i] = int(r.u32())
		r.u32() // lpProps
	}
	rows := make([][]string, n)
	for i, c := range counts {
		if int(r.u32()) != c || c > maxValues || r.err != nil {
			r.fail()
			return nil
		}
		types := make([]uint32, c)
		ptrs := make([]bool, c)
		for j := range c {
			r.u32() // ulPropTag
			r.u32() // ulReserved
			types[j] = r.u32()
			switch types[j] {
			case ptypString, ptypString8:
				ptrs[j] = r.u32() != 0
			case ptypInteger32, ptypError:
				r.u32()
			default:
				r.fail()
				return nil
			}
		}
		rows[i] = make([]string, c)
		for j := range c {
			if ptrs[j] {
				rows[i][j] = r.str(types[j] == ptypString)
			}
		}
	}
	return rows
}

// str reads the referent of an LPWSTR (wide) or LPSTR without its null.
func (r *reader) str(wide bool) string {
	r.u32() // maximum count
	r.u32() // offset
	n := int(r.u32())
	size := 1
	if wide {
		size = 2
	}
	b := r.bytes(n * size)
	if r.err != nil {
		return ""
	}
	if !wide {
		return string(trimNull(b))
	}
	u := make([]uint16, n)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	for len(u) > 0 && u[len(u)-1] == 0 {
		u = u[:len(u)-1]
	}
	return string(utf16.Decode(u))
}

func trimNull(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
