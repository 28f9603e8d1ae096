package ldapd

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/servers/internal/servertest"
	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

// rawConn is a clear-text connection for hand-made messages.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := servertest.Dial(t, addr, nil)
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// read returns the next message's ID, protocolOp tag, result code and
// diagnostic; ok false at end of stream.
func (r *rawConn) read() (id int64, op int, code int64, diag string, ok bool) {
	r.t.Helper()
	p, err := ber.ReadPacket(r.br)
	if err != nil {
		return 0, 0, 0, "", false
	}
	id, _ = p.Children[0].Value.(int64)
	res := p.Children[1]
	op = int(res.Tag)
	if len(res.Children) >= 3 {
		code, _ = res.Children[0].Value.(int64)
		diag = res.Children[2].Data.String()
	}
	return id, op, code, diag, true
}

// expectClosed asserts the server closes the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_, err := r.br.ReadByte()
	if !errors.Is(err, io.EOF) {
		r.t.Errorf("connection not closed by the server: %v", err)
	}
}

func request(id int64, op *ber.Packet) []byte { return envelope(id, op) }

// encodeSimpleBind encodes a version 3 simple BindRequest.
func encodeSimpleBind(id int64, dn, password string) []byte {
	r := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opBindRequest, nil, "")
	r.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	r.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, ""))
	return envelope(id, r)
}

func TestProtocolErrorsGetNotices(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t), func(o *Options) { o.MaxMessageBytes = 1024 })
	for _, tc := range []struct {
		name string
		data []byte
		diag string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), textDecoding},
		{"indefinite length", []byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00}, textDecoding},
		{"too large", []byte{0x30, 0x84, 0x00, 0x10, 0x00, 0x00}, textTooLarge},
		{"message ID zero", envelope(0, ber.Encode(ber.ClassApplication, ber.TypeConstructed, opSearchRequest, nil, "")), textDecoding},
		{"not application", envelope(1, ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 1, "")), textDecoding},
		{"unknown operation", envelope(1, ber.Encode(ber.ClassApplication, ber.TypeConstructed, 30, nil, "")), textDecoding},
		{"undecodable search", envelope(1, ber.Encode(ber.ClassApplication, ber.TypeConstructed, opSearchRequest, nil, "")), textDecoding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, ts.plain)
			r.send(tc.data)
			id, op, code, diag, ok := r.read()
			if !ok || id != 0 || op != opExtendedResponse || code != directory.ResultProtocolError || diag != tc.diag {
				t.Errorf("after %s: got id=%d op=%d code=%d diag=%q ok=%v; want a protocolError notice %q", tc.name, id, op, code, diag, ok, tc.diag)
			}
			r.expectClosed()
		})
	}
}

func TestRefusalsKeepTheConnection(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	bindV2 := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opBindRequest, nil, "")
	bindV2.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 2, ""))
	bindV2.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	bindV2.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "", ""))

	sasl := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opBindRequest, nil, "")
	sasl.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
	sasl.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	mech := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "")
	mech.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "GSSAPI", ""))
	sasl.AppendChild(mech)

	startTLS := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opExtendedRequest, nil, "")
	startTLS.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", ""))

	compare := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opCompareRequest, nil, "")
	compare.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, directorytest.Data, ""))

	abandon := ber.NewInteger(ber.ClassApplication, ber.TypePrimitive, opAbandonRequest, 1, "")

	r := dialRaw(t, ts.plain)
	for _, tc := range []struct {
		name   string
		id     int64
		op     *ber.Packet
		wantOp int
		code   int64
		diag   string
	}{
		{"bind v2", 1, bindV2, opBindResponse, directory.ResultProtocolError, textVersion},
		{"sasl", 2, sasl, opBindResponse, directory.ResultAuthMethodNotSupported, textSASL},
		{"starttls", 3, startTLS, opExtendedResponse, directory.ResultProtocolError, textUnknownExtOp},
		{"compare", 4, compare, opCompareRequest + 1, directory.ResultUnwillingToPerform, directory.UnwillingToPerform().Diagnostic},
	} {
		r.send(request(tc.id, tc.op))
		if tc.name == "compare" {
			r.send(request(9, abandon)) // no response to abandon
		}
		id, op, code, diag, ok := r.read()
		if !ok || id != tc.id || op != tc.wantOp || code != tc.code || diag != tc.diag {
			t.Errorf("%s: got id=%d op=%d code=%d diag=%q ok=%v; want id=%d op=%d code=%d diag=%q", tc.name, id, op, code, diag, ok, tc.id, tc.wantOp, tc.code, tc.diag)
		}
	}
	// The connection is still usable.
	r.send(encodeSimpleBind(10, directorytest.Reader, directorytest.Password))
	if id, op, code, diag, ok := r.read(); !ok || id != 10 || op != opBindResponse || code != directory.ResultSuccess || diag != "" {
		t.Errorf("bind after refusals: id=%d op=%d code=%d diag=%q ok=%v; want success with an empty diagnostic", id, op, code, diag, ok)
	}
	unbind := ber.Encode(ber.ClassApplication, ber.TypePrimitive, opUnbindRequest, nil, "")
	r.send(request(11, unbind))
	r.expectClosed()
}

func TestIdleConnectionIsClosed(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t), func(o *Options) { o.IdleTimeout = 100 * time.Millisecond })
	r := dialRaw(t, ts.plain)
	r.send(encodeSimpleBind(1, directorytest.Reader, directorytest.Password))
	if _, _, code, _, ok := r.read(); !ok || code != directory.ResultSuccess {
		t.Fatalf("bind: code=%d ok=%v", code, ok)
	}
	r.expectClosed()

	// A client that never finishes its TLS handshake is dropped too.
	ts2 := startServer(t, directorytest.Tree(t), func(o *Options) { o.HandshakeTimeout = 100 * time.Millisecond })
	r2 := dialRaw(t, ts2.ldaps)
	r2.expectClosed()
}

func TestShutdownSendsNoticeToIdleClients(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	r := dialRaw(t, ts.plain)
	r.send(encodeSimpleBind(1, directorytest.Reader, directorytest.Password))
	if _, _, code, _, ok := r.read(); !ok || code != directory.ResultSuccess {
		t.Fatalf("bind: code=%d ok=%v", code, ok)
	}
	if err := ts.srv.Shutdown(shutdownCtx(t)); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	id, op, code, _, ok := r.read()
	if !ok || id != 0 || op != opExtendedResponse || code != directory.ResultUnavailable {
		t.Errorf("after Shutdown: id=%d op=%d code=%d ok=%v, want an unavailable notice", id, op, code, ok)
	}
	r.expectClosed()
	if _, err := net.DialTimeout("tcp", ts.plain, time.Second); err == nil {
		t.Errorf("listener still accepting after Shutdown")
	}
}

func TestMaxConnections(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t), func(o *Options) { o.MaxConnections = 1 })
	first := bound(t, ts.dialPlain(t), directorytest.Reader)
	second := dialRaw(t, ts.plain)
	second.expectClosed()
	if _, err := first.Search(ldap.NewSearchRequest(directorytest.Data, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil)); err != nil {
		t.Errorf("first connection broken: %v", err)
	}
}
