package roles

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/exsim/exsim/certs"
	"github.com/exsim/exsim/internal/ntlm"
	"github.com/exsim/exsim/servers/httpd"
	"github.com/exsim/exsim/store"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// webBackend is Client Access's view of the mailboxes this server hosts.
type webBackend struct {
	r     *mailboxRole
	lists *listCache // nil: no caching
}

var _ httpd.Backend = webBackend{}

// mailboxGUID is a mailbox's stable ExchangeGuid (name-based UUID).
func mailboxGUID(address string) string {
	return uuid.NewHash(sha1.New(), uuid.NameSpaceURL, []byte("exsim:mailbox:"+strings.ToLower(address)), 5).String()
}

func (b webBackend) user(m *topology.Mailbox) *httpd.User {
	home := b.r.t.Server(m.Server)
	return &httpd.User{
		Address: m.Address, DisplayName: m.DisplayName, HomeServer: home.Name, HomeFQDN: home.FQDN,
		MailboxGUID: mailboxGUID(m.Address), Impersonator: m.HasRole(topology.RoleApplicationImpersonation),
		HomeVirtualDirectories: httpVirtualDirectories(home),
	}
}

// httpVirtualDirectories are a Mailbox server's configured virtual
// directory URLs (nil when it has none: Exchange's defaults).
func httpVirtualDirectories(s *topology.Server) map[string]httpd.VirtualDirectory {
	if s == nil || s.Mailbox == nil || len(s.Mailbox.VirtualDirectories) == 0 {
		return nil
	}
	out := make(map[string]httpd.VirtualDirectory, len(s.Mailbox.VirtualDirectories))
	for name, vd := range s.Mailbox.VirtualDirectories {
		out[name] = httpd.VirtualDirectory{InternalURL: vd.InternalURL, ExternalURL: vd.ExternalURL}
	}
	return out
}

// AddressBook is the Global Address List: the mailboxes of the
// organization's accepted domains (external users are not in it).
func (b webBackend) AddressBook(ctx context.Context) ([]httpd.AddressEntry, error) {
	var out []httpd.AddressEntry
	for _, m := range b.r.t.Mailboxes {
		if !b.r.t.IsAcceptedDomain(topology.Domain(m.Address)) {
			continue
		}
		alias, _, _ := strings.Cut(m.Address, "@")
		out = append(out, httpd.AddressEntry{
			DisplayName: m.DisplayName, Alias: alias, Address: m.Address, MailboxGUID: mailboxGUID(m.Address),
			ProxyAddresses: []string{"SMTP:" + m.Address},
			ObjectGUID:     uuid.NewHash(sha1.New(), uuid.NameSpaceURL, []byte("exsim:object:"+strings.ToLower(m.Address)), 5).String(),
		})
	}
	return out, nil
}

func (b webBackend) Authenticate(ctx context.Context, login, password string) (*httpd.User, error) {
	m, err := b.r.accts.Authenticate(login, password)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", httpd.ErrInvalidCredentials, err)
	}
	return b.user(m), nil
}

func (b webBackend) FindUser(ctx context.Context, address string) (*httpd.User, error) {
	m := b.r.t.Mailbox(address)
	if m == nil || !b.r.t.IsAcceptedDomain(topology.Domain(address)) {
		return nil, fmt.Errorf("%w: %s", httpd.ErrNotFound, address)
	}
	return b.user(m), nil
}

// folder opens a folder of a mailbox hosted here.
func (b webBackend) folder(address, name string) (*store.Folder, error) {
	mb, err := b.r.store.Mailbox(address)
	if err != nil {
		return nil, fmt.Errorf("%w: mailbox %s is not on %s", httpd.ErrNotFound, address, b.r.s.Config.Name)
	}
	f, err := mb.Folder(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s", httpd.ErrNotFound, address, name)
	}
	return f, nil
}

func (b webBackend) ListFolder(ctx context.Context, address, folder string) ([]httpd.MessageInfo, error) {
	f, err := b.folder(address, folder)
	if err != nil {
		return nil, err
	}
	st, err := f.Status()
	if err != nil {
		return nil, err
	}
	if out, ok := b.lists.get(address, st); ok {
		return out, nil
	}
	msgs, err := f.Messages()
	if err != nil {
		return nil, err
	}
	out := make([]httpd.MessageInfo, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		date := m.InternalDate
		if date.IsZero() {
			date = m.Date
		}
		mi := httpd.MessageInfo{
			ID: strconv.FormatUint(uint64(m.UID), 10), From: m.From, To: m.To, Subject: m.Subject,
			Date: date, Size: m.Size, Read: m.Seen(), Flagged: m.HasFlag(store.FlagFlagged),
		}
		for _, f := range m.Flags {
			if a, ok := strings.CutPrefix(f, httpd.ItemAliasKeyword); ok {
				mi.Alias = a
			}
		}
		out = append(out, mi)
	}
	b.lists.put(address, st, out)
	return out, nil
}

