package ntlm

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/emersion/go-sasl"
)

func TestSASLServerGoNTLMSSP(t *testing.T) {
	srv := newLabServer(t, nil)
	neg, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		t.Fatal(err)
	}
	errRefused := errors.New("submission refused")
	tests := []struct {
		name            string
		initial         bool // the NEGOTIATE as the initial response
		login, password string
		onSuccess       error
		wantErr         error
	}{
		{"initial response", true, `CONTOSO\alice`, "P@ssw0rd", nil, nil},
		{"no initial response", false, "alice@contoso.com", "P@ssw0rd", nil, nil},
		{"wrong password", true, `CONTOSO\alice`, "nope", nil, ErrLogonFailure},
		{"unknown user", false, `CONTOSO\zoe`, "P@ssw0rd", nil, ErrLogonFailure},
		{"onSuccess error", true, `CONTOSO\alice`, "P@ssw0rd", errRefused, errRefused},
	}
	for _, tt := range tests {
		var got string
		var s sasl.Server = NewSASLServer(srv, func(account string) error {
			got = account
			return tt.onSuccess
		})
		if !tt.initial {
			ch, done, err := s.Next(nil)
			if err != nil || done || ch == nil || len(ch) != 0 {
				t.Fatalf("%s: Next(nil) = %q, %v, %v, want an empty challenge", tt.name, ch, done, err)
			}
		}
		chal, done, err := s.Next(neg)
		if err != nil || done {
			t.Fatalf("%s: Next(NEGOTIATE) = %v, %v", tt.name, done, err)
		}
		auth, err := ntlmssp.NewAuthenticateMessage(chal, tt.login, tt.password, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, done, err = s.Next(auth)
		switch {
		case tt.wantErr == nil && (err != nil || !done || got != "alice@contoso.com"):
			t.Errorf("%s: Next(AUTHENTICATE) = %v, %v, account %q, want done as alice", tt.name, done, err, got)
		case tt.wantErr != nil && (!errors.Is(err, tt.wantErr) || done):
			t.Errorf("%s: Next(AUTHENTICATE) = %v, %v, want %v", tt.name, done, err, tt.wantErr)
		}
		if _, _, err := s.Next(auth); err == nil {
			t.Errorf("%s: Next after the end succeeded", tt.name)
		}
	}
}

func TestSASLServerGarbage(t *testing.T) {
	srv := newLabServer(t, nil)
	for _, resp := range [][]byte{[]byte("hello"), {}, []byte("NTLMSSP\x00\x03\x00\x00\x00")} {
		s := NewSASLServer(srv, nil)
		s.Next(nil) // the empty invitation
		if _, done, err := s.Next(resp); err == nil || done {
			t.Errorf("Next(%q) = %v, %v, want an error", resp, done, err)
		}
	}
	if got := NewSASLServer(srv, nil).Account(); got != "" {
		t.Errorf("Account() before success = %q", got)
	}
}

// pop3Lab is just enough of a POP3 server (RFC 1939, RFC 5034 AUTH) for
// curl to log in with NTLM through a SASLServer.
type pop3Lab struct {
	ln       net.Listener
	srv      *Server
	mu       sync.Mutex
	accounts []string
	wg       sync.WaitGroup
}

func newPOP3Lab(t *testing.T, srv *Server) *pop3Lab {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pop3Lab{ln: ln, srv: srv}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *pop3Lab) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			p.session(c)
		}()
	}
}

func (p *pop3Lab) session(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	read := func() (string, bool) {
		l, err := r.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err == nil
	}
	say("+OK The Microsoft Exchange POP3 service is ready.")
	for {
		line, ok := read()
		if !ok {
			return
		}
		cmd, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(cmd) {
		case "CAPA":
			say("+OK\r\nTOP\r\nUIDL\r\nSASL NTLM\r\nUSER\r\n.")
		case "AUTH":
			mech, ir, hasIR := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, Mechanism) {
				say("-ERR Unrecognized authentication type.")
				continue
			}
			s := NewSASLServer(p.srv, func(account string) error {
				p.mu.Lock()
				p.accounts = append(p.accounts, account)
				p.mu.Unlock()
				return nil
			})
			var resp []byte
			if hasIR {
				resp, _ = base64.StdEncoding.DecodeString(ir)
			}
			for {
				ch, done, err := s.Next(resp)
				if err != nil {
					say("-ERR Logon failure: unknown user name or bad password.")
					break
				}
				if done {
					say("+OK User successfully logged on.")
					break
				}
				say("+ " + base64.StdEncoding.EncodeToString(ch))
				l, ok := read()
				if !ok {
					return
				}
				resp, _ = base64.StdEncoding.DecodeString(l)
			}
		case "LIST":
			say("+OK 0 messages\r\n.")
		case "QUIT":
			say("+OK Microsoft Exchange Server POP3 server signing off.")
			return
		default:
			say("-ERR Protocol error.")
		}
	}
}

// TestCurlPOP3NTLM logs curl in with AUTH NTLM, with and without the SASL
// initial response.
func TestCurlPOP3NTLM(t *testing.T) {
	curl := needCurlNTLM(t)
	p := newPOP3Lab(t, newLabServer(t, nil))
	url := "pop3://" + p.ln.Addr().String() + "/"
	tests := []struct {
		user, password string
		irFlag         string
		wantOK         bool
	}{
		{`CONTOSO\alice`, "P@ssw0rd", "--no-sasl-ir", true},
		{`CONTOSO\alice`, "P@ssw0rd", "--sasl-ir", true},
		{"bob@contoso.com", "Secret-2", "--no-sasl-ir", true},
		{`CONTOSO\alice`, "wrong", "--no-sasl-ir", false},
	}
	for _, tt := range tests {
		p.mu.Lock()
		p.accounts = nil
		p.mu.Unlock()
		out, err := runCmd(t, nil, curl, "-sS", tt.irFlag, "--login-options", "AUTH=NTLM", "-u", tt.user+":"+tt.password, url)
		if (err == nil) != tt.wantOK {
			t.Errorf("curl %s -u %s pop3 = %v %q, want success %v", tt.irFlag, tt.user, err, out, tt.wantOK)
		}
		p.mu.Lock()
		got := len(p.accounts)
		p.mu.Unlock()
		if want := map[bool]int{true: 1, false: 0}[tt.wantOK]; got != want {
			t.Errorf("curl %s -u %s: %d logons, want %d", tt.irFlag, tt.user, got, want)
		}
	}
}
