package httpd

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/dcerpc"
	"github.com/exsim/exsim/internal/fuzzseed"
	"github.com/exsim/exsim/internal/mapi"
	"github.com/exsim/exsim/internal/mapiclient"
	"github.com/exsim/exsim/internal/rpchclient"
)

// ndrConnectEx is the request stub of EcDoConnectEx for dn.
func ndrConnectEx(dn string) []byte {
	c := mapi.NewEncoder()
	n, zero := uint32(len(dn)+1), uint32(0)
	c.U32(&n)
	c.U32(&zero)
	c.U32(&n)
	c.Fixed(append([]byte(dn), 0))
	for _, v := range []uint32{0, 0, 0, 1252, 0x409, 0x409, 0xFFFFFFFF} {
		c.Align(4)
		c.U32(&v)
	}
	for _, v := range []uint16{1, 16, 0x8000 | 4600, 1} { // usFCanConvertCodePages, rgwClientVersion
		c.U16(&v)
	}
	for _, v := range []uint32{0, 0, 0, maxAuxOut} { // pulTimeStamp, rgbAuxIn (empty), cbAuxIn, pcbAuxOut
		c.Align(4)
		c.U32(&v)
	}
	return c.Bytes()
}

// ndrRpcExt2 is the request stub of EcDoRpcExt2 carrying rgbIn.
func ndrRpcExt2(h [20]byte, rgbIn []byte) []byte {
	c := mapi.NewEncoder()
	c.Fixed(h[:])
	flags, n := uint32(0), uint32(len(rgbIn))
	c.U32(&flags)
	c.U32(&n)
	c.Fixed(rgbIn)
	for _, v := range []uint32{n, maxRgbOut, 0, 0, maxAuxOut} { // cbIn, pcbOut, rgbAuxIn, cbAuxIn, pcbAuxOut
		c.Align(4)
		c.U32(&v)
	}
	return c.Bytes()
}

