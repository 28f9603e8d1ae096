package pop3d

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const (
	msg1 = "From: bob@fabrikam.com\r\nTo: alice@contoso.com\r\nSubject: one\r\n\r\nHello.\r\n.dot line\r\nbye\r\n"
	msg2 = "Subject: two\n\nline1\nline2\n.\nline4\n" // bare LF, a lone dot
	msg3 = "Subject: three\r\n\r\nno final newline"
)

// The sizes as sent (CRLF, before stuffing).
var (
	size1 = len(msg1)
	size2 = len(strings.ReplaceAll(msg2, "\n", "\r\n"))
	size3 = len(msg3) + 2
)

func aliceStore() *memStore {
	s := newMemStore()
	s.addUser("alice", "P@ssw0rd", msg1, msg2, msg3)
	s.addUser("bob", "hunter2")
	return s
}

type step struct {
	send string
	want []string // every reply line, the "." of a multi-line reply included
}

// run sends each step and checks its reply lines; after a positive STLS
// it upgrades the connection, as a client does.
func run(t *testing.T, c *popClient, steps []step) {
	t.Helper()
	for _, s := range steps {
		c.send(s.send)
		for i, w := range s.want {
			if got := c.line(); got != w {
				t.Fatalf("%s: reply line %d = %q, want %q\ntranscript:\n%s", s.send, i, got, w, strings.Join(c.log, "\n"))
			}
		}
		if strings.EqualFold(s.send, "STLS") && len(s.want) > 0 && strings.HasPrefix(s.want[0], "+OK") {
			c.starttls()
		}
	}
}

func l(lines ...string) []string { return lines }

// dialogue is one case of the table tests: a named sequence of steps on a
// fresh session.
type dialogue struct {
	name  string
	steps []step
}

const (
	okLogon = "+OK User successfully logged on."
	okQuit  = "+OK Microsoft Exchange Server POP3 server signing off."
	eState  = "-ERR Command is not valid in this state."
	eProto  = "-ERR Protocol error. 14"
	eRange  = "-ERR The specified message is out of range."
	eDel    = "-ERR The specified message has been deleted."
	eLogon  = "-ERR Logon failure: unknown user name or bad password."
)

var login = []step{{"USER alice", l("+OK")}, {"PASS P@ssw0rd", l(okLogon)}}

// Exchange's CAPA before STLS on a clear-text listener, and after TLS.
var (
	capaClear = l("+OK", "TOP", "UIDL", "STLS", ".")
	capaTLS   = l("+OK", "TOP", "UIDL", "SASL NTLM GSSAPI PLAIN", "USER", ".")
)