func (b webBackend) uid(id string) (uint32, error) {
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: item %q", httpd.ErrNotFound, id)
	}
	return uint32(n), nil
}

// item is the folder and UID of the message id in address's folder.
func (b webBackend) item(address, folder, id string) (*store.Folder, uint32, error) {
	f, err := b.folder(address, folder)
	if err != nil {
		return nil, 0, err
	}
	uid, err := b.uid(id)
	if err != nil {
		return nil, 0, err
	}
	return f, uid, nil
}

func (b webBackend) GetMessage(ctx context.Context, address, folder, id string) ([]byte, error) {
	f, uid, err := b.item(address, folder, id)
	if err != nil {
		return nil, err
	}
	body, err := f.Body(uid)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", httpd.ErrNotFound, err)
	}
	return body, nil
}

func (b webBackend) MarkRead(ctx context.Context, address, folder, id string) error {
	f, uid, err := b.item(address, folder, id)
	if err != nil {
		return err
	}
	_, err = f.StoreFlags(ctx, []uint32{uid}, store.FlagsAdd, []string{store.FlagSeen})
	return err
}

// Submit is Mailbox Transport Submission: the message goes to this
// server's Transport service (a SUBMIT event in MSGTRKMS, then the
// Transport's RECEIVE) and a copy into the user's Sent Items.
func (b webBackend) Submit(ctx context.Context, from *httpd.User, rcpts []string, msg []byte) error {
	return b.Send(ctx, from, rcpts, msg, httpd.FolderSentItems)
}

// Send is Submit with the copy saved in saveIn ("" for none: EWS
// SendOnly).
func (b webBackend) Send(ctx context.Context, from *httpd.User, rcpts []string, msg []byte, saveIn string) error {
	s := b.r.s
	now := s.rt.o.Now()
	// The header firewall of Mailbox Transport Submission: organization,
	// forest and routing headers a client put in the message are removed.
	m := transport.SplitMessage(msg).Firewall(0)
	msgID := m.Get("Message-ID")
	if msgID == "" {
		msgID = transport.NewMessageID(s.Config.FQDN)
	}
	netID := transport.NewNetworkID()
	body := m.Bytes([]string{transport.ReceivedHop{
		HeloName: s.Config.FQDN, ClientIP: s.Config.Address, ByFQDN: s.Config.FQDN, ByIP: s.Config.Address,
		Build: b.r.t.BuildNumber(), Via: "Mailbox Transport", When: now,
	}.String()}, []string{
		transport.HeaderNetworkMessageID + ": " + netID,
		transport.HeaderOriginalArrival + ": " + transport.ArrivalTime(now),
		transport.HeaderAuthSource + ": " + s.Config.FQDN,
		transport.HeaderAuthAs + ": Internal",
		transport.HeaderAuthMechanism + ": 04",
	})
	tm := &transport.Message{
		MessageID: msgID, NetworkID: netID, From: from.Address, Subject: m.Get("Subject"),
		Source: transport.Source{
			ClientIP: s.Config.Address, ClientHostname: s.Config.FQDN, ServerIP: s.Config.Address,
			Connector: s.Config.Name + `\Mailbox Transport Submission`, AuthAs: "Internal",
		},
	}
	for _, r := range rcpts {
		tm.Recipients = append(tm.Recipients, transport.Recipient{Address: r})
	}
	b.r.logs.tracking.Write(transport.LogSubmission, &transport.TrackingEvent{
		ServerIP: s.Config.Address, ServerHostname: s.Config.FQDN, Source: transport.SourceStoreDriver,
		EventID: transport.EventSubmit, MessageID: msgID, NetworkMessageID: netID, Recipients: rcpts,
		RecipientCount: len(rcpts), TotalBytes: int64(len(body)), MessageSubject: tm.Subject,
		Sender: from.Address, Directionality: "Originating", SourceContext: "MDB:" + databaseName(s.Config.Name),
	})
	if err := b.r.tr.Submit(ctx, tm, body); err != nil {
		return err
	}
	if saveIn == "" {
		return nil
	}
	sent, err := b.folder(from.Address, saveIn)
	if err != nil {
		return err
	}
	_, err = sent.Append(ctx, msg, []string{store.FlagSeen}, now)
	return err
}

