// Package nspi is the server side of the Name Service Provider Interface
// (MS-NSPI with Exchange's MS-OXNSPI profile): the address book protocol
// Outlook speaks over RPC (Outlook Anywhere, port 6004) to read the Global
// Address List. It serves NspiBind, NspiUnbind, NspiUpdateStat,
// NspiQueryRows, NspiGetSpecialTable and NspiQueryColumns over NDR 2.0 as
// a dcerpc.Interface; other operations fault with nca_s_op_rng_error.
// Bind, UpdateStat, QueryRows and Unbind are the client side of those
// calls, for connectivity tests (exsim rca) against any Exchange.
//
// The address book is one container, the Default Global Address List
// (minimal entry id 0), holding the entries Book returns, sorted by display
// name. Entries get the minimal entry ids 0x100, 0x101, ... in that order
// (MS-OXNSPI section 2.2.9.1 leaves their values to the server; 0, 1 and
// 2 are reserved).
package nspi

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exsim/exsim/internal/dcerpc"
	"github.com/exsim/exsim/internal/mapi"
)

// InterfaceUUID and version of NSPI (MS-NSPI section 2.1; MS-OXNSPI 2.1).
const InterfaceUUID = "F5CC5A18-4264-101A-8C59-08002B2F8426"

// Special minimal entry ids (MS-OXNSPI section 2.2.1.8).
const (
	MIDBeginningOfTable = 0
	MIDCurrent          = 1
	MIDEndOfTable       = 2
	firstMID            = 0x100
)

// Entry is one address book entry (a mailbox).
type Entry struct {
	DisplayName    string
	Alias          string // mailNickname
	Address        string // primary SMTP address
	LegacyDN       string // legacyExchangeDN (PR_EMAIL_ADDRESS)
	ProxyAddresses []string
	GUID           [16]byte // objectGUID, as stored (little-endian fields)
	Created        time.Time
}

// Stat is the STAT of MS-NSPI section 2.3.7 (the same structure the
// MAPI/HTTP encodings carry).
type Stat = mapi.Stat

// Server answers NSPI for one address book.
type Server struct {
	book       func(ctx context.Context) ([]Entry, error)
	serverGUID [16]byte
	mu         sync.Mutex
	handles    map[[20]byte]bool
}

// NewServer returns a Server reading its entries from book at each call.
func NewServer(book func(ctx context.Context) ([]Entry, error)) *Server {
	s := &Server{book: book, handles: map[[20]byte]bool{}}
	rand.Read(s.serverGUID[:])
	return s
}

// Interface is the Server as a dcerpc.Interface (NSPI version 56.0).
func (s *Server) Interface() dcerpc.Interface {
	return dcerpc.Interface{UUID: dcerpc.UUIDBytes(InterfaceUUID), Major: 56, Minor: 0, Call: s.call}
}

// Operation numbers (MS-NSPI section 3.1.4).
const (
	opBind            = 0
	opUnbind          = 1
	opUpdateStat      = 2
	opQueryRows       = 3
	opGetSpecialTable = 12
	opQueryColumns    = 16
)

func (s *Server) call(ctx context.Context, opnum uint16, stub []byte) ([]byte, error) {
	r := &reader{b: stub}
	var w writer
	var err error
	switch opnum {
	case opBind:
		s.bind(r, &w)
	case opUnbind:
		s.unbind(r, &w)
	default:
		h := r.handle()
		if r.err != nil {
			return nil, dcerpc.FaultNDR
		}
		if !s.known(h) {
			return nil, dcerpc.FaultContext
		}
		err = s.withBook(ctx, opnum, r, &w)
	}
	if err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, dcerpc.FaultNDR
	}
	return w.b, nil
}

func (s *Server) known(h [20]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handles[h]
}

// bind is NspiBind (section 3.1.4.1.1): any authenticated caller gets a
// context handle; the server GUID is returned when asked for.
func (s *Server) bind(r *reader, w *writer) {
	r.u32() // dwFlags
	r.stat()
	wantGUID := r.u32() != 0
	if wantGUID {
		r.bytes(16)
	}
	if r.err != nil {
		return
	}
	var h [20]byte
	rand.Read(h[4:])
	s.mu.Lock()
	s.handles[h] = true
	s.mu.Unlock()
	if wantGUID {
		w.ptr()
		w.b = append(w.b, s.serverGUID[:]...)
	} else {
		w.u32(0)
	}
	w.b = append(w.b, h[:]...)
	w.u32(0) // Success
}

// unbind is NspiUnbind (section 3.1.4.1.2): the handle is destroyed and
// the result is 1 (UNBIND_SUCCESS, MS-OXNSPI section 3.1.4.1.2).
func (s *Server) unbind(r *reader, w *writer) {
	h := r.handle()
	r.u32()
	if r.err != nil {
		return
	}
	s.mu.Lock()
	delete(s.handles, h)
	s.mu.Unlock()
	w.b = append(w.b, make([]byte, 20)...)
	w.u32(1)
}

// withBook runs the operations that read the address book.
func (s *Server) withBook(ctx context.Context, opnum uint16, r *reader, w *writer) error {
	b, err := s.Book(ctx)
	if err != nil {
		return err
	}
	t := b.t
	switch opnum {
	case opUpdateStat:
		t.updateStat(r, w)
	case opQueryRows:
		t.queryRows(r, w)
	case opGetSpecialTable:
		t.specialTable(r, w)
	case opQueryColumns:
		t.queryColumns(r, w)
	default:
		return dcerpc.FaultOpRangeError
	}
	return nil
}

// SortEntries puts entries in the Global Address List's order, by display
// name without regard to case, keeping the order of equal names: the order
// of NSPI's minimal entry ids, and of the Offline Address Book's records.
func SortEntries(entries []Entry) {
	slices.SortStableFunc(entries, func(a, b Entry) int {
		return strings.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName))
	})
}