// TestEMSMDBOverRPC: EcDoConnectEx, EcDoRpcExt2 carrying RopLogon and an
// Inbox listing, and EcDoDisconnect, at the DCE/RPC interface the
// Outlook Anywhere channels of port 6001 reach.
func TestEMSMDBOverRPC(t *testing.T) {
	fs := newFakeStore()
	h := NewHandler(fs, Options{FQDN: labFQDN})
	iface := h.emsmdbInterface()
	ctx := dcerpc.WithAccount(context.Background(), "alice@contoso.com")
	alice, _ := fs.FindUser(ctx, "alice@contoso.com")
	dn := legacyDN(h.cfg, alice)

	out, err := iface.Call(ctx, opEcDoConnectEx, ndrConnectEx("/o=Contoso/cn=Recipients/cn=bob"))
	if err != nil {
		t.Fatal(err)
	}
	if code := mapi.ErrorCode(le32(out[len(out)-4:])); code != mapi.ErrUnknownUser {
		t.Errorf("EcDoConnectEx with bob's DN as alice = %v, want ecUnknownUser", code)
	}
	out, err = iface.Call(ctx, opEcDoConnectEx, ndrConnectEx(dn))
	if err != nil {
		t.Fatal(err)
	}
	c := mapi.NewDecoder(out)
	var cxh [20]byte
	c.Fixed(cxh[:])
	var polls, retry, delay, ref, maxCount, offset, actual uint32
	var icxr uint16
	for _, p := range []*uint32{&polls, &retry, &delay} {
		c.U32(p)
	}
	c.U16(&icxr)
	c.Align(4)
	c.U32(&ref)
	c.U32(&maxCount)
	c.U32(&offset)
	c.U32(&actual)
	prefix := make([]byte, actual)
	c.Fixed(prefix)
	if code := mapi.ErrorCode(le32(out[len(out)-4:])); code != 0 || cxh == ([20]byte{}) || polls != 60000 ||
		string(prefix[:len(prefix)-1]) != h.cfg.dnPrefix() {
		t.Fatalf("EcDoConnectEx = %v, handle %x, polls %d, prefix %q", code, cxh, polls, prefix)
	}

	cols := []mapi.PropTag{mapi.PidTagSubject, mapi.PidTagMessageDeliveryTime}
	rops := mapi.EncodeROPs([]mapi.ROP{
		&mapi.LogonRequest{LogonFlags: mapi.LogonPrivate, OpenFlags: mapi.OpenUsePerMDBReplIDMapping | mapi.OpenHomeLogon, Essdn: dn},
		&mapi.OpenFolderRequest{OutputHandleIndex: 1, FolderID: specialFIDs()[mapi.FolderInbox]},
		&mapi.TableRequest{ID: mapi.RopIDGetContentsTable, InputHandleIndex: 1, OutputHandleIndex: 2},
		&mapi.SetColumnsRequest{InputHandleIndex: 2, Columns: cols},
		&mapi.QueryRowsRequest{InputHandleIndex: 2, ForwardRead: true, RowCount: 10},
	})
	rgbIn, _ := mapi.JoinExt((&mapi.ROPBuffer{ROPs: rops, Handles: []uint32{0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}}).Bytes())
	out, err = iface.Call(ctx, opEcDoRpcExt2, ndrRpcExt2(cxh, rgbIn))
	if err != nil {
		t.Fatal(err)
	}
	if code := mapi.ErrorCode(le32(out[len(out)-4:])); code != 0 {
		t.Fatalf("EcDoRpcExt2 = %v", code)
	}
	c = mapi.NewDecoder(out)
	c.Fixed(make([]byte, 20+4)) // pcxh, pulFlags
	c.U32(&maxCount)
	c.U32(&offset)
	c.U32(&actual)
	rgbOut := make([]byte, actual)
	c.Fixed(rgbOut)
	payload, err := mapi.SplitExt(rgbOut)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := mapi.ParseROPBuffer(payload)
	if err != nil {
		t.Fatal(err)
	}
	logon, qr := &mapi.LogonResponse{}, &mapi.QueryRowsResponse{Columns: cols}
	err = mapi.DecodeResponses(buf.ROPs, []mapi.ROP{logon, &mapi.OpenFolderResponse{}, &mapi.TableResponse{ID: mapi.RopIDGetContentsTable},
		&mapi.SetColumnsResponse{}, qr})
	if err != nil || logon.ReturnValue != 0 || logon.FolderIDs[mapi.FolderInbox] != specialFIDs()[mapi.FolderInbox] || len(qr.Rows) != 3 {
		t.Fatalf("EcDoRpcExt2 responses: logon %+v, %d rows, %v", logon, len(qr.Rows), err)
	}

	bob := dcerpc.WithAccount(context.Background(), "bob@contoso.com")
	if _, err := iface.Call(bob, opEcDoRpcExt2, ndrRpcExt2(cxh, rgbIn)); !errors.Is(err, dcerpc.FaultContext) {
		t.Errorf("EcDoRpcExt2 on alice's handle as bob = %v, want a context fault", err)
	}
	if _, err := iface.Call(ctx, opEcDoDisconnect, cxh[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := iface.Call(ctx, opEcDoRpcExt2, ndrRpcExt2(cxh, rgbIn)); !errors.Is(err, dcerpc.FaultContext) {
		t.Errorf("EcDoRpcExt2 after EcDoDisconnect = %v, want a context fault", err)
	}
	if _, err := iface.Call(ctx, opEcDoConnectEx, []byte{1, 2, 3}); !errors.Is(err, dcerpc.FaultNDR) {
		t.Errorf("EcDoConnectEx with a truncated stub = %v, want an NDR fault", err)
	}
}

// TestEMSMDBClientOverRPCOverHTTP is the whole Outlook Anywhere path to
// the mailbox with the repository's clients: the RPC_IN_DATA and
// RPC_OUT_DATA channels to port 6001 through /rpc/rpcproxy.dll (NTLM),
// an NTLM bind to EMSMDB 0.81, EcDoConnectEx (a DN that is not the
// account's first), RopLogon and table ROPs in EcDoRpcExt2, and
// EcDoDisconnect.
func TestEMSMDBClientOverRPCOverHTTP(t *testing.T) {
	ts, fs := mapiServer(t, Options{})
	ctx := t.Context()
	c, err := rpchclient.Dial(ctx, rpchclient.Options{
		Dial: func(context.Context) (net.Conn, error) { return tlsDial(ts) },
		Host: ts.host, Server: labFQDN, Port: rpcPortMailbox, User: "alice@contoso.com", Password: "P@ssw0rd"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(ctx, dcerpc.UUIDBytes(mapi.EMSMDBUUID), mapi.EMSMDBMajor, mapi.EMSMDBMinor); err != nil {
		t.Fatal(err)
	}
	bob, _ := fs.FindUser(ctx, "bob@contoso.com")
	if _, err := mapiclient.DialRPC(ctx, c, legacyDN(ts.handler.cfg, bob)); !errors.Is(err, mapi.ErrUnknownUser) {
		t.Errorf("DialRPC with bob's DN as alice = %v, want ecUnknownUser", err)
	}
	alice, _ := fs.FindUser(ctx, "alice@contoso.com")
	s, err := mapiclient.DialRPC(ctx, c, legacyDN(ts.handler.cfg, alice))
	if err != nil {
		t.Fatal(err)
	}
	if s.DisplayName != "Alice Wood" || s.MaxPollingInterval.Milliseconds() != mapiMaxPollingInterval {
		t.Errorf("EcDoConnectEx: display name %q, polls max %s", s.DisplayName, s.MaxPollingInterval)
	}
	inbox, err := s.Inbox(ctx)
	if err != nil || len(inbox) != 3 {
		t.Fatalf("Inbox over RPC = %d rows, %v; want the three fake messages", len(inbox), err)
	}
	folders, err := s.Folders(ctx)
	if err != nil || !slices.ContainsFunc(folders, func(f mapiclient.Folder) bool { return f.Name == "Sent Items" }) {
		t.Errorf("Folders over RPC = %+v, %v; want the special folders", folders, err)
	}
	if _, err := s.ResolveNames(ctx, "bob"); err == nil || !strings.Contains(err.Error(), "MAPI over HTTP") {
		t.Errorf("ResolveNames over RPC = %v, want a MAPI over HTTP only error", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inbox(ctx); !errors.Is(err, dcerpc.FaultContext) {
		t.Errorf("Inbox after EcDoDisconnect = %v, want a context fault", err)
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// FuzzEMSMDBCall attacks the NDR decoding of the EMSMDB operations: no
// stub may panic, and a stub that decodes answers a well-formed stub or
// a fault.
func FuzzEMSMDBCall(f *testing.F) {
	dn := "/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=5a0a1d3e4b6f4a4e9d7c2f1e0c9b8a71-alice"
	rops := mapi.EncodeROPs([]mapi.ROP{&mapi.LogonRequest{LogonFlags: mapi.LogonPrivate, Essdn: dn}})
	rgbIn, _ := mapi.JoinExt((&mapi.ROPBuffer{ROPs: rops, Handles: []uint32{0xFFFFFFFF}}).Bytes())
	fuzzseed.Add(f, uint8(opEcDoConnectEx), ndrConnectEx(dn))
	fuzzseed.Add(f, uint8(opEcDoRpcExt2), ndrRpcExt2([20]byte{}, rgbIn))
	fuzzseed.Add(f, uint8(opEcDoDisconnect), make([]byte, 20))
	h := NewHandler(newFakeStore(), Options{FQDN: labFQDN})
	iface := h.emsmdbInterface()
	ctx := dcerpc.WithAccount(context.Background(), "alice@contoso.com")
	f.Fuzz(func(t *testing.T, op uint8, stub []byte) {
		out, err := iface.Call(ctx, uint16(op), stub)
		var fault dcerpc.Fault
		if err != nil && !errors.As(err, &fault) {
			t.Fatalf("Call(%d) = %v, want a Fault", op, err)
		}
		if err == nil && len(out) < 4 {
			t.Fatalf("Call(%d) answered %x", op, out)
		}
	})
}