// CalendarEvents serves a published calendar: only a mailbox that
// publishes (topology publish_calendar), and only under its id and token
// (calendar.go).
func (b webBackend) CalendarEvents(ctx context.Context, id, token string) (string, []httpd.Event, error) {
	m := publishedCalendar(b.r.t, id)
	if m == nil || !hmac.Equal([]byte(token), []byte(calendarToken(b.r.s.rt.ca, m.Address))) {
		return "", nil, fmt.Errorf("%w: calendar %s", httpd.ErrNotFound, id)
	}
	events, err := b.mailboxEvents(m.Address)
	return m.Address, events, err
}

// mailboxEvents is the events of a mailbox of this server: every VEVENT
// of a text/calendar part in its Calendar folder and its INBOX (meeting
// requests arrive there; calendar processing also puts them on the
// calendar, and an event is listed once, from the calendar).
func (b webBackend) mailboxEvents(address string) ([]httpd.Event, error) {
	if _, err := b.r.store.Mailbox(address); err != nil {
		return nil, fmt.Errorf("%w: %s", httpd.ErrNotFound, address)
	}
	var out []httpd.Event
	seen := map[string]bool{}
	for _, name := range []string{httpd.FolderCalendar, httpd.FolderInbox} {
		f, err := b.folder(address, name)
		if err != nil {
			continue
		}
		msgs, err := f.Messages()
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			body, err := f.Body(m.UID)
			if err != nil || !bytes.Contains(body, []byte("BEGIN:VEVENT")) {
				continue
			}
			for _, ev := range httpd.MessageEvents(body) {
				if ev.UID == "" || !seen[ev.UID] {
					out = append(out, ev)
				}
				seen[ev.UID] = true
			}
		}
	}
	return out, nil
}

// startHTTP runs HTTP 80, HTTPS 443 (the Client Access front end, which
// proxies mailboxes homed elsewhere) and the Exchange Back End site (444).
func (r *mailboxRole) startHTTP() error {
	s := r.s
	basic := httpd.DefaultBasicAuth()
	if ba := s.Config.Mailbox.BasicAuth; ba != nil && *ba {
		basic.EWS = true
	}
	o := httpd.Options{
		ServerName: s.Config.Name, FQDN: s.Config.FQDN, Domain: r.t.DefaultDomain(), Organization: r.t.Organization,
		HTTPSPort: r.t.Port(443), Version: r.t.BuildNumber(), BasicAuth: &basic, Logger: s.log, Now: s.rt.o.Now,
		Lockout:            s.rt.lock,
		VirtualDirectories: httpVirtualDirectories(s.Config),
		MAPIPendingPeriod:  s.rt.o.MAPI.PendingPeriod, MAPISessionTimeout: s.rt.o.MAPI.SessionTimeout,
		MAPINotificationWait: s.rt.o.MAPI.NotificationWait,
	}
	for _, m := range r.t.Mailboxes {
		if m.PublishCalendar && m.Server == s.Config.Name {
			u := PublishedCalendarURL(s.rt.ca, r.t, s.Config, m.Address)
			s.log.Info("calendar published", "mailbox", m.Address, "PublishedCalendarUrl", u, "PublishedICalUrl", strings.TrimSuffix(u, ".html")+".ics")
		}
	}
	o.RPCAuth = s.newNTLM()
	backend := webBackend{r: r, lists: newListCache()}
	https := httpd.NewHandler(backend, o)
	r.ntlmHTTP = ntlm.NewHTTPAuth(s.newNTLM(), ntlm.HTTPOptions{})
	serve := func(kind topology.ListenerKind, h http.Handler, tlsConf *tls.Config) error {
		for _, l := range s.listenerOf(kind) {
			ln, err := s.listen(l)
			if err != nil || ln == nil {
				return err
			}
			// Per-source counting sits under TLS, so a handshake counts.
			limits := httpd.DefaultLimits()
			ln = limits.Listener(ln)
			if tlsConf != nil {
				ln = tls.NewListener(ln, tlsConf)
			}
			srv := limits.Serve(h, r.ntlmHTTP.ConnContext)
			srv.RegisterOnShutdown(https.Close) // ends EWS streams, which Shutdown would wait for
			s.onClose(srv.Shutdown)
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					s.log.Error("HTTP listener stopped", "listener", l.Name, "err", err)
				}
			}()
		}
		return nil
	}
	if err := serve(topology.HTTPS, r.webFrontEnd(https), s.serverTLS(topology.HTTPS)); err != nil {
		return err
	}
	if err := serve(topology.HTTP, r.webFrontEnd(httpd.NewHTTPHandler(backend, o)), nil); err != nil {
		return err
	}
	// The Back End site is bound to Exchange's own self-signed certificate,
	// as setup leaves it, and asks for no client certificate: front ends
	// prove who they are with a server ticket (integrated.go).
	beCert, err := s.rt.ca.ExchangeSelfSigned(certs.Identity{Name: s.Config.Name, FQDN: s.Config.FQDN})
	if err != nil {
		return err
	}
	return serve(topology.HTTPSBackend, backEndSite(https), s.rt.ca.ServerTLSFor(beCert, listenerPersona(r.t, topology.HTTPSBackend)))
}

