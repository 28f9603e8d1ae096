package httpd

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/mapi"
)

// MAPI over HTTP (MS-OXCMAPIHTTP): /mapi/emsmdb (the mailbox, ROPs) and
// /mapi/nspi (the address book), behind Integrated Windows
// authentication. A request is a POST whose X-RequestType names the
// operation; the answer is 200 with X-ResponseCode, and when that is 0 a
// chunked body: "PROCESSING", a "PENDING" line every X-PendingPeriod while
// the server works, "DONE", the X-ElapsedTime and X-StartTime headers and
// the binary response body (section 2.2.7).

// maxMAPIBody bounds a request body. Exchange's own limit is not public;
// the largest request Outlook sends is an Execute of one ROP buffer,
// itself under 64 KB per RPC_HEADER_EXT, so 1 MB leaves room for chains.
const maxMAPIBody = 1 << 20

// mapiEndpoint is one of the two MAPI/HTTP virtual paths.
type mapiEndpoint struct {
	name   string // "emsmdb" or "nspi"
	create string // the request type that creates a Session Context
	// ops are the other request types, each with whether it takes part
	// in the MapiSequence order (NotificationWait and PING run beside
	// the requests of their session, so they do not).
	ops map[string]bool
}

var (
	epEMSMDB = mapiEndpoint{name: "emsmdb", create: mapi.ReqConnect, ops: map[string]bool{
		mapi.ReqExecute: true, mapi.ReqDisconnect: true, mapi.ReqNotificationWait: false, mapi.ReqPing: false}}
	epNSPI = mapiEndpoint{name: "nspi", create: mapi.ReqBind, ops: map[string]bool{
		mapi.ReqUnbind: true, mapi.ReqGetProps: true, mapi.ReqQueryRows: true, mapi.ReqResolveNames: true,
		mapi.ReqDNToMId: true, mapi.ReqGetSpecialTable: true, mapi.ReqPing: false}}
)

// mapiCall is one MAPI/HTTP request being answered.
type mapiCall struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	u    *User
	log  *slog.Logger
	ep   mapiEndpoint
	typ  string // X-RequestType as sent
	body []byte
	sess *mapiSession // nil before Connect/Bind
	// sequenced: the request took part in the MapiSequence order.
	sequenced bool
	held      *mapiSession // the context this request keeps busy
	start     time.Time
}

// serveMAPI is the /mapi virtual directory.
func (h *Handler) serveMAPI(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	u := h.authenticateAt(w, r, vdirMAPI, log, rest, "/emsmdb", "/emsmdb/", "/nspi", "/nspi/")
	if u == nil {
		return
	}
	c := &mapiCall{h: h, w: w, r: r, u: u, ep: epEMSMDB, typ: r.Header.Get("X-RequestType"), start: h.cfg.Now()}
	if strings.HasPrefix(rest, "/nspi") {
		c.ep = epNSPI
	}
	c.log = log.With("proto", "mapi/"+c.ep.name, "rcpt", u.Address)
	defer func() {
		if c.held != nil {
			c.h.mapi.release(c.held)
		}
	}()
	code, msg := c.admit()
	if code != mapi.RespSuccess {
		c.fail(code, msg)
		return
	}
	c.log.Debug("mapi request", "request", c.typ, "bytes", len(c.body))
	c.dispatch()
}

// admit checks the verb, headers, body and session context and returns
// the X-ResponseCode to fail with, or RespSuccess.
func (c *mapiCall) admit() (mapi.ResponseCode, string) {
	r := c.r
	if r.Method != http.MethodPost {
		return mapi.RespInvalidVerb, "MAPI/HTTP requests are POSTs"
	}
	if c.typ == "" {
		return mapi.RespMissingHeader, "X-RequestType header is missing"
	}
	if r.Header.Get("X-RequestId") == "" {
		return mapi.RespMissingHeader, "X-RequestId header is missing"
	}
	if ct := r.Header.Get("Content-Type"); !strings.EqualFold(strings.TrimSpace(strings.Split(ct, ";")[0]), mapi.ContentType) {
		return mapi.RespInvalidHeader, "Content-Type must be " + mapi.ContentType
	}
	seq, known := c.ep.ops[c.canonType()]
	if !known && !strings.EqualFold(c.typ, c.ep.create) {
		return mapi.RespInvalidRequestType, "X-RequestType " + c.typ + " is not valid on /mapi/" + c.ep.name
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxMAPIBody+1))
	if err != nil {
		return mapi.RespInvalidRequestBody, "the request body could not be read"
	}
	if len(body) > maxMAPIBody {
		return mapi.RespTooLarge, "the request body is too large"
	}
	c.body = body
	if strings.EqualFold(c.typ, c.ep.create) {
		return mapi.RespSuccess, ""
	}
	return c.h.mapi.resume(c, seq)
}

// canonType is the request type in the specification's spelling (the
// header is matched case-insensitively).
func (c *mapiCall) canonType() string {
	for t := range c.ep.ops {
		if strings.EqualFold(t, c.typ) {
			return t
		}
	}
	if strings.EqualFold(c.typ, c.ep.create) {
		return c.ep.create
	}
	return c.typ
}

// serverApplication is X-ServerApplication: Exchange/ and the build with
// Exchange's zero padding (15.02.1258.012).
func (c *config) serverApplication() string {
	v := c.ver
	return fmt.Sprintf("Exchange/%d.%02d.%04d.%03d", v.Major, v.Minor, v.Build, v.Revision)
}

