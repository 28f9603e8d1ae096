package mapi

// Stat is the STAT of an address book position (MS-OXNSPI 2.2.8).
type Stat struct {
	SortType, ContainerID, CurrentRec uint32
	Delta                             int32
	NumPos, TotalRecs, CodePage       uint32
	TemplateLocale, SortLocale        uint32
}

func (s *Stat) Codec(c *Codec) {
	d := uint32(s.Delta)
	for _, p := range []*uint32{&s.SortType, &s.ContainerID, &s.CurrentRec, &d, &s.NumPos, &s.TotalRecs,
		&s.CodePage, &s.TemplateLocale, &s.SortLocale} {
		c.U32(p)
	}
	s.Delta = int32(d)
}

// optStat is a HasState byte and, when set, a STAT.
func (c *Codec) optStat(s **Stat) {
	has := *s != nil
	c.Bool(&has)
	if has {
		if *s == nil {
			*s = &Stat{}
		}
		(*s).Codec(c)
	}
}

// optTags is a Has* byte and, when set, a LargePropertyTagArray; nil
// means absent.
func (c *Codec) optTags(t *[]PropTag) {
	has := *t != nil
	c.Bool(&has)
	if has {
		c.Tags(t, true)
		if *t == nil {
			*t = []PropTag{}
		}
	} else if !c.enc {
		*t = nil
	}
}

// optMIDs is a HasMinimalIds byte and, when set, a counted array of
// minimal entry ids; nil means absent.
func (c *Codec) optMIDs(m *[]uint32) {
	has := *m != nil
	c.Bool(&has)
	if !has {
		return
	}
	n := uint32(len(*m))
	k := c.Count(&n, 4)
	if !c.enc {
		*m = make([]uint32, k)
	}
	for i := range *m {
		c.U32(&(*m)[i])
	}
}

// rows is a Has* byte and, when set, the columns, a row count and the
// AddressBookPropertyRows; cols nil means absent.
func (c *Codec) abRows(cols *[]PropTag, rows *[][]PropValue) {
	c.optTags(cols)
	if *cols == nil {
		return
	}
	n := uint32(len(*rows))
	k := c.Count(&n, 1)
	if !c.enc {
		*rows = make([][]PropValue, k)
	}
	for i := range *rows {
		c.ABRow(*cols, &(*rows)[i])
	}
}

// BindRequest is the NSPI Bind request body (MS-OXCMAPIHTTP 2.2.5.1.1).
type BindRequest struct {
	Flags uint32
	State *Stat
	Aux   []byte
}

func (r *BindRequest) Codec(c *Codec) {
	c.U32(&r.Flags)
	c.optStat(&r.State)
	c.Blob32(&r.Aux)
}

// BindResponse is the Bind response body (2.2.5.1.2).
type BindResponse struct {
	ErrorCode  ErrorCode
	ServerGUID [16]byte
	Aux        []byte
}

func (r *BindResponse) Codec(c *Codec) {
	if c.status(&r.ErrorCode) {
		c.Fixed(r.ServerGUID[:])
	}
	c.Blob32(&r.Aux)
}

// UnbindRequest is the Unbind request body (2.2.5.2.1); its response is
// a StatusResponse.
type UnbindRequest struct {
	Reserved uint32
	Aux      []byte
}

func (r *UnbindRequest) Codec(c *Codec) {
	c.U32(&r.Reserved)
	c.Blob32(&r.Aux)
}

// GetPropsRequest is the GetProps request body (2.2.5.7.1): the
// properties of the object State.CurrentRec names.
type GetPropsRequest struct {
	Flags uint32
	State *Stat
	Tags  []PropTag // nil: the server's default list
	Aux   []byte
}

func (r *GetPropsRequest) Codec(c *Codec) {
	c.U32(&r.Flags)
	c.optStat(&r.State)
	c.optTags(&r.Tags)
	c.Blob32(&r.Aux)
}

// GetPropsResponse is its response body (2.2.5.7.2).
type GetPropsResponse struct {
	ErrorCode ErrorCode
	CodePage  uint32
	Values    []PropValue // nil: absent
	Aux       []byte
}

func (r *GetPropsResponse) Codec(c *Codec) {
	if c.status(&r.ErrorCode) {
		c.U32(&r.CodePage)
		has := r.Values != nil
		c.Bool(&has)
		if has {
			c.ABValues(&r.Values)
		}
	}
	c.Blob32(&r.Aux)
}

// QueryRowsRequest is the NSPI QueryRows request body (2.2.5.8.1).
type ABQueryRowsRequest struct {
	Flags         uint32
	State         *Stat
	ExplicitTable []uint32
	RowCount      uint32
	Columns       []PropTag // nil: the server's default columns
	Aux           []byte
}

