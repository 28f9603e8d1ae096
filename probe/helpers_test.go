package probe

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/miekg/dns"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/certs/certstest"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/internal/loopback"
	"github.com/exsim/exsim/topology"
)

// env is the contoso topology with every server on 127.0.0.1 (fakes listen
// on 127.0.0.1:0 and flows name their ports), the lab CA and a certificate
// for every server.
type env struct {
	t      testing.TB
	topo   *topology.Topology
	ca     *certs.CA
	certs  map[string]tls.Certificate
	faults *labnet.Faults
}

func newEnv(t testing.TB) *env {
	t.Helper()
	topo := builtin(t, "contoso")
	for i := range topo.Servers {
		topo.Servers[i].Address = "127.0.0.1"
	}
	ca := certstest.CA(t, "Contoso")
	e := &env{t: t, topo: topo, ca: ca, certs: map[string]tls.Certificate{}, faults: &labnet.Faults{}}
	for _, s := range topo.Servers {
		e.certs[s.Name] = certstest.Issue(t, ca, certs.Identity{Name: s.Name, FQDN: s.FQDN, Addresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	}
	return e
}

// foreignCert is a certificate for name from another CA (an intercepting proxy).
func foreignCert(t *testing.T, name string) tls.Certificate {
	t.Helper()
	return certstest.Issue(t, certstest.CA(t, "Fabrikam Inspection"), certs.Identity{Name: "X", FQDN: name})
}

func (e *env) prober(timeout time.Duration) *Prober {
	return &Prober{
		Topology: e.topo, CA: e.ca, Timeout: timeout,
		DialerFor: func(source string) Dialer {
			return &labnet.Dialer{Server: source, Source: netip.MustParseAddr("127.0.0.1"), Faults: e.faults}
		},
	}
}

func flowTo(check Check, src, dst string, port int, transport string, expect Expect) Flow {
	return Flow{
		ID: fmt.Sprintf("test-%s-%s-%d", src, dst, port), Table: TableGroundRules,
		Source: src, Dest: dst, Port: port, BasePort: port, Transport: transport,
		Expect: expect, Check: check, WantName: strings.ToLower(dst) + ".contoso.com",
	}
}

// clientFlow is a client's flow from the internet (INET01) to EX01's port,
// expected open.
func clientFlow(check Check, port int) Flow {
	return flowTo(check, "INET01", "EX01", port, "tcp", ExpectOpen)
}

// serve accepts connections on 127.0.0.1:0 and hands each to handle; it
// returns the port. Every connection gets a 5 s deadline so no handler
// outlives the test.
func serve(t testing.TB, handle func(net.Conn)) int {
	t.Helper()
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		handle(c)
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort returns a TCP port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// lineConn is a line-oriented fake server connection.
type lineConn struct {
	c net.Conn
	r *bufio.Reader
}

func newLineConn(c net.Conn) *lineConn { return &lineConn{c: c, r: bufio.NewReader(c)} }

func (l *lineConn) send(lines ...string) {
	for _, s := range lines {
		io.WriteString(l.c, s+"\r\n")
	}
}

func (l *lineConn) recv() (string, bool) {
	s, err := l.r.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err == nil
}

// upgrade starts server-side TLS with cert.
func (l *lineConn) upgrade(cert tls.Certificate) bool {
	tc := tls.Server(l.c, &tls.Config{Certificates: []tls.Certificate{cert}})
	if tc.Handshake() != nil {
		return false
	}
	l.c, l.r = tc, bufio.NewReader(tc)
	return true
}

// serveLines is the loop of a line-based fake: TLS first when implicit,
// the greeting, then each command line to answer until it returns false or
// the client goes.
func serveLines(c net.Conn, cert tls.Certificate, implicit bool, greeting string, answer func(l *lineConn, line string) bool) {
	l := newLineConn(c)
	if implicit && !l.upgrade(cert) {
		return
	}
	l.send(greeting)
	for {
		line, ok := l.recv()
		if !ok || !answer(l, line) {
			return
		}
	}
}

// smtpFake is an SMTP server with a banner, STARTTLS when cert is set and
// offerTLS is true.
type smtpFake struct {
	banner   string
	host     string
	offerTLS bool
	cert     *tls.Certificate
}

func exchangeGreeting(fqdn string) string {
	return "220 " + fqdn + " Microsoft ESMTP MAIL Service ready at Fri, 5 Aug 2016 16:24:41 -0700"
}

func (f smtpFake) handle(c net.Conn) {
	tlsOn := false
	serveLines(c, tls.Certificate{}, false, f.banner, func(l *lineConn, line string) bool {
		switch strings.ToUpper(strings.Fields(line + " x")[0]) {
		case "EHLO":
			lines := []string{"250-" + f.host + " Hello [127.0.0.1]", "250-SIZE 37748736", "250-PIPELINING"}
			if f.offerTLS && !tlsOn {
				lines = append(lines, "250-STARTTLS")
			}
			l.send(append(lines, "250 XRDST")...)
		case "STARTTLS":
			if f.cert == nil || tlsOn {
				l.send("454 4.7.0 TLS not available")
				return true
			}
			l.send("220 2.0.0 SMTP server ready")
			tlsOn = l.upgrade(*f.cert)
			return tlsOn
		case "QUIT":
			l.send("221 2.0.0 Service closing transmission channel")
			return false
		default:
			l.send("500 5.3.3 Unrecognized command")
		}
		return true
	})
}

// imapFake speaks enough IMAP for the check.
type imapFake struct {
	greeting string
	caps     string // CAPABILITY before TLS
	cert     tls.Certificate
	implicit bool
}

func (f imapFake) handle(c net.Conn) {
	serveLines(c, f.cert, f.implicit, f.greeting, func(l *lineConn, line string) bool {
		tag, cmd, _ := strings.Cut(line, " ")
		switch strings.ToUpper(cmd) {
		case "CAPABILITY":
			l.send("* CAPABILITY "+f.caps, tag+" OK CAPABILITY completed.")
		case "STARTTLS":
			l.send(tag + " OK Begin TLS negotiation now.")
			return l.upgrade(f.cert)
		case "LOGOUT":
			l.send("* BYE Microsoft Exchange Server IMAP4 server signing off.", tag+" OK LOGOUT completed.")
			return false
		default:
			l.send(tag + " BAD Command Error. 10")
		}
		return true
	})
}

// pop3Fake speaks enough POP3 for the check.
type pop3Fake struct {
	greeting string
	capa     []string
	cert     tls.Certificate
	implicit bool
}

func (f pop3Fake) handle(c net.Conn) {
	serveLines(c, f.cert, f.implicit, f.greeting, func(l *lineConn, line string) bool {
		switch strings.ToUpper(line) {
		case "CAPA":
			l.send("+OK")
			l.send(f.capa...)
			l.send(".")
		case "STLS":
			l.send("+OK Begin TLS negotiation")
			return l.upgrade(f.cert)
		case "QUIT":
			l.send("+OK Microsoft Exchange Server POP3 server signing off.")
			return false
		default:
			l.send("-ERR Protocol error. 14")
		}
		return true
	})
}

// httpFake serves Exchange-like headers; with cert it serves HTTPS.
func httpFake(t *testing.T, feServer string, cert *tls.Certificate) int {
	return httpFakeTLS(t, feServer, cert, nil)
}

// httpFakeTLS is httpFake with a TLS configuration to start from (client
// certificate policy).
func httpFakeTLS(t *testing.T, feServer string, cert *tls.Certificate, base *tls.Config) int {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-FEServer"] = []string{feServer}
		w.Header().Set("Server", "Microsoft-IIS/10.0")
		http.Redirect(w, r, "/owa/", http.StatusFound)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	if cert != nil {
		srv.TLS = &tls.Config{}
		if base != nil {
			srv.TLS = base.Clone()
		}
		srv.TLS.Certificates = []tls.Certificate{*cert}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// ldapsFake answers an anonymous bind and a RootDSE search over TLS with
// the capabilities given, the way AD LDS does.
func ldapsFake(cert tls.Certificate, capabilities ...string) func(net.Conn) {
	return func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		defer tc.Close()
		for {
			p, err := ber.ReadPacket(tc)
			if err != nil || len(p.Children) < 2 {
				return
			}
			id := p.Children[0].Value
			switch p.Children[1].Tag {
			case 0: // BindRequest
				tc.Write(ldapResult(id, 1).Bytes())
			case 3: // SearchRequest
				entry := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "SearchResultEntry")
				entry.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "dn"))
				attrs := ber.NewSequence("attributes")
				attrs.AppendChild(ldapAttr("namingContexts", "CN=Configuration,CN={B3E4A5C2-0000-0000-0000-000000000000}", "OU=MSExchangeGateway"))
				attrs.AppendChild(ldapAttr("supportedCapabilities", capabilities...))
				entry.AppendChild(attrs)
				msg := ber.NewSequence("LDAPMessage")
				msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "id"))
				msg.AppendChild(entry)
				tc.Write(msg.Bytes())
				tc.Write(ldapResult(id, 5).Bytes())
			default: // UnbindRequest and anything else
				return
			}
		}
	}
}

func ldapResult(id any, op ber.Tag) *ber.Packet {
	msg := ber.NewSequence("LDAPMessage")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "id"))
	res := ber.Encode(ber.ClassApplication, ber.TypeConstructed, op, nil, "result")
	res.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, "resultCode"))
	res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "diagnosticMessage"))
	msg.AppendChild(res)
	return msg
}

func ldapAttr(name string, values ...string) *ber.Packet {
	a := ber.NewSequence("attribute")
	a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, "type"))
	set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "vals")
	for _, v := range values {
		set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, "val"))
	}
	a.AppendChild(set)
	return a
}

// dnsFake answers MX queries (authoritatively when aa) on UDP and TCP; it
// returns the UDP and TCP ports.
func dnsFake(t *testing.T, aa bool) (udpPort, tcpPort int) {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = aa
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeMX {
			m.Answer = append(m.Answer, &dns.MX{
				Hdr:        dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 300},
				Preference: 10, Mx: "mx.fabrikam.com.",
			})
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() {
			srv.Shutdown()
			<-done
		})
	}
	return pc.LocalAddr().(*net.UDPAddr).Port, ln.Addr().(*net.TCPAddr).Port
}
