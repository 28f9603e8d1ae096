package rpch

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/dcerpc"
)

var echoUUID = dcerpc.UUIDBytes("12345678-1234-abcd-ef00-0123456789ab")

// echo is a test interface: opnum 0 returns its stub reversed.
func echo() dcerpc.Interface {
	return dcerpc.Interface{UUID: echoUUID, Major: 1, Call: func(_ context.Context, op uint16, stub []byte) ([]byte, error) {
		if op != 0 {
			return nil, dcerpc.FaultOpRangeError
		}
		out := make([]byte, len(stub))
		for i, c := range stub {
			out[len(out)-1-i] = c
		}
		return out, nil
	}}
}

func bindPDU(callID uint32) []byte {
	p := dcerpc.NewHeader(dcerpc.PtypeBind, 3, callID)
	p = binary.LittleEndian.AppendUint16(p, 4280)
	p = binary.LittleEndian.AppendUint16(p, 4280)
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = append(p, 1, 0, 0, 0) // one context
	p = append(p, 0, 0, 1, 0) // context 0, one transfer syntax
	p = append(p, echoUUID[:]...)
	p = append(p, 1, 0, 0, 0) // version 1.0
	p = append(p, 0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60, 2, 0, 0, 0)
	dcerpc.SetLengths(p, 0)
	return p
}

func requestPDU(callID uint32, opnum uint16, stub []byte) []byte {
	p := dcerpc.NewHeader(dcerpc.PtypeRequest, 3, callID)
	p = binary.LittleEndian.AppendUint32(p, uint32(len(stub)))
	p = binary.LittleEndian.AppendUint16(p, 0)
	p = binary.LittleEndian.AppendUint16(p, opnum)
	p = append(p, stub...)
	dcerpc.SetLengths(p, 0)
	return p
}

// TestVirtualConnection pairs an IN and an OUT channel, binds and calls
// through them, and sees the OUT channel's keep-alive PING.
func TestVirtualConnection(t *testing.T) {
	s := NewServer(Options{
		NewConn:           func(int) *dcerpc.Conn { return dcerpc.NewConn(dcerpc.Options{Interfaces: []dcerpc.Interface{echo()}}) },
		ConnectionTimeout: 400 * time.Millisecond,
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "RPC_IN_DATA" {
			s.ServeIn(w, r, 6004)
			return
		}
		s.ServeOut(w, r)
	}))
	defer srv.Close()
	vc, in, out := [16]byte{1, 2, 3}, [16]byte{4}, [16]byte{5}

	inR, inW := io.Pipe()
	inReq, _ := http.NewRequest("RPC_IN_DATA", srv.URL+"/rpc/rpcproxy.dll?ex01:6004", inR)
	inReq.ContentLength = ChannelLifetime
	inDone := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(inReq)
		if err == nil {
			resp.Body.Close()
		}
		inDone <- err
	}()
	a1 := dcerpc.BuildRTS(dcerpc.RTSFlagNone, dcerpc.RTSCommand{Type: dcerpc.RTSVersion, Value: 1}, dcerpc.RTSCommand{Type: dcerpc.RTSCookie, Cookie: vc},
		dcerpc.RTSCommand{Type: dcerpc.RTSCookie, Cookie: out}, dcerpc.RTSCommand{Type: dcerpc.RTSReceiveWindowSize, Value: 100})
	if len(a1) != 76 {
		t.Fatalf("CONN/A1 is %d bytes, want 76", len(a1))
	}
	outReq, _ := http.NewRequest("RPC_OUT_DATA", srv.URL+"/rpc/rpcproxy.dll?ex01:6004", strings.NewReader(string(a1)))
	resp, err := srv.Client().Do(outReq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != ChannelLifetime {
		t.Fatalf("OUT channel: %s, Content-Length %d", resp.Status, resp.ContentLength)
	}
	next := func() []byte {
		t.Helper()
		p, err := dcerpc.ReadPDU(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a3, err := dcerpc.ParseRTS(next())
	if err != nil || a3.Expect("CONN/A3", dcerpc.RTSConnectionTimeout) != nil || a3.Cmds[0].Value != 400 {
		t.Fatalf("CONN/A3: %+v %v", a3, err)
	}
	b1 := dcerpc.BuildRTS(dcerpc.RTSFlagNone, dcerpc.RTSCommand{Type: dcerpc.RTSVersion, Value: 1}, dcerpc.RTSCommand{Type: dcerpc.RTSCookie, Cookie: vc},
		dcerpc.RTSCommand{Type: dcerpc.RTSCookie, Cookie: in}, dcerpc.RTSCommand{Type: dcerpc.RTSChannelLifetime, Value: ChannelLifetime},
		dcerpc.RTSCommand{Type: dcerpc.RTSClientKeepalive, Value: 300000}, dcerpc.RTSCommand{Type: dcerpc.RTSAssociationGroup, Cookie: [16]byte{9}})
	inW.Write(b1)
	c2, err := dcerpc.ParseRTS(next())
	if err != nil || c2.Expect("CONN/C2", dcerpc.RTSVersion, dcerpc.RTSReceiveWindowSize, dcerpc.RTSConnectionTimeout) != nil {
		t.Fatalf("CONN/C2: %+v %v", c2, err)
	}

	inW.Write(bindPDU(1))
	ack := next()
	if dcerpc.Type(ack) != dcerpc.PtypeBindAck {
		t.Fatalf("bind answered with PDU type %d", dcerpc.Type(ack))
	}
	inW.Write(requestPDU(2, 0, []byte("abcd")))
	rsp := next()
	if dcerpc.Type(rsp) != dcerpc.PtypeResponse || string(rsp[24:]) != "dcba" {
		t.Fatalf("response % x", rsp)
	}
	// The client's window is 100 bytes: the bind_ack and the response
	// filled most of it, so the fault waits for the client's
	// FlowControlAckWithDestination (MS-RPCH section 2.2.4.51).
	inW.Write(requestPDU(3, 7, nil))
	inW.Write(dcerpc.BuildRTS(dcerpc.RTSFlagOtherCmd, dcerpc.RTSCommand{Type: dcerpc.RTSDestination, Value: 0},
		dcerpc.RTSCommand{Type: dcerpc.RTSFlowControlAck, Bytes: uint32(len(ack) + len(rsp)), Value: 100, Cookie: out}))
	f := next()
	for dcerpc.Type(f) == dcerpc.PtypeRTS {
		f = next() // a PING while waiting
	}
	if dcerpc.Type(f) != dcerpc.PtypeFault || dcerpc.Fault(binary.LittleEndian.Uint32(f[24:])) != dcerpc.FaultOpRangeError {
		t.Fatalf("unknown opnum answered % x", f)
	}
	// Idle: the OUT channel sends a PING RTS PDU.
	ping, err := dcerpc.ParseRTS(next())
	if err != nil || ping.Flags != dcerpc.RTSFlagPing {
		t.Fatalf("idle OUT channel sent %+v %v", ping, err)
	}
	// The client ends the IN channel: the OUT channel ends too.
	inW.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("OUT channel after the IN channel ended: %v", err)
	}
	<-inDone
}

// TestBadConnA1: an OUT channel that does not start with CONN/A1 gets 400.
func TestBadConnA1(t *testing.T) {
	s := NewServer(Options{})
	w := httptest.NewRecorder()
	s.ServeOut(w, httptest.NewRequest("RPC_OUT_DATA", "/rpc/rpcproxy.dll", strings.NewReader(string(dcerpc.BuildRTS(dcerpc.RTSFlagPing)))))
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status %d", w.Code)
	}
}