// exchangeHeaderNames are response headers whose spelling Exchange's is
// not Go's canonical form.
var exchangeHeaderNames = []string{"X-FEServer", "X-BEServer", "X-CalculatedBETarget", "X-OWA-Version", "request-id", "X-AspNet-Version", "MS-ASProtocolVersions", "MS-ASProtocolCommands", "MS-Server-ActiveSync", "X-DiagInfo", "X-OWA-CANARY"}

// backEndCookie names the server a client's OWA session lives on (Exchange
// sets the same cookie on its front ends). Its value is not Exchange's:
// Exchange writes "<user SID>=<base64 of the bitwise NOT of
// Database~<mailbox database GUID>~<domain>~<expiry>>" (a capture is in
// Microsoft's "HTTP headers returned by the Office 365 Reporting web
// service"); exsim has neither SIDs nor database GUIDs and writes the
// server's name.
const backEndCookie = "X-BackEndCookie"

// webFrontEnd proxies requests for a mailbox homed on another Mailbox
// server to that server's Exchange Back End site, as Client Access does.
func (r *mailboxRole) webFrontEnd(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Only a front end puts an identity in these headers.
		req.Header.Del(commonAccessToken)
		req.Header.Del(serverTicketHeader)
		req, home, account := r.integratedHome(req)
		if req.Method == "RPC_IN_DATA" || req.Method == "RPC_OUT_DATA" {
			// Outlook Anywhere's channels are streams of up to 1 GB each
			// way that a buffering proxy cannot carry: the front end is the
			// RPC proxy and serves the address book (NSPI) itself, as the
			// directory is the organization's, not the mailbox server's.
			local.ServeHTTP(w, req)
			return
		}
		if home == nil {
			home = r.homeOf(req)
		}
		if home == nil {
			// No mailbox yet (anonymous, an NTLM challenge, the logon
			// page): the front end answers itself.
			local.ServeHTTP(w, req)
			return
		}
		if anchor := r.anchorHome(req); anchor != nil {
			home = anchor
		}
		// A mailbox's requests go to its server's Back End site, this
		// server's own included, as Exchange's Client Access front end
		// proxies every authenticated request to 444.
		if account != "" {
			// The logon was completed here, on the client's connection.
			req.Header.Del("Authorization")
			ticket, err := certs.SignServerTicket(r.s.cert, home.FQDN, account, r.s.rt.o.Now())
			if err != nil {
				r.s.log.Error("server ticket", "hop", home.Name, "err", err)
				http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
				return
			}
			req.Header.Set(commonAccessToken, account)
			req.Header.Set(serverTicketHeader, ticket)
		}
		if !bufferBody(req) {
			return // the client went away mid-request
		}
		r.proxyTo(home).ServeHTTP(&respellWriter{ResponseWriter: w}, req)
	})
}

// maxBufferedBody is the largest request body the front end reads whole
// before proxying it.
const maxBufferedBody = 4 << 20

// bufferBody reads a request body of known, bounded length before it is
// proxied. Streamed, the body races the response: once the back end
// answers, Go's server closes the unread end of the client's body, and
// the transport's final read of it (which checks that nothing follows
// the Content-Length) fails and closes the back-end connection in the
// middle of the response ("use of closed network connection", a
// truncated chunked body at the client). Larger or unsized bodies stream.
func bufferBody(req *http.Request) bool {
	if req.Body == nil || req.ContentLength <= 0 || req.ContentLength > maxBufferedBody {
		return true
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, req.ContentLength))
	if err != nil {
		return false
	}
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return true
}

