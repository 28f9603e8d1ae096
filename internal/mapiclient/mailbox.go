package mapiclient

import (
	"context"
	"fmt"
	"time"

	"github.com/exsim/exsim/internal/mapi"
)

// Message is one row of a folder's contents table.
type Message struct {
	Subject  string
	Received time.Time // PidTagMessageDeliveryTime
	From     string    // PidTagSenderName
	Size     int
	Read     bool
}

// Folder is one row of a hierarchy table.
type Folder struct {
	ID            uint64
	Name          string
	Total, Unread int
}

var messageColumns = []mapi.PropTag{mapi.PidTagSubject, mapi.PidTagMessageDeliveryTime, mapi.PidTagSenderName,
	mapi.PidTagMessageSize, mapi.PidTagMessageFlags}

var folderColumns = []mapi.PropTag{mapi.PidTagFolderID, mapi.PidTagDisplayName, mapi.PidTagContentCount,
	mapi.PidTagContentUnreadCount}

// pageRows is the RowCount of each RopQueryRows.
const pageRows = 100

// Inbox lists the Inbox, newest first as the server orders it.
func (s *Session) Inbox(ctx context.Context) ([]Message, error) {
	rows, err := s.table(ctx, s.folders[mapi.FolderInbox], mapi.RopIDGetContentsTable, messageColumns)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(rows))
	for _, r := range rows {
		out = append(out, Message{Subject: r[0].String(), Received: r[1].Time(), From: r[2].String(),
			Size: int(r[3].Int()), Read: r[4].Int()&0x1 != 0})
	}
	return out, nil
}

// Folders lists the folders under the top of the information store.
func (s *Session) Folders(ctx context.Context) ([]Folder, error) {
	return s.Subfolders(ctx, s.folders[mapi.FolderIPMSubtree])
}

// Subfolders lists the folders right under the folder fid.
func (s *Session) Subfolders(ctx context.Context, fid uint64) ([]Folder, error) {
	rows, err := s.table(ctx, fid, mapi.RopIDGetHierarchyTable, folderColumns)
	if err != nil {
		return nil, err
	}
	out := make([]Folder, 0, len(rows))
	for _, r := range rows {
		out = append(out, Folder{ID: uint64(r[0].Int()), Name: r[1].String(), Total: int(r[2].Int()), Unread: int(r[3].Int())})
	}
	return out, nil
}

// table opens folder fid and one of its tables, sets cols and reads
// every row, then releases both. Handle slots: 0 the logon, 1 the
// folder, 2 the table. A table longer than one answer holds is read on
// with further RopQueryRows on the same table handle.
func (s *Session) table(ctx context.Context, fid uint64, tableROP uint8, cols []mapi.PropTag) ([][]mapi.PropValue, error) {
	open := &mapi.OpenFolderResponse{}
	tr := &mapi.TableResponse{ID: tableROP}
	sc := &mapi.SetColumnsResponse{}
	qr := &mapi.QueryRowsResponse{Columns: cols}
	handles, err := s.execute(ctx, []mapi.ROP{
		&mapi.OpenFolderRequest{InputHandleIndex: 0, OutputHandleIndex: 1, FolderID: fid},
		&mapi.TableRequest{ID: tableROP, InputHandleIndex: 1, OutputHandleIndex: 2},
		&mapi.SetColumnsRequest{InputHandleIndex: 2, Columns: cols},
		&mapi.QueryRowsRequest{InputHandleIndex: 2, ForwardRead: true, RowCount: pageRows},
	}, []uint32{s.logonHandle, freeHandle, freeHandle}, []mapi.ROP{open, tr, sc, qr})
	if err != nil {
		return nil, err
	}
	for _, rv := range []mapi.ErrorCode{open.ReturnValue, tr.ReturnValue, sc.ReturnValue, qr.ReturnValue} {
		if rv != mapi.Success {
			return nil, fmt.Errorf("mapiclient: reading folder %#x: %w", fid, rv)
		}
	}
	rows := qr.Rows
	for len(qr.Rows) > 0 && qr.Origin != mapi.OriginEnd && len(rows) < int(tr.RowCount) {
		qr = &mapi.QueryRowsResponse{Columns: cols}
		if _, err := s.execute(ctx, []mapi.ROP{&mapi.QueryRowsRequest{InputHandleIndex: 2, ForwardRead: true, RowCount: pageRows}},
			handles, []mapi.ROP{qr}); err != nil {
			return nil, err
		}
		if qr.ReturnValue != mapi.Success {
			return nil, fmt.Errorf("mapiclient: RopQueryRows: %w", qr.ReturnValue)
		}
		rows = append(rows, qr.Rows...)
	}
	_, err = s.execute(ctx, []mapi.ROP{&mapi.ReleaseRequest{InputHandleIndex: 2}, &mapi.ReleaseRequest{InputHandleIndex: 1}}, handles, nil)
	return rows, err
}
