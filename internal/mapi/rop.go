package mapi

import "fmt"

// ROP ids (MS-OXCROPS 2.2.1).
const (
	RopIDRelease           = 0x01
	RopIDOpenFolder        = 0x02
	RopIDGetHierarchyTable = 0x04
	RopIDGetContentsTable  = 0x05
	RopIDSetColumns        = 0x12
	RopIDQueryRows         = 0x15
	RopIDLogon             = 0xFE
)

// ROP is one remote operation request or response.
type ROP interface {
	Body
	RopID() uint8
}

// Logon flags and open flags (MS-OXCROPS 2.2.3.1.1, the values of
// MS-OXCSTOR 2.2.1.1.2). A private logon without
// OpenUsePerMDBReplIDMapping is refused by Exchange with
// ecInvalidParameter (MS-OXCSTOR 3.2.5.1.3).
const (
	LogonPrivate               = 0x01
	OpenUseAdminPrivilege      = 0x00000001
	OpenPublic                 = 0x00000002
	OpenHomeLogon              = 0x00000004
	OpenTakeOwnership          = 0x00000008
	OpenNoMail                 = 0x00000400
	OpenUsePerMDBReplIDMapping = 0x01000000
)

// Special folders of a private mailbox logon, in the order of
// RopLogon's FolderIds (MS-OXCROPS 2.2.3.1.2).
const (
	FolderRoot = iota
	FolderDeferredAction
	FolderSpoolerQueue
	FolderIPMSubtree
	FolderInbox
	FolderOutbox
	FolderSentItems
	FolderDeletedItems
	FolderCommonViews
	FolderSchedule
	FolderSearch
	FolderViews
	FolderShortcuts
	NumSpecialFolders
)

// LogonRequest is RopLogon (MS-OXCROPS 2.2.3.1.1).
type LogonRequest struct {
	LogonID, OutputHandleIndex, LogonFlags uint8
	OpenFlags, StoreState                  uint32
	Essdn                                  string
}

func (*LogonRequest) RopID() uint8 { return RopIDLogon }
func (r *LogonRequest) Codec(c *Codec) {
	c.U8(&r.LogonID)
	c.U8(&r.OutputHandleIndex)
	c.U8(&r.LogonFlags)
	c.U32(&r.OpenFlags)
	c.U32(&r.StoreState)
	// EssdnSize counts the terminating null (0 for none).
	n := uint16(0)
	if r.Essdn != "" {
		n = uint16(len(r.Essdn) + 1)
	}
	k := c.Count16(&n, 1)
	if c.enc {
		if k > 0 {
			c.ASCIIZ(&r.Essdn)
		}
		return
	}
	if p := c.take(k); k > 0 && p != nil {
		if p[k-1] != 0 {
			c.Fail(fmt.Errorf("mapi: RopLogon Essdn not terminated"))
			return
		}
		r.Essdn = string(p[:k-1])
	}
}

// LogonTime is the LogonTime of a RopLogon response.
type LogonTime struct {
	Seconds, Minutes, Hour, DayOfWeek, Day, Month uint8
	Year                                          uint16
}

// LogonResponse is RopLogon's response for a private mailbox
// (MS-OXCROPS 2.2.3.1.2); when ReturnValue is not 0 only the first two
// fields go on the wire.
type LogonResponse struct {
	OutputHandleIndex uint8
	ReturnValue       ErrorCode
	LogonFlags        uint8
	FolderIDs         [NumSpecialFolders]uint64
	ResponseFlags     uint8
	MailboxGUID       [16]byte
	ReplID            uint16
	ReplGUID          [16]byte
	LogonTime         LogonTime
	GwartTime         uint64
	StoreState        uint32
}

func (*LogonResponse) RopID() uint8 { return RopIDLogon }
func (r *LogonResponse) Codec(c *Codec) {
	if !respHead(c, &r.OutputHandleIndex, &r.ReturnValue) {
		return
	}
	c.U8(&r.LogonFlags)
	for i := range r.FolderIDs {
		c.U64(&r.FolderIDs[i])
	}
	c.U8(&r.ResponseFlags)
	c.Fixed(r.MailboxGUID[:])
	c.U16(&r.ReplID)
	c.Fixed(r.ReplGUID[:])
	t := &r.LogonTime
	for _, p := range []*uint8{&t.Seconds, &t.Minutes, &t.Hour, &t.DayOfWeek, &t.Day, &t.Month} {
		c.U8(p)
	}
	c.U16(&t.Year)
	c.U64(&r.GwartTime)
	c.U32(&r.StoreState)
}

