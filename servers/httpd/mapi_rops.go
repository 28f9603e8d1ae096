package httpd

import (
	"context"
	"crypto/sha1"
	"log/slog"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/exsim/exsim/internal/mapi"
)

// The ROPs of an Execute (MS-OXCROPS), run against the objects of one
// Session Context: the logon, folders and tables, each known by a
// server object handle.

// maxQueryRowsBytes bounds the rows of one RopQueryRows so the response
// buffer fits one RPC_HEADER_EXT; a client reads on with another
// RopQueryRows (MS-OXCTABL 3.2.5.5 lets the server return fewer rows).
const maxQueryRowsBytes = 0x7000

// invalidHandle marks a free slot of the handle table (MS-OXCROPS 2.2.2).
const invalidHandle = 0xFFFFFFFF

type ropObjectKind int

const (
	objLogon ropObjectKind = iota
	objFolder
	objTable
)

// ropObject is the object behind a server object handle.
type ropObject struct {
	kind    ropObjectKind
	folder  *mapiFolder
	columns []mapi.PropTag // tables: RopSetColumns
	rows    []propSource   // tables: the rows when the table was opened
	pos     int
}

// ropEnv is what ROPs run with: the handler (store, clock) and the
// request's logger. MAPI/HTTP's Execute and RPC's EcDoRpcExt2 both give it.
type ropEnv struct {
	h   *Handler
	log *slog.Logger
}

// ropSession is the EMSMDB state of a Session Context. MapiSequence
// orders Executes, but a client that has the next sequence cookie (sent
// with the headers) may send one before the last has answered: mu runs
// them one at a time.
type ropSession struct {
	mu      sync.Mutex
	user    *User
	dn      string
	logon   bool
	next    uint32
	objects map[uint32]*ropObject
}

func newROPSession(u *User, dn string) *ropSession {
	return &ropSession{user: u, dn: dn, next: 1, objects: map[uint32]*ropObject{}}
}

func (s *ropSession) add(o *ropObject) uint32 {
	h := s.next
	s.next++
	s.objects[h] = o
	return h
}

// object returns the object of handle table slot i.
func (s *ropSession) object(handles []uint32, i uint8) *ropObject {
	if int(i) >= len(handles) {
		return nil
	}
	return s.objects[handles[i]]
}

// execute runs rops and returns their responses and the handle table.
func (s *ropSession) execute(ctx context.Context, c ropEnv, rops []mapi.ROP, handles []uint32) ([]mapi.ROP, []uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	handles = append([]uint32(nil), handles...)
	var out []mapi.ROP
	budget := maxQueryRowsBytes
	setOut := func(i uint8, o *ropObject) bool {
		if int(i) >= len(handles) {
			return false
		}
		handles[i] = s.add(o)
		return true
	}
	fail := func(id, idx uint8, code mapi.ErrorCode) {
		out = append(out, &mapi.ErrorResponse{ID: id, HandleIndex: idx, ReturnValue: code})
	}
	for _, r := range rops {
		switch r := r.(type) {
		case *mapi.LogonRequest:
			resp, code := s.ropLogon(c, r)
			if code != mapi.Success || !setOut(r.OutputHandleIndex, &ropObject{kind: objLogon}) {
				fail(r.RopID(), r.OutputHandleIndex, max(code, mapi.ErrNullObject))
				continue
			}
			s.logon = true
			out = append(out, resp)
		case *mapi.OpenFolderRequest:
			in := s.object(handles, r.InputHandleIndex)
			if in == nil || !s.logon {
				fail(r.RopID(), r.OutputHandleIndex, mapi.ErrNullObject)
				continue
			}
			f, code := s.folder(ctx, c, r.FolderID)
			if code != mapi.Success || !setOut(r.OutputHandleIndex, &ropObject{kind: objFolder, folder: f}) {
				fail(r.RopID(), r.OutputHandleIndex, max(code, mapi.ErrNullObject))
				continue
			}
			out = append(out, &mapi.OpenFolderResponse{OutputHandleIndex: r.OutputHandleIndex})
		case *mapi.TableRequest:
			in := s.object(handles, r.InputHandleIndex)
			if in == nil || in.kind != objFolder {
				fail(r.RopID(), r.OutputHandleIndex, mapi.ErrNullObject)
				continue
			}
			rows, err := s.tableRows(ctx, c, in.folder, r.ID == mapi.RopIDGetContentsTable)
			if err != nil {
				c.log.Error("mapi: read folder", "err", err)
				fail(r.RopID(), r.OutputHandleIndex, mapi.ErrorCode(0x80004005))
				continue
			}
			if !setOut(r.OutputHandleIndex, &ropObject{kind: objTable, folder: in.folder, rows: rows}) {
				fail(r.RopID(), r.OutputHandleIndex, mapi.ErrNullObject)
				continue
			}
			out = append(out, &mapi.TableResponse{ID: r.ID, OutputHandleIndex: r.OutputHandleIndex, RowCount: uint32(len(rows))})
		case *mapi.SetColumnsRequest:
			t := s.object(handles, r.InputHandleIndex)
			if t == nil || t.kind != objTable {
				fail(r.RopID(), r.InputHandleIndex, mapi.ErrNullObject)
				continue
			}
			if !supportedColumns(r.Columns) {
				fail(r.RopID(), r.InputHandleIndex, mapi.ErrInvalidParam)
				continue
			}
			t.columns = r.Columns
			out = append(out, &mapi.SetColumnsResponse{InputHandleIndex: r.InputHandleIndex})
		case *mapi.QueryRowsRequest:
			t := s.object(handles, r.InputHandleIndex)
			if t == nil || t.kind != objTable || t.columns == nil {
				// A table without RopSetColumns has no columns to send
				// (MS-OXCTABL 3.2.5.5): ecNullObject, as for no table.
				fail(r.RopID(), r.InputHandleIndex, mapi.ErrNullObject)
				continue
			}
			resp := t.queryRows(r, &budget)
			resp.InputHandleIndex = r.InputHandleIndex
			out = append(out, resp)
		case *mapi.ReleaseRequest:
			if int(r.InputHandleIndex) < len(handles) {
				delete(s.objects, handles[r.InputHandleIndex])
			}
		}
	}
	return out, handles
}

