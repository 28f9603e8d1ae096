package httpd

import (
	"context"

	"github.com/exsim/exsim/internal/mapi"
	"github.com/exsim/exsim/internal/nspi"
)

// The NSPI request types of MAPI over HTTP (MS-OXCMAPIHTTP 2.2.5) on the
// address book internal/nspi serves over RPC: the same entries, minimal
// ids and properties, in the encodings of section 2.2.1.

// maxABRows bounds the rows of one QueryRows or ResolveNames answer.
// Exchange's limit is not public; the NDR interface has the same bound.
const maxABRows = 100000

func (c *mapiCall) nspi(typ string) {
	switch typ {
	case mapi.ReqBind:
		var req mapi.BindRequest
		if !c.decode(&req) {
			return
		}
		c.h.mapi.create(c)
		g := c.h.book.ServerGUID()
		c.respond(func(context.Context) (mapi.Body, error) { return &mapi.BindResponse{ServerGUID: g}, nil })
	case mapi.ReqUnbind:
		c.endSession(&mapi.UnbindRequest{})
	case mapi.ReqGetProps:
		bookRequest(c, getProps)
	case mapi.ReqQueryRows:
		bookRequest(c, queryRows)
	case mapi.ReqResolveNames:
		bookRequest(c, resolveNames)
	case mapi.ReqDNToMId:
		bookRequest(c, dnToMIDs)
	case mapi.ReqGetSpecialTable:
		bookRequest(c, getSpecialTable)
	}
}

// bookRequest answers a request on the address book: the body decoded into
// a new request (P), then what answer makes of it with the book.
func bookRequest[R any, P interface {
	*R
	mapi.Body
}](c *mapiCall, answer func(b *nspi.Book, req P) mapi.Body) {
	req := P(new(R))
	if c.decode(req) {
		c.withBook(func(b *nspi.Book) mapi.Body { return answer(b, req) })
	}
}

// dnToMIDs is DNToMId (MS-OXCMAPIHTTP 2.2.5.5): each DN's minimal id, 0
// for a DN the book does not hold.
func dnToMIDs(b *nspi.Book, req *mapi.DNToMIdRequest) mapi.Body {
	mids := make([]uint32, len(req.Names))
	for i, dn := range req.Names {
		mids[i] = b.MIDOfDN(dn)
	}
	return &mapi.DNToMIdResponse{MIDs: mids}
}

// getSpecialTable is GetSpecialTable (MS-OXCMAPIHTTP 2.2.5.6): the address
// book hierarchy table.
func getSpecialTable(b *nspi.Book, req *mapi.GetSpecialTableRequest) mapi.Body {
	return &mapi.GetSpecialTableResponse{CodePage: codePage(req.State), Version: req.Version, Rows: b.Hierarchy()}
}

// withBook answers with what answer makes of the address book.
func (c *mapiCall) withBook(answer func(b *nspi.Book) mapi.Body) {
	c.respond(func(ctx context.Context) (mapi.Body, error) {
		b, err := c.h.book.Book(ctx)
		if err != nil {
			return nil, err
		}
		return answer(b), nil
	})
}

// codePage is the code page of the answer: the STAT's, else Windows-1252.
func codePage(st *mapi.Stat) uint32 {
	if st != nil && st.CodePage != 0 {
		return st.CodePage
	}
	return 1252
}

// getProps is GetProps (MS-OXNSPI 3.1.4.1.7): the properties of the
// object the STAT's CurrentRec names.
func getProps(b *nspi.Book, req *mapi.GetPropsRequest) mapi.Body {
	if req.State == nil {
		return &mapi.GetPropsResponse{ErrorCode: mapi.ErrInvalidParam}
	}
	tags := req.Tags
	if tags == nil {
		tags = b.DefaultColumns()
	}
	row := b.Row(req.State.CurrentRec, tags)
	resp := &mapi.GetPropsResponse{CodePage: codePage(req.State), Values: row}
	for _, v := range row {
		if _, isErr := v.ErrorValue(); isErr {
			// A property the object lacks: the row comes with the
			// ErrorsReturned warning (MS-OXNSPI 3.1.4.1.7).
			resp.ErrorCode = mapi.ErrorsReturned
		}
	}
	return resp
}

// queryRows is QueryRows (MS-OXNSPI 3.1.4.1.8): the rows of an explicit
// table of minimal ids, or RowCount rows from the STAT's position.
func queryRows(b *nspi.Book, req *mapi.ABQueryRowsRequest) mapi.Body {
	cols := req.Columns
	if cols == nil {
		cols = b.DefaultColumns()
	}
	st := mapi.Stat{}
	if req.State != nil {
		st = *req.State
	}
	mids := req.ExplicitTable
	if len(mids) == 0 {
		var ok bool
		if mids, ok = b.Rows(&st, int(min(req.RowCount, maxABRows))); !ok {
			return &mapi.ABQueryRowsResponse{ErrorCode: mapi.ErrorCode(0x80040405)} // MAPI_E_INVALID_BOOKMARK
		}
	}
	if len(mids)*max(len(cols), 1) > maxABRows*16 {
		return &mapi.ABQueryRowsResponse{ErrorCode: mapi.ErrTooBig}
	}
	rows := make([][]mapi.PropValue, 0, len(mids))
	for _, mid := range mids {
		rows = append(rows, b.Row(mid, cols))
	}
	return &mapi.ABQueryRowsResponse{State: &st, Columns: cols, Rows: rows}
}

// resolveNames is ResolveNames (MS-OXNSPI 3.1.4.1.17): a minimal id
// result per name and the row of each name that resolved.
func resolveNames(b *nspi.Book, req *mapi.ResolveNamesRequest) mapi.Body {
	cols := req.Tags
	if cols == nil {
		cols = b.DefaultColumns()
	}
	if len(req.Names) > maxABRows {
		return &mapi.ResolveNamesResponse{ErrorCode: mapi.ErrTooBig}
	}
	resp := &mapi.ResolveNamesResponse{CodePage: codePage(req.State), MIDs: make([]uint32, len(req.Names)),
		Columns: cols, Rows: [][]mapi.PropValue{}}
	for i, n := range req.Names {
		res, mid := b.Resolve(n)
		resp.MIDs[i] = res
		if res == mapi.MIDResolved {
			resp.Rows = append(resp.Rows, b.Row(mid, cols))
		}
	}
	return resp
}
