package ldapd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/internal/membudget"
	"github.com/exsim/exsim/servers/internal/servertest"
	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

// nested returns depth SEQUENCEs, each holding the next, around an INTEGER.
func nested(depth int) []byte {
	p := ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 1, "")
	for range depth {
		s := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		s.AppendChild(p)
		p = s
	}
	return p.Bytes()
}

func TestReadMessage(t *testing.T) {
	bind := encodeSimpleBind(1, directorytest.Reader, directorytest.Password)
	for _, tc := range []struct {
		name  string
		in    []byte
		limit int
		want  []byte
		err   error
	}{
		{"bind", bind, 1024, bind, nil},
		{"two messages, first one read", append(append([]byte{}, bind...), bind...), 1024, bind, nil},
		{"short form at the limit", []byte{0x30, 0x02, 0x05, 0x00}, 2, []byte{0x30, 0x02, 0x05, 0x00}, nil},
		{"over the limit", []byte{0x30, 0x03, 0x05, 0x00}, 2, nil, errTooLarge},
		// 2 GiB announced, nothing sent: refused from the header alone.
		{"huge long form", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}, DefaultMaxMessageBytes, nil, errTooLarge},
		{"five length octets", []byte{0x30, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00}, 1024, nil, errNotLDAP},
		{"indefinite length", []byte{0x30, 0x80, 0x00, 0x00}, 1024, nil, errNotLDAP},
		{"not a SEQUENCE", []byte("GET / HTTP/1.1\r\n"), 1024, nil, errNotLDAP},
		{"truncated content", []byte{0x30, 0x05, 0x02, 0x01}, 1024, nil, io.ErrUnexpectedEOF},
		{"empty", nil, 1024, nil, io.EOF},
	} {
		got, _, err := readMessage(bufio.NewReader(bytes.NewReader(tc.in)), tc.limit)
		if !errors.Is(err, tc.err) || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: readMessage(% x) = % x, %v; want % x, %v", tc.name, tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestReadMessageBudget: a large request draws its size from the
// process-wide budget before its octets are read, and is refused when the
// budget cannot hold it; a small one never draws.
func TestReadMessageBudget(t *testing.T) {
	defer membudget.Memory.SetMax(membudget.DefaultMemory)
	big := append([]byte{0x30, 0x83, 0x01, 0x00, 0x00}, make([]byte, 1<<16)...)
	raw, held, err := readMessage(bufio.NewReader(bytes.NewReader(big)), DefaultMaxMessageBytes)
	if err != nil || held != 1<<16 || len(raw) != len(big) {
		t.Fatalf("readMessage(64 KiB) = %d bytes, held %d, %v; want all, held 65536", len(raw), held, err)
	}
	membudget.Memory.Release(held)
	_, used, _ := membudget.Memory.Stats()
	membudget.Memory.SetMax(used + 1<<16 - 1)
	if _, _, err := readMessage(bufio.NewReader(bytes.NewReader(big)), DefaultMaxMessageBytes); !errors.Is(err, errNoMemory) {
		t.Fatalf("readMessage with the budget spent = %v, want errNoMemory", err)
	}
	small := []byte{0x30, 0x02, 0x05, 0x00}
	if _, held, err := readMessage(bufio.NewReader(bytes.NewReader(small)), 1024); err != nil || held != 0 {
		t.Fatalf("small request with the budget spent: held %d, %v", held, err)
	}
}

func TestCheckNesting(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"bind", encodeSimpleBind(1, "CN=x", "pw"), true},
		{"at the limit", nested(maxNesting), true},
		{"too deep", nested(maxNesting + 1), false},
		{"inner length overruns", []byte{0x30, 0x05, 0x30, 0x09, 0x02, 0x01, 0x01}, false},
		{"inner indefinite length", []byte{0x30, 0x04, 0x30, 0x80, 0x00, 0x00}, false},
		{"tag without length", []byte{0x30, 0x01, 0x04}, false},
		{"high tag number", []byte{0x30, 0x05, 0x1f, 0x81, 0x01, 0x01, 0x00}, true},
	} {
		if err := checkNesting(tc.in, maxNesting); (err == nil) != tc.ok {
			t.Errorf("%s: checkNesting(% x) = %v, want ok %v", tc.name, tc.in, err, tc.ok)
		}
	}
}

// TestMalformedRequestsOnTheWire sends what the framing or the decoders
// refuse: each gets a protocolError notice and the connection ends.
func TestMalformedRequestsOnTheWire(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	searchMissingFields := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opSearchRequest, nil, "")
	searchMissingFields.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, directorytest.Data, ""))
	badScope := searchRequestPacket(directorytest.Data, 7, "(objectClass=*)")
	addNotASet := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opAddRequest, nil, "")
	addNotASet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "CN=x,"+directorytest.Data, ""))
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	attr := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	attr.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "cn", ""))
	attr.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "x", ""))
	attrs.AppendChild(attr)
	addNotASet.AppendChild(attrs)
	for _, tc := range []struct {
		name string
		data []byte
		diag string
	}{
		{"inner length overruns", []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x63, 0x10, 0x00}, textDecoding},
		{"oversized length", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}, textTooLarge},
		{"search missing fields", envelope(1, searchMissingFields), textDecoding},
		{"search scope 7", envelope(1, badScope), textDecoding},
		{"add values not a SET", envelope(1, addNotASet), textDecoding},
		{"unknown operation after bind", append(encodeSimpleBind(1, directorytest.Reader, directorytest.Password),
			envelope(2, ber.Encode(ber.ClassApplication, ber.TypeConstructed, 21, nil, ""))...), textDecoding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, ts.plain)
			r.send(tc.data)
			id, op, code, diag, ok := r.read()
			if ok && op == opBindResponse {
				id, op, code, diag, ok = r.read()
			}
			if !ok || id != 0 || op != opExtendedResponse || code != directory.ResultProtocolError || diag != tc.diag {
				t.Errorf("got id=%d op=%d code=%d diag=%q ok=%v; want a protocolError notice %q", id, op, code, diag, ok, tc.diag)
			}
			r.expectClosed()
		})
	}
}

