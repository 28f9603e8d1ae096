package nspi

// MAPI error codes NSPI returns (MS-OXNSPI section 2.2.1.2).
const (
	errInvalidBookmark = 0x80040405 // MAPI_E_INVALID_BOOKMARK: unknown container or position
	errTooBig          = 0x80040305 // MAPI_E_TABLE_TOO_BIG
	maxETable          = 100000
	maxValues          = 1 << 20 // values one NspiQueryRows returns at most
)

// table is the Global Address List of one call, sorted.
type table []Entry

func (t table) mid(i int) uint32 { return uint32(firstMID + i) }

// index returns the position of minimal entry id mid, or -1.
func (t table) index(mid uint32) int {
	if mid < firstMID || int(mid-firstMID) >= len(t) {
		return -1
	}
	return int(mid - firstMID)
}

// position applies a STAT's CurrentRec and Delta (MS-OXNSPI section
// 3.1.4.5): the position of the current row, len(t) past the end, and the
// rows actually moved.
func (t table) position(st Stat) (pos int, moved int32, ok bool) {
	switch st.CurrentRec {
	case MIDBeginningOfTable:
		pos = 0
	case MIDEndOfTable:
		pos = len(t)
	default:
		if pos = t.index(st.CurrentRec); pos < 0 {
			return 0, 0, false
		}
	}
	target := min(max(pos+int(st.Delta), 0), len(t))
	return target, int32(target - pos), true
}

// setPosition writes pos back into st.
func (t table) setPosition(st *Stat, pos int) {
	st.CurrentRec = MIDEndOfTable
	if pos < len(t) {
		st.CurrentRec = t.mid(pos)
	}
	st.NumPos, st.TotalRecs, st.Delta = uint32(pos), uint32(len(t)), 0
}

// updateStat is NspiUpdateStat (section 3.1.4.1.5).
func (t table) updateStat(r *reader, w *writer) {
	r.u32() // Reserved
	st := r.stat()
	wantDelta := r.u32() != 0
	if wantDelta {
		r.u32()
	}
	if r.err != nil {
		return
	}
	code := uint32(0)
	var moved int32
	if st.ContainerID != 0 {
		code = errInvalidBookmark
	} else if pos, m, ok := t.position(st); ok {
		moved = m
		t.setPosition(&st, pos)
	} else {
		code = errInvalidBookmark
	}
	w.stat(st)
	if wantDelta {
		w.ptr()
		w.u32(uint32(moved))
	} else {
		w.u32(0)
	}
	w.u32(code)
}

// defaultColumns are the columns of NspiQueryRows without pPropTags
// (MS-OXNSPI section 3.1.4.1.8 lists Exchange's; this server returns
// those it has: the names and types).
var defaultColumns = []uint32{pidObjectType<<16 | ptypInteger32, pidDisplayType<<16 | ptypInteger32,
	pidDisplayName<<16 | ptypString8, pidEmailAddress<<16 | ptypString8}

// queryRows is NspiQueryRows (section 3.1.4.1.8): the rows of an explicit
// table of minimal entry ids, or Count rows from the STAT's position.
func (t table) queryRows(r *reader, w *writer) {
	r.u32() // dwFlags: fSkipObjects and fEphID change nothing here
	st := r.stat()
	r.u32() // dwETableCount
	var etable []uint32
	hasETable := r.u32() != 0
	if hasETable {
		etable = r.u32Array(maxETable)
	}
	count := int(r.u32())
	tags := defaultColumns
	if r.u32() != 0 {
		tags = r.tagArray()
	}
	if r.err != nil {
		return
	}
	var rows [][]value
	code := uint32(0)
	switch {
	case len(etable)*max(len(tags), 1) > maxValues:
		code = errTooBig
	case hasETable:
		for _, mid := range etable {
			rows = append(rows, t.row(mid, tags))
		}
	case st.ContainerID != 0:
		code = errInvalidBookmark
	default:
		pos, _, ok := t.position(st)
		if !ok {
			code = errInvalidBookmark
			break
		}
		end := min(pos+count, len(t))
		for i := pos; i < end; i++ {
			rows = append(rows, t.row(t.mid(i), tags))
		}
		t.setPosition(&st, end)
	}
	w.stat(st)
	if code != 0 {
		w.u32(0)
	} else {
		w.ptr()
		w.rows(rows)
	}
	w.u32(code)
}

// row is the row of mid with the columns tags.
func (t table) row(mid uint32, tags []uint32) []value {
	i := t.index(mid)
	out := make([]value, 0, len(tags))
	for _, tag := range tags {
		if i < 0 {
			out = append(out, notFound(tag>>16))
			continue
		}
		out = append(out, t[i].property(tag, mid))
	}
	return out
}

// specialTable is NspiGetSpecialTable (section 3.1.4.1.3): the address
// book hierarchy table, which holds the Global Address List alone.
func (t table) specialTable(r *reader, w *writer) {
	r.u32()           // dwFlags: NspiUnicodeStrings changes nothing, the GAL's row has no string
	if r.u32() != 0 { // pStat
		r.stat()
	}
	var version uint32
	if r.u32() != 0 { // lpVersion
		version = r.u32()
	}
	if r.err != nil {
		return
	}
	w.u32(version)
	w.ptr()
	w.rows([][]value{galRow()})
	w.u32(0)
}

// galRow is the hierarchy table's row of the Global Address List.
func galRow() []value {
	return []value{
		{tag: pidContainerID<<16 | ptypInteger32, i: 0},
		{tag: pidContainerFlags<<16 | ptypInteger32, i: abRecipients | abUnmodifiable},
		{tag: pidDepth<<16 | ptypInteger32, i: 0},
	}
}

// columns are the properties NspiQueryColumns lists: those Entry has.
var columns = []uint32{
	pidDisplayName<<16 | ptypString, pidAccount<<16 | ptypString, pidSMTPAddress<<16 | ptypString,
	pidEmailAddress<<16 | ptypString, pidAddressType<<16 | ptypString, pidObjectType<<16 | ptypInteger32,
	pidDisplayType<<16 | ptypInteger32, pidEntryID<<16 | ptypBinary, pidInstanceKey<<16 | ptypBinary,
	pidObjectGUID<<16 | ptypBinary, pidCreationTime<<16 | ptypTime, pidLastModified<<16 | ptypTime,
	pidProxyAddresses<<16 | ptypMVString, pidTransmittable<<16 | ptypString,
}

// queryColumns is NspiQueryColumns (section 3.1.4.1.12).
func (t table) queryColumns(r *reader, w *writer) {
	r.u32() // Reserved
	r.u32() // dwFlags
	if r.err != nil {
		return
	}
	w.ptr()
	w.tags(columns)
	w.u32(0)
}