// TestCommands runs every command in every state against a clear-text
// server that allows plain-text logons.
func TestCommands(t *testing.T) {
	tests := []dialogue{
		{"quit in authorization", []step{{"QUIT", l(okQuit)}}},
		{"noop before logon", []step{{"NOOP", l(eState)}}},
		{"transaction commands before logon", []step{
			{"STAT", l(eState)}, {"LIST", l(eState)}, {"UIDL", l(eState)}, {"RETR 1", l(eState)},
			{"TOP 1 0", l(eState)}, {"DELE 1", l(eState)}, {"RSET", l(eState)},
		}},
		{"pass without user", []step{{"PASS x", l(eState)}}},
		{"unknown and apop", []step{{"HELO", l(eProto)}, {"APOP alice 0123", l(eProto)}, {"XYZZY", l(eProto)}}},
		{"lower case keywords", []step{{"user alice", l("+OK")}, {"pass P@ssw0rd", l(okLogon)}, {"stat", l("+OK 3 " + itoa(size1+size2+size3))}}},
		{"user without name", []step{{"USER", l(eProto)}, {"USER a b", l(eProto)}}},
		{"bad password", []step{{"USER alice", l("+OK")}, {"PASS nope", l(eLogon)}, {"PASS P@ssw0rd", l(eState)}}},
		{"unknown user", []step{{"USER mallory", l("+OK")}, {"PASS P@ssw0rd", l(eLogon)}}},
		{"password with spaces", []step{{"USER carol", l("+OK")}, {"PASS correct horse battery", l(okLogon)}}},
		{"stat list uidl", append(login[:2:2],
			step{"STAT", l("+OK 3 " + itoa(size1+size2+size3))},
			step{"LIST", l("+OK 3 "+itoa(size1+size2+size3), "1 "+itoa(size1), "2 "+itoa(size2), "3 "+itoa(size3), ".")},
			step{"LIST 2", l("+OK 2 " + itoa(size2))},
			step{"LIST 4", l(eRange)},
			step{"LIST 0", l(eRange)},
			step{"LIST x", l(eProto)},
			step{"LIST -1", l(eProto)},
			step{"LIST 1 2", l(eProto)},
			step{"UIDL", l("+OK", "1 alice-1", "2 alice-2", "3 alice-3", ".")},
			step{"UIDL 3", l("+OK 3 alice-3")},
			step{"UIDL 9", l(eRange)},
		)},
		{"retr stuffs and normalises", append(login[:2:2],
			step{"RETR 1", l("+OK", "From: bob@fabrikam.com", "To: alice@contoso.com", "Subject: one", "", "Hello.", "..dot line", "bye", ".")},
			step{"RETR 2", l("+OK", "Subject: two", "", "line1", "line2", "..", "line4", ".")},
			step{"RETR 3", l("+OK", "Subject: three", "", "no final newline", ".")},
			step{"RETR", l(eProto)},
			step{"RETR 4", l(eRange)},
		)},
		{"top", append(login[:2:2],
			step{"TOP 1 0", l("+OK", "From: bob@fabrikam.com", "To: alice@contoso.com", "Subject: one", "", ".")},
			step{"TOP 1 2", l("+OK", "From: bob@fabrikam.com", "To: alice@contoso.com", "Subject: one", "", "Hello.", "..dot line", ".")},
			step{"TOP 2 99", l("+OK", "Subject: two", "", "line1", "line2", "..", "line4", ".")},
			step{"TOP 1", l(eProto)},
			step{"TOP 1 x", l(eProto)},
			step{"TOP 5 1", l(eRange)},
		)},
		{"dele hides the message", append(login[:2:2],
			step{"DELE 2", l("+OK Marked to be deleted.")},
			step{"DELE 2", l(eDel)},
			step{"STAT", l("+OK 2 " + itoa(size1+size3))},
			step{"LIST", l("+OK 2 "+itoa(size1+size3), "1 "+itoa(size1), "3 "+itoa(size3), ".")},
			step{"LIST 2", l(eDel)},
			step{"UIDL", l("+OK", "1 alice-1", "3 alice-3", ".")},
			step{"UIDL 2", l(eDel)},
			step{"RETR 2", l(eDel)},
			step{"TOP 2 1", l(eDel)},
			step{"RSET", l("+OK")},
			step{"STAT", l("+OK 3 " + itoa(size1+size2+size3))},
			step{"LIST 2", l("+OK 2 " + itoa(size2))},
		)},
		{"noop and state-bound commands after logon", append(login[:2:2],
			step{"NOOP", l("+OK")},
			step{"USER alice", l(eState)},
			step{"PASS x", l(eState)},
			step{"AUTH PLAIN", l(eState)},
			step{"STLS", l(eState)},
			step{"QUIT", l(okQuit)},
		)},
		{"empty maildrop", []step{{"USER bob", l("+OK")}, {"PASS hunter2", l(okLogon)},
			{"STAT", l("+OK 0 0")}, {"LIST", l("+OK 0 0", ".")}, {"UIDL", l("+OK", ".")}, {"RETR 1", l(eRange)}}},
		{"double space and trailing space", []step{{"USER  alice", l(eProto)}, {"USER alice ", l("+OK")}, {"PASS P@ssw0rd", l(okLogon)}, {"STAT ", l("+OK 3 " + itoa(size1+size2+size3))}}},
		{"control characters", []step{{"USER al\x01ice", l(eProto)}, {"\x00", l(eProto)}, {"", l(eProto)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := aliceStore()
			store.addUser("carol", "correct horse battery")
			o := testOptions(t, store)
			o.LoginType = PlainTextLogin
			addr, _ := startServer(t, o, false)
			c := dialPOP(t, addr, false)
			if g := c.line(); g != "+OK The Microsoft Exchange POP3 service is ready." {
				t.Fatalf("greeting = %q", g)
			}
			run(t, c, tt.steps)
		})
	}
}

// TestSecureLogin: with Exchange's default, plain-text logons need TLS.
func TestSecureLogin(t *testing.T) {
	c := serveAndGreet(t, testOptions(t, aliceStore()), false)
	run(t, c, []step{
		{"CAPA", capaClear},
		{"USER alice", l(eState)},
		{"PASS P@ssw0rd", l(eState)},
		{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(eState)},
		{"STLS", l("+OK Begin TLS negotiation.")},
		{"CAPA", capaTLS},
		{"STLS", l(eState)},
		{"USER alice", l("+OK")},
		{"PASS P@ssw0rd", l(okLogon)},
		{"CAPA", capaTLS},
		{"QUIT", l(okQuit)},
	})
}

// TestImplicitTLS: on a TLS listener (995/1995) the session starts
// encrypted: no STLS, logons allowed.
func TestImplicitTLS(t *testing.T) {
	c := serveAndGreet(t, testOptions(t, aliceStore()), true)
	run(t, c, []step{
		{"CAPA", capaTLS},
		{"STLS", l(eState)},
		{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}, // \0alice\0P@ssw0rd
		{"STAT", l("+OK 3 " + itoa(size1+size2+size3))},
	})
}

// TestNoTLSConfig: without a certificate STLS is neither offered nor known.
func TestNoTLSConfig(t *testing.T) {
	o := testOptions(t, aliceStore())
	o.TLSConfig = nil
	c := serveAndGreet(t, o, false)
	run(t, c, []step{{"CAPA", l("+OK", "TOP", "UIDL", ".")}, {"STLS", l(eProto)}})
}

func TestAuthPlain(t *testing.T) {
	tests := []dialogue{
		{"initial response", []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}}},
		{"authzid equal to authcid", []step{{"AUTH PLAIN YWxpY2UAYWxpY2UAUEBzc3cwcmQ=", l(okLogon)}}},
		{"authzid of another user", []step{{"AUTH PLAIN Ym9iAGFsaWNlAFBAc3N3MHJk", l(eLogon)}}},
		{"continuation", []step{{"AUTH PLAIN", l("+ ")}, {"AGFsaWNlAFBAc3N3MHJk", l(okLogon)}}},
		{"lower-case mechanism", []step{{"AUTH plain AGFsaWNlAFBAc3N3MHJk", l(okLogon)}}},
		{"canceled", []step{{"AUTH PLAIN", l("+ ")}, {"*", l("-ERR Authentication canceled.")}, {"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}}},
		{"bad base64", []step{{"AUTH PLAIN !!!", l(eLogon)}, {"AUTH PLAIN", l("+ ")}, {"@@@", l(eLogon)}}},
		{"empty initial response", []step{{"AUTH PLAIN =", l(eLogon)}}},
		{"wrong password", []step{{"AUTH PLAIN AGFsaWNlAHdyb25n", l(eLogon)}}},
		{"ntlm advertised, not provided by the backend", []step{{"AUTH NTLM", l("-ERR Unsupported authentication mechanism.")}, {"AUTH LOGIN", l("-ERR Unsupported authentication mechanism.")}}},
		{"gssapi advertised, fails as a logon", []step{{"AUTH GSSAPI", l("+ ")}, {"YIIBhwYJ", l(eLogon)}}},
		{"no mechanism", []step{{"AUTH", l(eProto)}}},
		{"unknown mechanism with initial response", []step{{"AUTH X-FOO !!!", l("-ERR Unsupported authentication mechanism.")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serveAndGreet(t, testOptions(t, aliceStore()), true)
			run(t, c, tt.steps)
		})
	}
}

// saslStore adds a toy "X-TOKEN" mechanism through MechanismBackend.
type saslStore struct{ *memStore }

func (s saslStore) Mechanism(ctx context.Context, name string) (SASLExchange, bool) {
	if name != "X-TOKEN" {
		return nil, false
	}
	return &tokenExchange{s: s.memStore}, true
}

type tokenExchange struct {
	s    *memStore
	step int
}

func (e *tokenExchange) Next(resp []byte) ([]byte, bool, error) {
	e.step++
	switch {
	case e.step == 1 && resp == nil:
		return []byte("token?"), false, nil
	case string(resp) == "alice-token":
		return nil, true, nil
	}
	return nil, false, ErrLogonFailure
}

func (e *tokenExchange) Maildrop(ctx context.Context) (Maildrop, error) {
	return e.s.Login(ctx, "alice", "P@ssw0rd")
}

func TestMechanismBackend(t *testing.T) {
	o := testOptions(t, nil)
	o.Backend = saslStore{aliceStore()}
	addr, _ := startServer(t, o, true)
	c := greeted(t, addr, true)
	run(t, c, []step{
		{"AUTH X-TOKEN", l("+ dG9rZW4/")},
		{"YWxpY2UtdG9rZW4=", l(okLogon)},
		{"STAT", l("+OK 3 " + itoa(size1+size2+size3))},
	})
	c2 := greeted(t, addr, true)
	run(t, c2, []step{{"AUTH X-TOKEN bm9wZQ==", l(eLogon)}})
}

func TestMaildropInUse(t *testing.T) {
	addr, _ := startServer(t, testOptions(t, aliceStore()), true)
	a := dialPOP(t, addr, true)
	a.line()
	run(t, a, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}})
	b := dialPOP(t, addr, true)
	b.line()
	run(t, b, []step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l("-ERR [IN-USE] The mailbox is in use by another session.")}})
}

func TestStoreErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*memStore)
		steps []step
	}{
		{"login store down", func(s *memStore) { s.loginErr = errors.New("disk on fire") },
			[]step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l("-ERR Server Unavailable. 21")}}},
		{"login typed error", func(s *memStore) { s.loginErr = &Error{Text: "-ERR [SYS/PERM] Account disabled."} },
			[]step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l("-ERR [SYS/PERM] Account disabled.")}}},
		{"open fails", func(s *memStore) { s.openErr = errors.New("gone") },
			[]step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}, {"RETR 1", l("-ERR The message could not be retrieved.")}, {"NOOP", l("+OK")}}},
		{"delete fails", func(s *memStore) { s.deleteErr = errors.New("read-only") },
			[]step{{"AUTH PLAIN AGFsaWNlAFBAc3N3MHJk", l(okLogon)}, {"DELE 1", l("+OK Marked to be deleted.")}, {"QUIT", l("-ERR Some deleted messages were not removed.")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := aliceStore()
			tt.setup(store)
			c := serveAndGreet(t, testOptions(t, store), true)
			run(t, c, tt.steps)
		})
	}
}

// TestInvalidSnapshot: UIDs that would break UIDL fail the logon.
func TestInvalidSnapshot(t *testing.T) {
	for _, uid := range []string{"", "has space", "new\r\nline", strings.Repeat("x", 71)} {
		store := newMemStore()
		store.passwords["alice"] = "pw"
		store.boxes["alice"] = []memMsg{{uid, "x\r\n"}}
		c := serveAndGreet(t, testOptions(t, store), true)
		run(t, c, []step{{"AUTH PLAIN AGFsaWNlAHB3", l("-ERR Server Unavailable. 21")}})
		if !c.closed() {
			t.Errorf("uid %q: connection still open", uid)
		}
	}
}

// TestPlainPersona: the lab's Internet server speaks its own texts.
func TestPlainPersona(t *testing.T) {
	o := testOptions(t, aliceStore())
	o.Persona = PlainPersona("fabrikam.com")
	o.LoginType = PlainTextLogin
	addr, _ := startServer(t, o, false)
	c := dialPOP(t, addr, false)
	if g := c.line(); g != "+OK POP3 server ready fabrikam.com" {
		t.Fatalf("greeting = %q", g)
	}
	run(t, c, []step{
		{"CAPA", l("+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "SASL PLAIN", "USER", "STLS", ".")},
		{"USER alice", l("+OK")},
		{"PASS bad", l("-ERR [AUTH] Authentication failed.")},
		{"USER alice", l("+OK")},
		{"PASS P@ssw0rd", l("+OK Logged in.")},
		{"LIST", l("+OK 3 messages ("+itoa(size1+size2+size3)+" octets)", "1 "+itoa(size1), "2 "+itoa(size2), "3 "+itoa(size3), ".")},
		{"RETR 3", l("+OK "+itoa(size3)+" octets", "Subject: three", "", "no final newline", ".")},
		{"QUIT", l("+OK Logging out.")},
	})
}