// respHead is the start every response shares: the handle index and
// the return value; it says whether the rest follows (ReturnValue 0).
func respHead(c *Codec, idx *uint8, rv *ErrorCode) bool {
	c.U8(idx)
	u := uint32(*rv)
	c.U32(&u)
	*rv = ErrorCode(u)
	return c.err == nil && *rv == Success
}

// OpenFolderRequest is RopOpenFolder (MS-OXCROPS 2.2.4.1.1).
type OpenFolderRequest struct {
	LogonID, InputHandleIndex, OutputHandleIndex uint8
	FolderID                                     uint64
	OpenModeFlags                                uint8
}

func (*OpenFolderRequest) RopID() uint8 { return RopIDOpenFolder }
func (r *OpenFolderRequest) Codec(c *Codec) {
	c.U8(&r.LogonID)
	c.U8(&r.InputHandleIndex)
	c.U8(&r.OutputHandleIndex)
	c.U64(&r.FolderID)
	c.U8(&r.OpenModeFlags)
}

// OpenFolderResponse is RopOpenFolder's response (MS-OXCROPS 2.2.4.1.2)
// for a folder that is not ghosted (exsim's never are; a ghosted answer
// from a public folder server does not decode).
type OpenFolderResponse struct {
	OutputHandleIndex uint8
	ReturnValue       ErrorCode
	HasRules          bool
}

func (*OpenFolderResponse) RopID() uint8 { return RopIDOpenFolder }
func (r *OpenFolderResponse) Codec(c *Codec) {
	if !respHead(c, &r.OutputHandleIndex, &r.ReturnValue) {
		return
	}
	var rules, ghosted uint8
	if r.HasRules {
		rules = 1
	}
	c.U8(&rules)
	c.U8(&ghosted)
	r.HasRules = rules != 0
	if ghosted != 0 {
		c.Fail(fmt.Errorf("mapi: RopOpenFolder: ghosted folders are not supported"))
	}
}

// TableRequest is RopGetHierarchyTable or RopGetContentsTable
// (MS-OXCROPS 2.2.4.13, 2.2.4.14): ID says which.
type TableRequest struct {
	ID                                           uint8
	LogonID, InputHandleIndex, OutputHandleIndex uint8
	TableFlags                                   uint8
}

func (r *TableRequest) RopID() uint8 { return r.ID }
func (r *TableRequest) Codec(c *Codec) {
	c.U8(&r.LogonID)
	c.U8(&r.InputHandleIndex)
	c.U8(&r.OutputHandleIndex)
	c.U8(&r.TableFlags)
}

// TableResponse is the response of either: the table's row count.
type TableResponse struct {
	ID                uint8
	OutputHandleIndex uint8
	ReturnValue       ErrorCode
	RowCount          uint32
}

func (r *TableResponse) RopID() uint8 { return r.ID }
func (r *TableResponse) Codec(c *Codec) {
	if respHead(c, &r.OutputHandleIndex, &r.ReturnValue) {
		c.U32(&r.RowCount)
	}
}

// SetColumnsRequest is RopSetColumns (MS-OXCROPS 2.2.5.1.1).
type SetColumnsRequest struct {
	LogonID, InputHandleIndex, Flags uint8
	Columns                          []PropTag
}

func (*SetColumnsRequest) RopID() uint8 { return RopIDSetColumns }
func (r *SetColumnsRequest) Codec(c *Codec) {
	c.U8(&r.LogonID)
	c.U8(&r.InputHandleIndex)
	c.U8(&r.Flags)
	c.Tags(&r.Columns, false)
}

// SetColumnsResponse is its response (MS-OXCROPS 2.2.5.1.2).
type SetColumnsResponse struct {
	InputHandleIndex uint8
	ReturnValue      ErrorCode
	TableStatus      uint8
}

func (*SetColumnsResponse) RopID() uint8 { return RopIDSetColumns }
func (r *SetColumnsResponse) Codec(c *Codec) {
	if respHead(c, &r.InputHandleIndex, &r.ReturnValue) {
		c.U8(&r.TableStatus)
	}
}

// QueryRowsRequest is RopQueryRows (MS-OXCROPS 2.2.5.4.1).
type QueryRowsRequest struct {
	LogonID, InputHandleIndex, Flags uint8
	ForwardRead                      bool
	RowCount                         uint16
}

func (*QueryRowsRequest) RopID() uint8 { return RopIDQueryRows }
func (r *QueryRowsRequest) Codec(c *Codec) {
	c.U8(&r.LogonID)
	c.U8(&r.InputHandleIndex)
	c.U8(&r.Flags)
	fwd := uint8(0)
	if r.ForwardRead {
		fwd = 1
	}
	c.U8(&fwd)
	r.ForwardRead = fwd != 0
	c.U16(&r.RowCount)
}