// respellWriter gives proxied response headers back Exchange's spelling:
// Go canonicalises header names on the way through (X-Feserver), Exchange
// writes X-FEServer.
type respellWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *respellWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		h := w.Header()
		for _, name := range exchangeHeaderNames {
			if v, ok := h[http.CanonicalHeaderKey(name)]; ok && http.CanonicalHeaderKey(name) != name {
				delete(h, http.CanonicalHeaderKey(name))
				h[name] = v
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respellWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *respellWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// homeOf finds the mailbox a request is for: the back-end cookie, Basic
// credentials, the OWA logon form, or a published calendar's address.
func (r *mailboxRole) homeOf(req *http.Request) *topology.Server {
	if c, err := req.Cookie(backEndCookie); err == nil {
		if s := r.t.Server(c.Value); s != nil && s.Role == topology.RoleMailbox {
			return s
		}
	}
	if user, _, ok := req.BasicAuth(); ok {
		return r.homeOfLogin(user)
	}
	path := strings.ToLower(req.URL.Path)
	if req.Method == http.MethodPost && path == "/owa/auth.owa" {
		body, err := io.ReadAll(io.LimitReader(req.Body, 16<<10))
		req.Body = io.NopCloser(bytes.NewReader(body))
		if err == nil {
			if v, err := url.ParseQuery(string(body)); err == nil {
				return r.homeOfLogin(v.Get("username"))
			}
		}
		return nil
	}
	if rest, ok := strings.CutPrefix(path, "/owa/calendar/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		id, _ = url.PathUnescape(id)
		if m := publishedCalendar(r.t, id); m != nil {
			return r.t.Server(m.Server)
		}
	}
	return nil
}

// anchorHome is the server of the mailbox X-AnchorMailbox names, which
// clients send to reach another mailbox (EWS impersonation, delegate
// access): Client Access routes by it as Exchange's HttpProxy does. The
// back end still decides whether the account may act for that mailbox.
func (r *mailboxRole) anchorHome(req *http.Request) *topology.Server {
	a := strings.TrimSpace(req.Header.Get("X-AnchorMailbox"))
	if a == "" {
		return nil
	}
	if m := r.t.Mailbox(strings.ToLower(a)); m != nil && r.t.IsAcceptedDomain(topology.Domain(m.Address)) {
		if s := r.t.Server(m.Server); s != nil && s.Role == topology.RoleMailbox {
			return s
		}
	}
	return nil
}

func (r *mailboxRole) homeOfLogin(user string) *topology.Server {
	if m := r.accts.lookup(user); m != nil {
		return r.t.Server(m.Server)
	}
	return nil
}

// proxyTo is the reverse proxy to home's Back End site, one per back end
// for the server's life: a proxy made per request (each with its own
// transport) left a kept-alive back-end connection behind every request,
// and the front end's memory grew with every page a client read.
func (r *mailboxRole) proxyTo(home *topology.Server) http.Handler {
	key := home.Name + "|" + home.Address
	if p, ok := r.proxies.Load(key); ok {
		return p.(*httputil.ReverseProxy)
	}
	p, loaded := r.proxies.LoadOrStore(key, r.newProxy(home))
	rp := p.(*httputil.ReverseProxy)
	if !loaded {
		r.s.onClose(func(context.Context) error {
			rp.Transport.(*http.Transport).CloseIdleConnections()
			return nil
		})
	}
	return rp
}

// newProxy reverse-proxies to home's Exchange Back End site (444) from
// this server's position, accepting the back end's self-signed certificate
// as Exchange's front ends do (certs.BackEndClientTLS) and resuming TLS
// sessions.
func (r *mailboxRole) newProxy(home *topology.Server) *httputil.ReverseProxy {
	target := &url.URL{Scheme: "https", Host: net.JoinHostPort(home.Address, strconv.Itoa(r.t.Port(444)))}
	beTLS := certs.BackEndClientTLS(home.FQDN)
	beTLS.ClientSessionCache = r.s.tlsCache
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			DialContext:         r.s.dialer.DialContext,
			TLSClientConfig:     beTLS,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     time.Minute,
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("X-FEServer", r.s.Config.Name)
			resp.Header.Set("X-BEServer", home.Name)
			// X-DiagInfo names the server whose IIS answered: the back end.
			resp.Header.Set("X-DiagInfo", home.Name)
			if resp.Request.Method == http.MethodPost && strings.EqualFold(resp.Request.URL.Path, "/owa/auth.owa") {
				resp.Header.Add("Set-Cookie", (&http.Cookie{Name: backEndCookie, Value: home.Name, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}).String())
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			r.s.log.Warn("back end unreachable", "hop", target.Host, "err", err)
			w.Header().Set("Server", "Microsoft-IIS/10.0")
			w.Header().Set("X-FEServer", r.s.Config.Name)
			http.Error(w, "503 Service Unavailable: the mailbox server "+home.FQDN+" does not answer.", http.StatusServiceUnavailable)
		},
	}
}
