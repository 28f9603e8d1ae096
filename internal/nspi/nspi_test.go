package nspi

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/exsim/exsim/internal/dcerpc"
	"github.com/exsim/exsim/internal/fuzzseed"
)

func testServer() *Server {
	return NewServer(func(context.Context) ([]Entry, error) {
		return []Entry{
			{DisplayName: "Bob Kelly", Alias: "bob", Address: "bob@contoso.com", LegacyDN: "/o=Contoso/cn=bob"},
			{DisplayName: "Alice Wood", Alias: "alice", Address: "alice@contoso.com", LegacyDN: "/o=Contoso/cn=alice"},
		}, nil
	})
}

func statStub(w *writer, st Stat) { w.stat(st) }

// bind returns a context handle from NspiBind.
func bind(t *testing.T, s *Server) [20]byte {
	t.Helper()
	var w writer
	w.u32(0)
	statStub(&w, Stat{CodePage: 0x4f25})
	w.u32(0) // no server GUID
	out, err := s.call(context.Background(), opBind, w.b)
	if err != nil || len(out) != 28 || binary.LittleEndian.Uint32(out[24:]) != 0 {
		t.Fatalf("NspiBind: %v % x", err, out)
	}
	var h [20]byte
	copy(h[:], out[4:24])
	return h
}

func TestUpdateStatAndQueryRows(t *testing.T) {
	s := testServer()
	h := bind(t, s)
	ctx := context.Background()

	var w writer
	w.b = append(w.b, h[:]...)
	w.u32(0)
	statStub(&w, Stat{CurrentRec: MIDBeginningOfTable})
	w.u32(0) // plDelta NULL
	out, err := s.call(ctx, opUpdateStat, w.b)
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{b: out}
	st := r.stat()
	if st.CurrentRec != firstMID || st.TotalRecs != 2 || st.NumPos != 0 {
		t.Fatalf("NspiUpdateStat: %+v", st)
	}

	// One row from the start: Alice (sorted by display name), the STAT
	// moves on to Bob.
	w = writer{}
	w.b = append(w.b, h[:]...)
	w.u32(0)
	statStub(&w, st)
	w.u32(0)
	w.u32(0) // no explicit table
	w.u32(1) // Count
	w.ptr()
	tags := []uint32{pidSMTPAddress<<16 | ptypString, 0x80270102}
	w.tags(tags)
	out, err = s.call(ctx, opQueryRows, w.b)
	if err != nil {
		t.Fatal(err)
	}
	r = &reader{b: out}
	st = r.stat()
	if st.CurrentRec != firstMID+1 || st.NumPos != 1 {
		t.Fatalf("STAT after one row: %+v", st)
	}
	var want writer
	want.ptr()
	want.rows([][]value{{{tag: tags[0], s: "alice@contoso.com"}, notFound(0x8027)}})
	want.u32(0)
	if got := out[36:]; string(got) != string(want.b) {
		t.Fatalf("rows\n got % x\nwant % x", got, want.b)
	}
}

func TestCallErrors(t *testing.T) {
	s := testServer()
	ctx := context.Background()
	var stale [20]byte
	stale[5] = 1
	if _, err := s.call(ctx, opQueryColumns, append(stale[:], 0, 0, 0, 0, 0, 0, 0, 0)); !errors.Is(err, dcerpc.FaultContext) {
		t.Errorf("unknown handle: %v", err)
	}
	h := bind(t, s)
	if _, err := s.call(ctx, opQueryRows, h[:]); !errors.Is(err, dcerpc.FaultNDR) {
		t.Errorf("truncated NspiQueryRows: %v", err)
	}
	if _, err := s.call(ctx, 42, append(h[:], 0, 0, 0, 0)); !errors.Is(err, dcerpc.FaultOpRangeError) {
		t.Errorf("unknown opnum: %v", err)
	}
	if _, err := s.call(ctx, opBind, []byte{1, 2}); !errors.Is(err, dcerpc.FaultNDR) {
		t.Errorf("truncated NspiBind: %v", err)
	}
}

// FuzzCall: no request stub makes an operation panic.
func FuzzCall(f *testing.F) {
	fuzzseed.Add(f, uint16(opQueryRows), make([]byte, 100))
	fuzzseed.Add(f, uint16(opUpdateStat), make([]byte, 68))
	fuzzseed.Add(f, uint16(opGetSpecialTable), make([]byte, 40))
	s := testServer()
	f.Fuzz(func(t *testing.T, op uint16, stub []byte) {
		if len(stub) >= 20 {
			s.handles[[20]byte(stub[:20])] = true
		}
		s.call(context.Background(), op, stub)
	})
}