// Bookmark origins of RopQueryRows' response.
const (
	OriginBeginning = 0x00
	OriginCurrent   = 0x01
	OriginEnd       = 0x02
)

// QueryRowsResponse is RopQueryRows' response (MS-OXCROPS 2.2.5.4.2).
// Columns are those of the table's RopSetColumns: not on the wire, a
// decoder needs them to read the rows.
type QueryRowsResponse struct {
	InputHandleIndex uint8
	ReturnValue      ErrorCode
	Origin           uint8
	Columns          []PropTag
	Rows             [][]PropValue
}

func (*QueryRowsResponse) RopID() uint8 { return RopIDQueryRows }
func (r *QueryRowsResponse) Codec(c *Codec) {
	if !respHead(c, &r.InputHandleIndex, &r.ReturnValue) {
		return
	}
	c.U8(&r.Origin)
	n := uint16(len(r.Rows))
	k := c.Count16(&n, 1)
	if !c.enc {
		r.Rows = make([][]PropValue, k)
	}
	for i := range r.Rows {
		c.Row(r.Columns, &r.Rows[i])
	}
}

// ReleaseRequest is RopRelease (MS-OXCROPS 2.2.15.3): no response.
type ReleaseRequest struct{ LogonID, InputHandleIndex uint8 }

func (*ReleaseRequest) RopID() uint8 { return RopIDRelease }
func (r *ReleaseRequest) Codec(c *Codec) {
	c.U8(&r.LogonID)
	c.U8(&r.InputHandleIndex)
}

// ErrorResponse is the short response of any ROP that failed: the
// handle index and the return value (MS-OXCROPS 2.2.4, 2.2.5).
type ErrorResponse struct {
	ID          uint8
	HandleIndex uint8
	ReturnValue ErrorCode
}

func (r *ErrorResponse) RopID() uint8 { return r.ID }
func (r *ErrorResponse) Codec(c *Codec) {
	respHead(c, &r.HandleIndex, &r.ReturnValue)
}

// EncodeROPs writes ROPs, each after its RopId.
func EncodeROPs(rops []ROP) []byte {
	c := NewEncoder()
	for _, r := range rops {
		id := r.RopID()
		c.U8(&id)
		r.Codec(c)
	}
	return c.b
}

// UnsupportedROPError is the error of a ROP id the decoder does not
// know: the rest of the buffer cannot be read past it.
type UnsupportedROPError struct {
	ID uint8
	// HandleIndex is the request's third byte, the InputHandleIndex of
	// most ROPs, for the error response.
	HandleIndex uint8
}

func (e *UnsupportedROPError) Error() string {
	return fmt.Sprintf("mapi: ROP 0x%02X not supported", e.ID)
}

// DecodeRequests reads the ROP requests of a buffer's RopsList.
func DecodeRequests(b []byte) ([]ROP, error) {
	c := NewDecoder(b)
	var out []ROP
	for c.Remaining() > 0 && c.err == nil {
		var id uint8
		c.U8(&id)
		var r ROP
		switch id {
		case RopIDLogon:
			r = &LogonRequest{}
		case RopIDOpenFolder:
			r = &OpenFolderRequest{}
		case RopIDGetHierarchyTable, RopIDGetContentsTable:
			r = &TableRequest{ID: id}
		case RopIDSetColumns:
			r = &SetColumnsRequest{}
		case RopIDQueryRows:
			r = &QueryRowsRequest{}
		case RopIDRelease:
			r = &ReleaseRequest{}
		default:
			e := &UnsupportedROPError{ID: id}
			if c.off+1 < len(c.b) {
				e.HandleIndex = c.b[c.off+1]
			}
			return out, e
		}
		r.Codec(c)
		out = append(out, r)
	}
	return out, c.err
}

// DecodeResponses reads responses into want, in order: each must carry
// the RopId of its slot. A response whose ReturnValue is not 0 is
// decoded into its slot's head (the rest of the slot stays zero).
func DecodeResponses(b []byte, want []ROP) error {
	c := NewDecoder(b)
	for i, r := range want {
		var id uint8
		c.U8(&id)
		if c.err == nil && id != r.RopID() {
			return fmt.Errorf("mapi: response %d is ROP 0x%02X, want 0x%02X", i, id, r.RopID())
		}
		r.Codec(c)
	}
	if c.err != nil {
		return c.err
	}
	if c.Remaining() != 0 {
		return ErrTrailing
	}
	return nil
}