// ropLogon is RopLogon on the user's own private mailbox (MS-OXCROPS
// 2.2.3.1). exsim grants no delegate access and has no public folders:
// another mailbox's DN, or a public logon, fails with ecLoginFailure.
func (s *ropSession) ropLogon(c ropEnv, r *mapi.LogonRequest) (*mapi.LogonResponse, mapi.ErrorCode) {
	if r.LogonFlags&mapi.LogonPrivate == 0 {
		return nil, mapi.ErrLoginFailure
	}
	if r.OpenFlags&mapi.OpenUsePerMDBReplIDMapping == 0 {
		return nil, mapi.ErrInvalidParam // as Exchange (MS-OXCSTOR 3.2.5.1.3)
	}
	if r.Essdn != "" && !strings.EqualFold(r.Essdn, s.dn) {
		c.log.Info("mapi logon refused: not the caller's mailbox", "dn", r.Essdn)
		return nil, mapi.ErrLoginFailure
	}
	g, err := uuid.Parse(s.user.MailboxGUID)
	if err != nil {
		g = uuid.NewSHA1(uuid.NameSpaceURL, []byte("mailto:"+s.user.Address))
	}
	repl := sha1.Sum(append([]byte("replica:"), g[:]...))
	now := c.h.cfg.Now().UTC()
	resp := &mapi.LogonResponse{
		OutputHandleIndex: r.OutputHandleIndex,
		LogonFlags:        mapi.LogonPrivate,
		FolderIDs:         specialFIDs(),
		ResponseFlags:     0x01 | 0x02 | 0x04, // Reserved, OwnerRight, SendAsRight
		MailboxGUID:       guidWire(g),
		ReplID:            1,
		LogonTime: mapi.LogonTime{Seconds: uint8(now.Second()), Minutes: uint8(now.Minute()), Hour: uint8(now.Hour()),
			DayOfWeek: uint8(now.Weekday()), Day: uint8(now.Day()), Month: uint8(now.Month()), Year: uint16(now.Year())},
	}
	copy(resp.ReplGUID[:], repl[:16])
	return resp, mapi.Success
}

// folder finds a folder by FID: MAPI_E_NOT_FOUND when there is none.
func (s *ropSession) folder(ctx context.Context, c ropEnv, fid uint64) (*mapiFolder, mapi.ErrorCode) {
	all, err := c.h.mapiFolders(ctx, s.user)
	if err != nil {
		c.log.Error("mapi: folders", "err", err)
		return nil, mapi.ErrorCode(0x80004005)
	}
	for _, f := range all {
		if f.fid == fid {
			return f, mapi.Success
		}
	}
	return nil, mapi.ErrNotFound
}

// tableRows are the rows of a folder's contents table (its messages,
// newest first) or hierarchy table (its subfolders).
func (s *ropSession) tableRows(ctx context.Context, c ropEnv, f *mapiFolder, contents bool) ([]propSource, error) {
	var rows []propSource
	if contents {
		if f.backend == "" {
			return nil, nil
		}
		list, err := c.h.b.ListFolder(ctx, s.user.Address, f.backend)
		if err != nil {
			return nil, err
		}
		for _, m := range list {
			rows = append(rows, newMAPIMessage(f.backend, f.fid, m))
		}
		return rows, nil
	}
	all, err := c.h.mapiFolders(ctx, s.user)
	if err != nil {
		return nil, err
	}
	for _, sub := range all {
		if sub.parent == f.fid && sub.fid != f.fid {
			rows = append(rows, sub)
		}
	}
	return rows, nil
}

func supportedColumns(cols []mapi.PropTag) bool {
	for _, t := range cols {
		if !mapi.Supported(t.Type()) || t.Type() == mapi.PtypErrorCode {
			return false
		}
	}
	return len(cols) > 0
}

// queryRows is RopQueryRows (MS-OXCTABL 3.2.5.5): up to RowCount rows
// from the cursor, forwards or backwards, within the response budget.
func (t *ropObject) queryRows(r *mapi.QueryRowsRequest, budget *int) *mapi.QueryRowsResponse {
	resp := &mapi.QueryRowsResponse{Columns: t.columns}
	step := 1
	if !r.ForwardRead {
		step = -1
	}
	for n := 0; n < int(r.RowCount); n++ {
		i := t.pos
		if !r.ForwardRead {
			i = t.pos - 1
		}
		if i < 0 || i >= len(t.rows) {
			break
		}
		row := make([]mapi.PropValue, len(t.columns))
		for k, col := range t.columns {
			row[k] = propValue(t.rows[i], col)
		}
		size := rowSize(t.columns, row)
		if size > *budget && len(resp.Rows) > 0 {
			break
		}
		*budget -= size
		resp.Rows = append(resp.Rows, row)
		t.pos += step
	}
	switch {
	case t.pos <= 0:
		resp.Origin = mapi.OriginBeginning
	case t.pos >= len(t.rows):
		resp.Origin = mapi.OriginEnd
	default:
		resp.Origin = mapi.OriginCurrent
	}
	return resp
}

// rowSize is the encoded size of a row.
func rowSize(cols []mapi.PropTag, row []mapi.PropValue) int {
	c := mapi.NewEncoder()
	c.Row(cols, &row)
	return len(c.Bytes())
}