func (r *ABQueryRowsRequest) Codec(c *Codec) {
	c.U32(&r.Flags)
	c.optStat(&r.State)
	n := uint32(len(r.ExplicitTable))
	k := c.Count(&n, 4)
	if !c.enc {
		r.ExplicitTable = make([]uint32, k)
	}
	for i := range r.ExplicitTable {
		c.U32(&r.ExplicitTable[i])
	}
	c.U32(&r.RowCount)
	c.optTags(&r.Columns)
	c.Blob32(&r.Aux)
}

// ABQueryRowsResponse is its response body (2.2.5.8.2).
type ABQueryRowsResponse struct {
	ErrorCode ErrorCode
	State     *Stat
	Columns   []PropTag // nil: no rows
	Rows      [][]PropValue
	Aux       []byte
}

func (r *ABQueryRowsResponse) Codec(c *Codec) {
	if c.status(&r.ErrorCode) {
		c.optStat(&r.State)
		c.abRows(&r.Columns, &r.Rows)
	}
	c.Blob32(&r.Aux)
}

// ResolveNamesRequest is its request body (2.2.5.14.1).
type ResolveNamesRequest struct {
	Reserved uint32
	State    *Stat
	Tags     []PropTag // nil: the server's default columns
	Names    []string  // nil: absent
	Aux      []byte
}

func (r *ResolveNamesRequest) Codec(c *Codec) {
	c.U32(&r.Reserved)
	c.optStat(&r.State)
	c.optTags(&r.Tags)
	c.strings(&r.Names, true)
	c.Blob32(&r.Aux)
}

// strings is a Has* byte and, when set, a count and null-terminated
// strings (WStringsArray when wide, StringsArray otherwise).
func (c *Codec) strings(v *[]string, wide bool) {
	has := *v != nil
	c.Bool(&has)
	if !has {
		return
	}
	n := uint32(len(*v))
	k := c.Count(&n, 1)
	if !c.enc {
		*v = make([]string, k)
	}
	for i := range *v {
		if wide {
			c.UTF16Z(&(*v)[i])
		} else {
			c.ASCIIZ(&(*v)[i])
		}
	}
}

// Minimal entry ids ResolveNames answers per name (MS-OXNSPI 2.2.1.9).
const (
	MIDUnresolved = 0
	MIDAmbiguous  = 1
	MIDResolved   = 2
)

// ResolveNamesResponse is its response body (2.2.5.14.2): one minimal id
// per name and a row per resolved name.
type ResolveNamesResponse struct {
	ErrorCode ErrorCode
	CodePage  uint32
	MIDs      []uint32
	Columns   []PropTag
	Rows      [][]PropValue
	Aux       []byte
}

func (r *ResolveNamesResponse) Codec(c *Codec) {
	if c.status(&r.ErrorCode) {
		c.U32(&r.CodePage)
		c.optMIDs(&r.MIDs)
		c.abRows(&r.Columns, &r.Rows)
	}
	c.Blob32(&r.Aux)
}

// DNToMIdRequest is its request body (2.2.5.5.1).
type DNToMIdRequest struct {
	Reserved uint32
	Names    []string
	Aux      []byte
}

func (r *DNToMIdRequest) Codec(c *Codec) {
	c.U32(&r.Reserved)
	c.strings(&r.Names, false)
	c.Blob32(&r.Aux)
}

// DNToMIdResponse is its response body (2.2.5.5.2).
type DNToMIdResponse struct {
	ErrorCode ErrorCode
	MIDs      []uint32
	Aux       []byte
}

func (r *DNToMIdResponse) Codec(c *Codec) {
	if c.status(&r.ErrorCode) {
		c.optMIDs(&r.MIDs)
	}
	c.Blob32(&r.Aux)
}

// GetSpecialTableRequest is its request body (2.2.5.6.1).
type GetSpecialTableRequest struct {
	Flags   uint32
	State   *Stat
	Version *uint32
	Aux     []byte
}

func (r *GetSpecialTableRequest) Codec(c *Codec) {
	c.U32(&r.Flags)
	c.optStat(&r.State)
	c.optU32(&r.Version)
	c.Blob32(&r.Aux)
}

func (c *Codec) optU32(v **uint32) {
	has := *v != nil
	c.Bool(&has)
	if has {
		if *v == nil {
			*v = new(uint32)
		}
		c.U32(*v)
	}
}

// GetSpecialTableResponse is its response body (2.2.5.6.2): the address
// book hierarchy, one AddressBookPropertyValueList per container.
type GetSpecialTableResponse struct {
	ErrorCode ErrorCode
	CodePage  uint32
	Version   *uint32
	Rows      [][]PropValue // nil: absent
	Aux       []byte
}

func (r *GetSpecialTableResponse) Codec(c *Codec) {
	if c.status(&r.ErrorCode) {
		c.U32(&r.CodePage)
		c.optU32(&r.Version)
		has := r.Rows != nil
		c.Bool(&has)
		if has {
			n := uint32(len(r.Rows))
			k := c.Count(&n, 4)
			if !c.enc {
				r.Rows = make([][]PropValue, k)
			}
			for i := range r.Rows {
				c.ABValues(&r.Rows[i])
			}
		}
	}
	c.Blob32(&r.Aux)
}
