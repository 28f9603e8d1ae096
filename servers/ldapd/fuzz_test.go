package ldapd

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/internal/fuzzseed"
	"github.com/exsim/exsim/servers/internal/servertest"
	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

// fuzzSeeds are whole client byte streams.
func fuzzSeeds() [][]byte {
	search := func(filter string) []byte {
		req := ldap.NewSearchRequest(directorytest.Data, ldap.ScopeWholeSubtree, 0, 0, 0, false, filter, []string{"cn"}, nil)
		p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opSearchRequest, nil, "")
		p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, req.BaseDN, ""))
		p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(req.Scope), ""))
		p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, ""))
		p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
		p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
		p.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, ""))
		fp, _ := ldap.CompileFilter(filter)
		p.AppendChild(fp)
		attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		attrs.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "cn", ""))
		p.AppendChild(attrs)
		return envelope(2, p)
	}
	bind := encodeSimpleBind(1, directorytest.Writer, directorytest.Password)
	modify := func() []byte {
		p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opModifyRequest, nil, "")
		p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, directorytest.Data, ""))
		changes := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		ch := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		ch.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 2, ""))
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "description", ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "fuzz", ""))
		pa.AppendChild(set)
		ch.AppendChild(pa)
		changes.AppendChild(ch)
		p.AppendChild(changes)
		return envelope(3, p)
	}
	join := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return [][]byte{
		bind,
		join(bind, search("(&(objectClass=*)(|(cn=a*)(!(mail=x))))")),
		join(bind, modify()),
		join(bind, search("(cn=*)"), modify(), encodeSimpleBind(4, "", "")),
		[]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
		[]byte{0x30, 0x03, 0x02, 0x01},
		[]byte("\x16\x03\x01\x00\x05hello"),
		encodeNotice(2, "x"),
	}
}

// FuzzHandler writes arbitrary bytes to a server connection: the server must
// neither crash nor hang, and must go on serving.
func FuzzHandler(f *testing.F) {
	ts := startServer(f, directorytest.Tree(f), func(o *Options) {
		o.MaxMessageBytes = 64 << 10
		o.IdleTimeout = 2 * time.Second
	})
	for _, s := range fuzzSeeds() {
		fuzzseed.Add(f, s)
	}
	f.Cleanup(func() {
		c, err := ldap.DialURL("ldap://" + ts.plain)
		if err != nil {
			f.Errorf("server gone after fuzzing: %v", err)
			return
		}
		defer c.Close()
		if err := c.Bind(directorytest.Reader, directorytest.Password); err != nil {
			f.Errorf("server broken after fuzzing: %v", err)
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := servertest.Dial(t, ts.plain, nil)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(data); err != nil && !isReset(err) {
			t.Fatalf("write: %v", err)
		}
		c.(*net.TCPConn).CloseWrite()
		// After our end of stream the server must answer what it can and
		// close; a read that times out is a hang.
		t0 := time.Now()
		if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
			t.Fatalf("server did not close the connection: %v", err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("server took %v to answer and close", d)
		}
	})
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// FuzzParseMessage attacks the server's own decoding of requests: framing,
// envelope, controls and every request body.
func FuzzParseMessage(f *testing.F) {
	for _, s := range fuzzSeeds() {
		fuzzseed.Add(f, s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := parseMessage(raw)
		if err != nil {
			return
		}
		m.controls()
		switch req := m.request(); m.op {
		case opBindRequest:
			checkBind(req)
		case opSearchRequest:
			if r, err := decodeSearch(req); err == nil {
				ldap.DecompileFilter(r.filter)
			}
		case opAddRequest, opModifyRequest:
			if len(req.Children) == 2 {
				for _, p := range req.Children[1].Children {
					attribute(p)
				}
			}
		}
	})
}

// FuzzFilter compiles and evaluates arbitrary filter strings.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"(objectClass=*)", "(&(a=b)(|(c=d*e*f)(!(g>=1))))", "(cn=\\2a\\28)", "(x:dn:1.2.3:=y)", "(a~=b)"} {
		fuzzseed.Add(f, s)
	}
	e := directorytest.Entry("CN=a,OU=b", "cn", "a", "mail", "a@b.c", "n", "5")
	e.Set("distinguishedName", e.DN)
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := compileFilter(s)
		if err != nil {
			var le *directory.Error
			if !errors.As(err, &le) || le.Code != directory.ResultProtocolError {
				t.Fatalf("compileFilter(%q) = %v, want protocolError", s, err)
			}
			return
		}
		flt.Matches(e)
	})
}
