package dcerpc

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
	"github.com/exsim/exsim/internal/ntlm"
)

var testUUID = UUIDBytes("12345678-1234-abcd-ef00-0123456789ab")

// testConn is a Conn that authenticates binds with NTLM; anonConn one
// without NTLM, whose calls need no authentication.
func testConn() *Conn { return newTestConn(ntlm.NewServer(ntlm.Options{})) }

func anonConn() *Conn { return newTestConn(nil) }

func newTestConn(n *ntlm.Server) *Conn {
	return NewConn(Options{
		NTLM: n,
		Interfaces: []Interface{{UUID: testUUID, Major: 1, Call: func(_ context.Context, op uint16, stub []byte) ([]byte, error) {
			if op != 0 {
				return nil, FaultOpRangeError
			}
			return stub, nil
		}}},
	})
}

func testBind(iface [16]byte, syntax [20]byte) []byte {
	p := NewHeader(PtypeBind, pfcFirstFrag|pfcLastFrag, 1)
	p = binary.LittleEndian.AppendUint16(p, 4280)
	p = binary.LittleEndian.AppendUint16(p, 4280)
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = append(p, 1, 0, 0, 0, 0, 0, 1, 0)
	p = append(p, iface[:]...)
	p = append(p, 1, 0, 0, 0)
	p = append(p, syntax[:]...)
	SetLengths(p, 0)
	return p
}

func testRequest(callID uint32, opnum uint16, stub []byte) []byte {
	p := NewHeader(PtypeRequest, pfcFirstFrag|pfcLastFrag, callID)
	p = binary.LittleEndian.AppendUint32(p, uint32(len(stub)))
	p = binary.LittleEndian.AppendUint16(p, 0)
	p = binary.LittleEndian.AppendUint16(p, opnum)
	p = append(p, stub...)
	SetLengths(p, 0)
	return p
}

// bindResult is the first presentation result of a bind_ack.
func bindResult(t *testing.T, ack []byte) uint16 {
	t.Helper()
	secLen := int(binary.LittleEndian.Uint16(ack[24:]))
	off := (26 + secLen + 3) &^ 3
	return binary.LittleEndian.Uint16(ack[off+4:])
}

func TestBindAndCall(t *testing.T) {
	ctx := context.Background()
	c := anonConn()
	out, err := c.Handle(ctx, testBind(testUUID, ndr20))
	if err != nil || len(out) != 1 || Type(out[0]) != PtypeBindAck || bindResult(t, out[0]) != 0 {
		t.Fatalf("bind: %v % x", err, out)
	}
	// A stub larger than a fragment comes back in several, reassembled
	// by length.
	big := make([]byte, 10000)
	for i := range big {
		big[i] = byte(i)
	}
	out, err = c.Handle(ctx, testRequest(2, 0, big))
	if err != nil || len(out) < 3 {
		t.Fatalf("large call: %v, %d fragments", err, len(out))
	}
	var got []byte
	for i, p := range out {
		if first, last := p[3]&pfcFirstFrag != 0, p[3]&pfcLastFrag != 0; first != (i == 0) || last != (i == len(out)-1) {
			t.Fatalf("fragment %d flags %#x", i, p[3])
		}
		got = append(got, p[24:]...)
	}
	if string(got) != string(big) {
		t.Fatal("reassembled response differs")
	}
	out, _ = c.Handle(ctx, testRequest(3, 9, nil))
	if Type(out[0]) != PtypeFault || Fault(binary.LittleEndian.Uint32(out[0][24:])) != FaultOpRangeError {
		t.Fatalf("unknown opnum: % x", out[0])
	}
}

func TestBindRejections(t *testing.T) {
	ctx := context.Background()
	other := UUIDBytes("00000000-1111-2222-3333-444444444444")
	var ndr64 [20]byte
	copy(ndr64[:], "ndr64 transfer synt")
	for _, tc := range []struct {
		name   string
		pdu    []byte
		result uint16
	}{
		{"unknown interface", testBind(other, ndr20), 2},
		{"no NDR 2.0", testBind(testUUID, ndr64), 2},
	} {
		out, err := testConn().Handle(ctx, tc.pdu)
		if err != nil || bindResult(t, out[0]) != tc.result {
			t.Errorf("%s: %v % x", tc.name, err, out)
		}
	}
	// With NTLM configured, a call on an association that did not
	// authenticate is refused, as Exchange refuses anonymous NSPI calls.
	c := testConn()
	if out, err := c.Handle(ctx, testBind(testUUID, ndr20)); err != nil || bindResult(t, out[0]) != 0 {
		t.Fatalf("anonymous bind: %v % x", err, out)
	}
	out, err := c.Handle(ctx, testRequest(2, 0, []byte("abcd")))
	if err != nil || Type(out[0]) != PtypeFault || Fault(binary.LittleEndian.Uint32(out[0][24:])) != FaultAccessDenied {
		t.Fatalf("anonymous call: %v % x", err, out)
	}
	// A call on a context that was never bound faults.
	out, err = testConn().Handle(ctx, testRequest(1, 0, nil))
	if err != nil || Type(out[0]) != PtypeFault || Fault(binary.LittleEndian.Uint32(out[0][24:])) != FaultUnknownIf {
		t.Fatalf("unbound call: %v % x", err, out)
	}
	// AUTH3 without a bind is a protocol error.
	a := NewHeader(PtypeAuth3, 3, 1)
	a = append(a, 0, 0, 0, 0, authnWinNT, levelPktPrivacy, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4)
	SetLengths(a, 4)
	if _, err := testConn().Handle(ctx, a); !errors.Is(err, ErrProtocol) {
		t.Fatalf("stray AUTH3: %v", err)
	}
}

// FuzzHandle: no PDU sequence makes a Conn panic.
func FuzzHandle(f *testing.F) {
	fuzzseed.Add(f, testBind(testUUID, ndr20), testRequest(2, 0, []byte("abcd")))
	fuzzseed.Add(f, testBind(testUUID, ndr20), []byte{5, 0, 0, 3, 0x10, 0, 0, 0, 24, 0, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		c := testConn()
		if len(a)%2 == 1 {
			c = anonConn() // the call paths past authentication
		}
		for _, p := range [][]byte{a, b} {
			if len(p) >= HeaderSize {
				binary.LittleEndian.PutUint16(p[8:], uint16(len(p)))
			}
			c.Handle(context.Background(), p)
		}
	})
}