// searchRequestPacket is a SearchRequest with a raw scope value.
func searchRequestPacket(base string, scope int64, filter string) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opSearchRequest, nil, "")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, base, ""))
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, scope, ""))
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, ""))
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
	p.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, ""))
	fp, err := ldap.CompileFilter(filter)
	if err != nil {
		panic(err)
	}
	p.AppendChild(fp)
	p.AppendChild(ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, ""))
	return p
}

// TestPipelinedRequestsAndAbandon sends several requests without waiting:
// the answers come in order, abandon gets none, and an abandon of an
// unknown or finished request changes nothing (RFC 4511 section 4.11).
func TestPipelinedRequestsAndAbandon(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	r := dialRaw(t, ts.plain)
	abandon := func(id int64) *ber.Packet {
		return ber.NewInteger(ber.ClassApplication, ber.TypePrimitive, opAbandonRequest, id, "")
	}
	var stream []byte
	stream = append(stream, encodeSimpleBind(1, directorytest.Reader, directorytest.Password)...)
	stream = append(stream, request(2, abandon(1))...)
	stream = append(stream, request(3, searchRequestPacket(directorytest.Data, int64(ldap.ScopeBaseObject), "(objectClass=*)"))...)
	stream = append(stream, request(4, abandon(99))...)
	stream = append(stream, request(5, searchRequestPacket("CN=nowhere,"+directorytest.NC, int64(ldap.ScopeBaseObject), "(objectClass=*)"))...)
	r.send(stream)
	for _, want := range []struct {
		id   int64
		op   int
		code int64
	}{
		{1, opBindResponse, directory.ResultSuccess},
		{3, opSearchEntry, 0},
		{3, opSearchDone, directory.ResultSuccess},
		{5, opSearchDone, directory.ResultNoSuchObject},
	} {
		id, op, code, _, ok := r.read()
		if !ok || id != want.id || op != want.op || code != want.code {
			t.Fatalf("got id=%d op=%d code=%d ok=%v; want id=%d op=%d code=%d", id, op, code, ok, want.id, want.op, want.code)
		}
	}
	r.send(request(6, ber.Encode(ber.ClassApplication, ber.TypePrimitive, opUnbindRequest, nil, "")))
	r.expectClosed()
}

// panicking is a Backend whose searches panic.
type panicking struct{ *directory.Tree }

func (panicking) Search(string, directory.Scope, func(*directory.Entry) bool) error {
	panic("boom")
}

// TestHandlerPanicIsAnsweredAndContained: a request whose handler panics
// gets AD's DIR_ERROR, and the connection and the server go on.
func TestHandlerPanicIsAnsweredAndContained(t *testing.T) {
	tree := directorytest.Tree(t)
	ts := startServer(t, panicking{tree}, func(o *Options) {
		o.Authorizer = nil // read-only for every bound account: no ACL lookups
		o.Authenticator = directory.NewDirectoryAuthenticator(tree, nil)
	})
	c := bound(t, ts.dialPlain(t), directorytest.Reader)
	_, err := c.Search(ldap.NewSearchRequest(directorytest.Data, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil))
	if resultCode(err) != ldap.LDAPResultOther || !strings.Contains(diagnostic(err), "DIR_ERROR") {
		t.Errorf("Search on a panicking backend = %v, want other/DIR_ERROR", err)
	}
	if err := c.Bind(directorytest.Reader, directorytest.Password); err != nil {
		t.Errorf("Bind after the panic = %v", err)
	}
}

// TestServesTheListenerItIsHanded checks that Serve uses the listener it is
// given and opens none of its own: the process listens on exactly one more
// TCP socket while the server runs.
func TestServesTheListenerItIsHanded(t *testing.T) {
	if _, err := os.Stat("/proc/self/net/tcp"); err != nil {
		t.Skip("no /proc/self/net/tcp")
	}
	before := listeningSockets(t)
	tree := directorytest.Tree(t)
	srv, err := NewServer(tree, Options{Authenticator: directory.NewDirectoryAuthenticator(tree, nil)})
	if err != nil {
		t.Fatal(err)
	}
	l := servertest.Listen(t)
	servertest.Serve(t, srv, l, ErrServerClosed)
	c := bound(t, dialURL(t, "ldap://"+l.Addr().String()), directorytest.Reader)
	if _, err := c.Search(ldap.NewSearchRequest(directorytest.Data, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil)); err != nil {
		t.Fatalf("Search = %v", err)
	}
	if got := listeningSockets(t); got != before+1 {
		t.Errorf("listening sockets: %d before Serve, %d while serving; want exactly one more (the handed listener)", before, got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
}

// listeningSockets counts the TCP sockets in LISTEN state that this process
// holds open.
func listeningSockets(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) > 9 && fields[3] == "0A" && inodes[fields[9]] {
				n++
			}
		}
	}
	return n
}

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
