package roles

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/topology"
)

// Read reads a mailbox as a client standing at a server's position: IMAP
// (FETCH ENVELOPE), POP3 (TOP) or HTTPS (EWS FindItem, logged on with
// NTLM as Outlook does), through the front end of req.Server.
func (rt *Runtime) Read(ctx context.Context, req control.ReadRequest) (control.ReadResponse, error) {
	src, err := rt.serverOf(req.FromServer)
	if err != nil {
		return control.ReadResponse{}, err
	}
	dst := rt.o.Topology.Server(req.Server)
	if dst == nil || dst.Role != topology.RoleMailbox && dst.Role != topology.RoleInternet {
		return control.ReadResponse{}, &control.BadInputError{Msg: fmt.Sprintf("server %q has no mailboxes to read", req.Server)}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+req.Hold)
	defer cancel()
	tlsConf := rt.ca.ClientTLS(dst.FQDN, nil)
	implicit := req.TLS != "starttls"
	switch strings.ToLower(req.Protocol) {
	case "imap":
		port := 993
		if !implicit {
			port = 143
		}
		return readIMAP(ctx, src, dst, rt.o.Topology.Port(port), implicit, tlsConf, req)
	case "pop3":
		port := 995
		if !implicit {
			port = 110
		}
		return readPOP3(ctx, src, dst, rt.o.Topology.Port(port), implicit, tlsConf, req)
	case "https", "ews":
		return readEWS(ctx, src, dst, rt.o.Topology.Port(443), tlsConf, req)
	case "ews-stream":
		return readEWSStream(ctx, src, dst, rt.o.Topology.Port(443), tlsConf, req)
	case "activesync-ping":
		return readEASPing(ctx, src, dst, rt.o.Topology.Port(443), tlsConf, req)
	case "rpc-http":
		return readRPCHTTP(ctx, src, dst, rt.o.Topology.Port(443), tlsConf, req)
	case "http":
		return rt.readHTTP(ctx, src, dst, rt.o.Topology.Port(80), req)
	}
	return control.ReadResponse{}, &control.BadInputError{Msg: fmt.Sprintf("protocol %q: use imap, pop3, https, ews-stream, activesync-ping, rpc-http or http", req.Protocol)}
}

func dialFrom(ctx context.Context, src *Server, dst *topology.Server, port int) (net.Conn, error) {
	return src.dialer.DialContext(ctx, "tcp", net.JoinHostPort(dst.Address, strconv.Itoa(port)))
}

func readIMAP(ctx context.Context, src *Server, dst *topology.Server, port int, implicit bool, tlsConf *tls.Config, req control.ReadRequest) (control.ReadResponse, error) {
	var res control.ReadResponse
	conn, err := dialFrom(ctx, src, dst, port)
	if err != nil {
		return res, err
	}
	if implicit {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return res, fmt.Errorf("imap: TLS: %w", err)
		}
		conn = tc
	}
	opts := &imapclient.Options{TLSConfig: tlsConf}
	var c *imapclient.Client
	if implicit {
		c = imapclient.New(conn, opts)
	} else {
		if c, err = imapclient.NewStartTLS(conn, opts); err != nil {
			return res, fmt.Errorf("imap: STARTTLS: %w", err)
		}
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.WaitGreeting(); err != nil {
		return res, err
	}
	if err := c.Login(req.User, req.Password).Wait(); err != nil {
		return res, fmt.Errorf("imap: %w", err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return res, fmt.Errorf("imap: SELECT INBOX: %w", err)
	}
	res.Subjects = []string{}
	if sel.NumMessages > 0 {
		var all imap.SeqSet
		all.AddRange(1, sel.NumMessages)
		msgs, err := c.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil {
			return res, fmt.Errorf("imap: FETCH: %w", err)
		}
		for _, m := range msgs {
			if m.Envelope != nil {
				res.Subjects = append(res.Subjects, m.Envelope.Subject)
			}
		}
	}
	c.Logout().Wait()
	res.Detail = fmt.Sprintf("IMAP %s:%d as %s: %d messages", dst.Name, port, req.User, sel.NumMessages)
	return res, nil
}

// readPOP3 is a minimal POP3 client (RFC 1939, 2595): STLS, USER/PASS,
// STAT, TOP n 0 for each message's Subject.
func readPOP3(ctx context.Context, src *Server, dst *topology.Server, port int, implicit bool, tlsConf *tls.Config, req control.ReadRequest) (control.ReadResponse, error) {
	var res control.ReadResponse
	conn, err := dialFrom(ctx, src, dst, port)
	if err != nil {
		return res, err
	}
	defer func() { conn.Close() }()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	if implicit {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return res, fmt.Errorf("pop3: TLS: %w", err)
		}
		conn = tc
	}
	br := bufio.NewReader(conn)
	line := func() (string, error) {
		l, err := br.ReadString('\n')
		l = strings.TrimRight(l, "\r\n")
		if err == nil && !strings.HasPrefix(l, "+OK") {
			err = fmt.Errorf("pop3: %s", l)
		}
		return l, err
	}
	cmd := func(c string) (string, error) {
		if _, err := io.WriteString(conn, c+"\r\n"); err != nil {
			return "", err
		}
		return line()
	}
	if res.Greeting, err = line(); err != nil {
		return res, err
	}
	if !implicit {
		if _, err := cmd("STLS"); err != nil {
			return res, err
		}
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return res, fmt.Errorf("pop3: TLS: %w", err)
		}
		conn, br = tc, bufio.NewReader(tc)
	}
	if _, err := cmd("USER " + req.User); err != nil {
		return res, err
	}
	if _, err := cmd("PASS " + req.Password); err != nil {
		return res, err
	}
	stat, err := cmd("STAT")
	if err != nil {
		return res, err
	}
	var n int
	fmt.Sscanf(stat, "+OK %d", &n)
	res.Subjects = []string{}
	for i := 1; i <= n; i++ {
		if _, err := cmd(fmt.Sprintf("TOP %d 0", i)); err != nil {
			return res, err
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return res, err
			}
			l = strings.TrimRight(l, "\r\n")
			if l == "." {
				break
			}
			if v, ok := strings.CutPrefix(l, "Subject: "); ok {
				res.Subjects = append(res.Subjects, v)
			}
		}
	}
	cmd("QUIT")
	res.Detail = fmt.Sprintf("POP3 %s:%d as %s: %d messages", dst.Name, port, req.User, n)
	return res, nil
}