// commonHeaders are the headers of every MAPI/HTTP answer.
func (c *mapiCall) commonHeaders(code mapi.ResponseCode) {
	h := c.w.Header()
	setRaw(h, "X-RequestType", c.typ)
	setRaw(h, "X-RequestId", c.r.Header.Get("X-RequestId"))
	if ci := c.r.Header.Get("X-ClientInfo"); ci != "" {
		setRaw(h, "X-ClientInfo", ci)
	}
	setRaw(h, "X-ResponseCode", strconv.Itoa(int(code)))
	setRaw(h, "X-ServerApplication", c.h.cfg.serverApplication())
	h.Set("Cache-Control", "private")
}

// fail answers a request refused before processing: X-ResponseCode not
// 0 and a short diagnostic body (section 2.2.3.3.3: "the client parses
// the response body for diagnostic information"). Exchange's diagnostic
// text is not documented; exsim's names the code and the reason.
func (c *mapiCall) fail(code mapi.ResponseCode, msg string) {
	c.log.Info("mapi request refused", "request", c.typ, "code", int(code), "err", msg)
	c.commonHeaders(code)
	if c.sess != nil {
		// The request was in sequence and is over: the client goes on
		// with the next sequence cookie.
		c.h.mapi.setCookies(c)
	}
	c.w.Header().Set("Content-Type", "text/html")
	body := fmt.Sprintf("<html><head><title>%s</title></head><body>%d %s: %s</body></html>",
		code, int(code), code, html.EscapeString(msg))
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusOK)
	io.WriteString(c.w, body)
}

// respond runs work while the answer streams: the headers (with the
// session cookies), PROCESSING, PENDING every pending period until work
// returns, then DONE, the timing headers and the body work produced.
// work gets a context that ends with the request.
func (c *mapiCall) respond(work func(ctx context.Context) (mapi.Body, error)) {
	// Operations decode their body before they call respond: a bad body
	// is still answered with X-ResponseCode 12 (mapiCall.decode).
	h := c.w.Header()
	c.commonHeaders(mapi.RespSuccess)
	h.Set("Content-Type", mapi.ContentType)
	setRaw(h, "X-PendingPeriod", strconv.Itoa(int(c.h.cfg.MAPIPendingPeriod/time.Millisecond)))
	if c.sess != nil {
		c.h.mapi.setCookies(c)
		setRaw(h, "X-ExpirationInfo", strconv.Itoa(int(c.h.cfg.MAPISessionTimeout/time.Millisecond)))
	}
	c.w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := c.w.(http.Flusher); ok {
			f.Flush()
		}
	}
	io.WriteString(c.w, mapi.MetaProcessing+"\r\n")
	flush()
	ctx, cancel := context.WithCancel(c.r.Context())
	defer cancel()
	type result struct {
		b   mapi.Body
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := work(ctx)
		done <- result{b, err}
	}()
	tick := time.NewTicker(c.h.cfg.MAPIPendingPeriod)
	defer tick.Stop()
	var res result
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-tick.C:
			if _, err := io.WriteString(c.w, mapi.MetaPending+"\r\n"); err != nil {
				cancel()
			}
			flush()
		}
	}
	var out []byte
	if res.err != nil {
		// Past PROCESSING the X-ResponseCode header is sent: a failure
		// here can only be told in the body's own error code.
		c.log.Error("mapi request failed", "request", c.typ, "err", res.err)
		out = mapi.Marshal(&mapi.StatusResponse{ErrorCode: mapi.ErrorCode(0x80004005)}) // MAPI_E_CALL_FAILED
	} else if res.b != nil {
		out = mapi.Marshal(res.b)
	}
	elapsed := c.h.cfg.Now().Sub(c.start)
	fmt.Fprintf(c.w, "%s\r\nX-ElapsedTime: %d\r\nX-StartTime: %s\r\n\r\n", mapi.MetaDone,
		elapsed.Milliseconds(), c.start.UTC().Format(http.TimeFormat))
	c.w.Write(out)
	c.log.Info("mapi request", "request", c.typ, "elapsed_ms", elapsed.Milliseconds())
}

// decode reads the request body into b, or answers X-ResponseCode 12
// and returns false.
func (c *mapiCall) decode(b mapi.Body) bool {
	if err := mapi.Unmarshal(c.body, b); err != nil {
		c.fail(mapi.RespInvalidRequestBody, "the "+c.typ+" request body is invalid: "+err.Error())
		return false
	}
	return true
}

// endSession answers EMSMDB's Disconnect and NSPI's Unbind alike: once req
// (the request body) decodes, the session context ends and the reply is a
// bare status.
func (c *mapiCall) endSession(req mapi.Body) {
	if !c.decode(req) {
		return
	}
	c.h.mapi.remove(c.sess)
	c.sess = nil
	c.respond(func(context.Context) (mapi.Body, error) { return &mapi.StatusResponse{}, nil })
}

// dispatch runs the request type.
func (c *mapiCall) dispatch() {
	switch t := c.canonType(); t {
	case mapi.ReqPing:
		c.ping()
	case mapi.ReqConnect, mapi.ReqExecute, mapi.ReqDisconnect, mapi.ReqNotificationWait:
		c.emsmdb(t)
	default:
		c.nspi(t)
	}
}

// ping is the PING request type (section 2.2.6): it keeps the Session
// Context alive and has no body of its own.
func (c *mapiCall) ping() {
	c.respond(func(context.Context) (mapi.Body, error) { return nil, nil })
}
