package nspi

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/exsim/exsim/internal/mapi"
)

// Book is the address book as one call sees it (sorted, with its minimal
// entry ids), for the encodings of NSPI other than NDR: MAPI over HTTP
// (servers/httpd) reads rows here and writes them with internal/mapi.
type Book struct{ t table }

// Book reads the address book.
func (s *Server) Book(ctx context.Context) (*Book, error) {
	entries, err := s.book(ctx)
	if err != nil {
		return nil, fmt.Errorf("nspi: address book: %w", err)
	}
	entries = slices.Clone(entries)
	SortEntries(entries)
	return &Book{t: table(entries)}, nil
}

// ServerGUID is the GUID NspiBind returns.
func (s *Server) ServerGUID() [16]byte { return s.serverGUID }

// Len is the number of entries.
func (b *Book) Len() int { return len(b.t) }

// DefaultColumns are the columns of a QueryRows or ResolveNames that
// names none.
func (b *Book) DefaultColumns() []mapi.PropTag {
	out := make([]mapi.PropTag, len(defaultColumns))
	for i, t := range defaultColumns {
		out[i] = mapi.PropTag(t)
	}
	return out
}

// Row is the row of minimal entry id mid with columns tags; a property
// the entry lacks (or an unknown mid) is PtypErrorCode MAPI_E_NOT_FOUND.
func (b *Book) Row(mid uint32, tags []mapi.PropTag) []mapi.PropValue {
	raw := make([]uint32, len(tags))
	for i, t := range tags {
		raw[i] = uint32(t)
	}
	vals := b.t.row(mid, raw)
	out := make([]mapi.PropValue, len(vals))
	for i, v := range vals {
		out[i] = v.prop()
	}
	return out
}

// prop is v as a mapi.PropValue.
func (v value) prop() mapi.PropValue {
	t := mapi.PropTag(v.tag)
	var x any
	switch v.tag & 0xffff {
	case ptypInteger32:
		x = v.i
	case ptypBoolean:
		x = v.i != 0
	case ptypError:
		x = mapi.ErrorCode(v.errc)
	case ptypString, ptypString8:
		x = v.s
	case ptypBinary:
		x = v.bin
	case ptypMVString, ptypMVString8:
		x = v.ms
	case ptypTime:
		x = v.ft
	}
	return mapi.PropValue{Tag: t, Value: x}
}

// Rows returns count rows from st's position and moves st past them
// (NspiQueryRows without an explicit table); ok is false for a STAT
// naming another container or an unknown position.
func (b *Book) Rows(st *mapi.Stat, count int) (mids []uint32, ok bool) {
	if st.ContainerID != 0 {
		return nil, false
	}
	pos, _, ok := b.t.position(*st)
	if !ok {
		return nil, false
	}
	end := min(pos+count, len(b.t))
	for i := pos; i < end; i++ {
		mids = append(mids, b.t.mid(i))
	}
	b.t.setPosition(st, end)
	return mids, true
}

// Resolve is ambiguous name resolution of one name (MS-OXNSPI
// 3.1.4.1.17): an exact SMTP address, alias, display name or DN, else a
// prefix of a display name or alias. It returns MIDResolved with the
// entry's minimal id, MIDAmbiguous or MIDUnresolved.
func (b *Book) Resolve(name string) (result, mid uint32) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "smtp:")
	if n == "" {
		return mapi.MIDUnresolved, 0
	}
	var exact, prefix []int
	for i, e := range b.t {
		switch {
		case strings.EqualFold(e.Address, n), strings.EqualFold(e.Alias, n), strings.EqualFold(e.DisplayName, n),
			strings.EqualFold(e.LegacyDN, n):
			exact = append(exact, i)
		case strings.HasPrefix(strings.ToLower(e.DisplayName), n), strings.HasPrefix(strings.ToLower(e.Alias), n):
			prefix = append(prefix, i)
		}
	}
	if len(exact) == 0 {
		exact = prefix
	}
	switch len(exact) {
	case 0:
		return mapi.MIDUnresolved, 0
	case 1:
		return mapi.MIDResolved, b.t.mid(exact[0])
	}
	return mapi.MIDAmbiguous, 0
}

// MIDOfDN is the minimal id of the entry whose legacyExchangeDN is dn,
// or 0 (NspiDNToMId).
func (b *Book) MIDOfDN(dn string) uint32 {
	for i, e := range b.t {
		if strings.EqualFold(e.LegacyDN, dn) {
			return b.t.mid(i)
		}
	}
	return 0
}

// Hierarchy is the address book hierarchy table (NspiGetSpecialTable):
// the Global Address List alone.
func (b *Book) Hierarchy() [][]mapi.PropValue {
	row := make([]mapi.PropValue, 0, 3)
	for _, v := range galRow() {
		row = append(row, v.prop())
	}
	return [][]mapi.PropValue{row}
}