const findItemRequest = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
  <soap:Body>
    <m:FindItem Traversal="Shallow">
      <m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
      <m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds>
    </m:FindItem>
  </soap:Body>
</soap:Envelope>`

// ewsPost posts one EWS request from src to dst's front end, logging on
// with NTLM as Outlook does; the caller closes the body. onErr, when not
// nil, sees every failed round trip of the handshake (the NTLM negotiator
// hides them behind the first 401).
// webTransport reaches dst's port from src's position with TLS.
func webTransport(src *Server, dst *topology.Server, port int, tlsConf *tls.Config) *http.Transport {
	return &http.Transport{
		TLSClientConfig: tlsConf,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialFrom(ctx, src, dst, port)
		},
		MaxIdleConnsPerHost: 1,
	}
}

func ewsPost(ctx context.Context, src *Server, dst *topology.Server, port int, tlsConf *tls.Config, req control.ReadRequest, body string, onErr func(error)) (*http.Response, string, error) {
	var rt http.RoundTripper = webTransport(src, dst, port, tlsConf)
	if onErr != nil {
		rt = watchErrors{rt, onErr}
	}
	client := &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: rt}}
	u := fmt.Sprintf("https://%s:%d/EWS/Exchange.asmx", dst.FQDN, port)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return nil, u, err
	}
	hr.Header.Set("Content-Type", "text/xml; charset=utf-8")
	hr.SetBasicAuth(req.User, req.Password) // the Negotiator turns it into NTLM
	resp, err := client.Do(hr)
	if err != nil {
		return nil, u, fmt.Errorf("ews: %w", err)
	}
	return resp, u, nil
}

// readEWS lists the inbox with EWS FindItem, logging on with NTLM.
func readEWS(ctx context.Context, src *Server, dst *topology.Server, port int, tlsConf *tls.Config, req control.ReadRequest) (control.ReadResponse, error) {
	var res control.ReadResponse
	resp, u, err := ewsPost(ctx, src, dst, port, tlsConf, req, findItemRequest, nil)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return res, err
	}
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("ews: %s", resp.Status)
	}
	var env struct {
		Subjects []string `xml:"Body>FindItemResponse>ResponseMessages>FindItemResponseMessage>RootFolder>Items>Message>Subject"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		return res, fmt.Errorf("ews: %w", err)
	}
	res.Subjects = env.Subjects
	if res.Subjects == nil {
		res.Subjects = []string{}
	}
	res.Greeting = resp.Header.Get("X-FEServer")
	res.Detail = fmt.Sprintf("EWS FindItem on %s as %s: %d items (X-FEServer %s, X-CalculatedBETarget %s)", u, req.User, len(res.Subjects), resp.Header.Get("X-FEServer"), resp.Header.Get("X-CalculatedBETarget"))
	return res, nil
}

// readHTTP checks port 80 as a browser meets it: /owa/ redirects to
// HTTPS, and the user's published calendar is served.
func (rt *Runtime) readHTTP(ctx context.Context, src *Server, dst *topology.Server, port int, req control.ReadRequest) (control.ReadResponse, error) {
	res := control.ReadResponse{Subjects: []string{}}
	client := &http.Client{
		Transport:     &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialFrom(ctx, src, dst, port) }},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(path string) (*http.Response, error) {
		hr, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d%s", dst.FQDN, port, path), nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(hr)
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return resp, nil
	}
	resp, err := get("/owa/")
	if err != nil {
		return res, err
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, "https://") {
		return res, fmt.Errorf("http: GET /owa/ = %s (Location %q), want a redirect to https", resp.Status, loc)
	}
	user := req.User
	if m := LookupLogon(rt.o.Topology, user); m != nil {
		user = m.Address
	}
	// A publishing mailbox's calendar is served at its URL; any other
	// mailbox's calendar URL is IIS's 404 (publishing is opt-in).
	m := rt.o.Topology.Mailbox(user)
	published := m != nil && m.PublishCalendar
	path := "/owa/calendar/" + calendarID(user) + "/" + strings.Repeat("0", 32) + "/calendar.ics"
	if published {
		path = "/owa/calendar/" + calendarID(m.Address) + "/" + calendarToken(rt.ca, m.Address) + "/calendar.ics"
	}
	cal, err := get(path)
	if err != nil {
		return res, err
	}
	switch {
	case published && (cal.StatusCode != http.StatusOK || !strings.HasPrefix(cal.Header.Get("Content-Type"), "text/calendar")):
		return res, fmt.Errorf("http: published calendar of %s = %s %s", user, cal.Status, cal.Header.Get("Content-Type"))
	case !published && cal.StatusCode != http.StatusNotFound:
		return res, fmt.Errorf("http: calendar of %s (not published) = %s, want 404", user, cal.Status)
	}
	res.Greeting = resp.Header.Get("Server")
	res.Detail = fmt.Sprintf("HTTP %s:%d: /owa/ -> %s %s; calendar of %s: %s", dst.Name, port, resp.Status, loc, user, cal.Status)
	return res, nil
}
