// Package mapiclient is exsim's own MAPI over HTTP client, written from
// Microsoft's open specifications (MS-OXCMAPIHTTP, MS-OXCROPS, MS-OXCRPC,
// MS-OXNSPI) on the codec of internal/mapi: it binds to the address book,
// resolves names, connects to the mailbox, logs on, lists the folders and
// the Inbox, waits for new mail and disconnects. The same Session runs
// over EMSMDB's DCE/RPC operations (DialRPC: EcDoConnectEx, EcDoRpcExt2,
// EcDoDisconnect) on an association such as internal/rpchclient's RPC
// over HTTP. It accepts any server that answers as the specifications
// say (a real Exchange 2016 or 2019 too): authentication is NTLM (or
// Negotiate carrying NTLM) over HTTPS.
package mapiclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exsim/exsim/internal/mapi"
)

// ResponseError is an answer whose X-ResponseCode is not 0: the request
// was refused before the server ran it.
type ResponseError struct {
	Request string
	Code    mapi.ResponseCode
	Status  int    // the HTTP status
	Body    string // the diagnostic text the server sent (shortened)
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("mapiclient: %s: HTTP %d, X-ResponseCode %d (%s): %s", e.Request, e.Status, int(e.Code), e.Code, e.Body)
}

// endpoint is /mapi/emsmdb or /mapi/nspi with the cookies of its Session
// Context (MS-OXCMAPIHTTP 3.1.5.1: every cookie the server set goes back
// on the next request of the context).
type endpoint struct {
	url string
	mu  sync.Mutex
	jar map[string]string
}

// transport sends MAPI/HTTP requests.
type transport struct {
	http       *http.Client
	user, pass string
	app        string
	clientInfo string
	mu         sync.Mutex
	seq        int
	onPending  func(request string)
}

func newTransport(cfg *Config) *transport {
	hc := cfg.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c := *hc
	c.Transport = ntlmssp.Negotiator{RoundTripper: rt}
	c.Jar = nil // the endpoints keep their Session Context's cookies themselves
	app := cfg.ClientApplication
	if app == "" {
		// The documented form is Outlook/15.xx.xxxx.xxxx (section
		// 2.2.3.3.6); servers read it as a version.
		app = "Outlook/16.0.17928.20114"
	}
	return &transport{http: &c, user: cfg.User, pass: cfg.Password, app: app, clientInfo: guid(), onPending: cfg.OnPending}
}

func guid() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// do sends one request of type typ with body req and decodes the answer
// into resp (nil for PING).
func (t *transport) do(ctx context.Context, ep *endpoint, typ string, req, resp mapi.Body) error {
	var body []byte
	if req != nil {
		body = mapi.Marshal(req)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.seq++
	n := t.seq
	t.mu.Unlock()
	h := hr.Header
	h.Set("Content-Type", mapi.ContentType)
	h.Set("Accept", mapi.ContentType)
	h.Set("X-RequestType", typ)
	h.Set("X-ClientInfo", t.clientInfo)
	h.Set("X-RequestId", t.clientInfo+":"+strconv.Itoa(n))
	h.Set("X-ClientApplication", t.app)
	hr.SetBasicAuth(t.user, t.pass) // the Negotiator turns it into NTLM
	ep.mu.Lock()
	for k, v := range ep.jar {
		hr.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	ep.mu.Unlock()
	res, err := t.http.Do(hr)
	if err != nil {
		return fmt.Errorf("mapiclient: %s: %w", typ, err)
	}
	defer res.Body.Close()
	ep.mu.Lock()
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 {
			delete(ep.jar, ck.Name)
		} else {
			ep.jar[ck.Name] = ck.Value
		}
	}
	ep.mu.Unlock()
	code, cerr := strconv.Atoi(res.Header.Get("X-ResponseCode"))
	if res.StatusCode != http.StatusOK || cerr != nil || code != 0 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		rc := mapi.ResponseCode(code)
		if cerr != nil {
			rc = mapi.RespUnknownFailure
		}
		return &ResponseError{Request: typ, Code: rc, Status: res.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	payload, err := t.readFramed(typ, res.Body)
	if err != nil {
		return err
	}
	if resp == nil {
		return nil
	}
	if err := mapi.Unmarshal(payload, resp); err != nil {
		return fmt.Errorf("mapiclient: %s response: %w", typ, err)
	}
	return nil
}

// readFramed reads the meta-tags (PROCESSING, PENDING..., DONE), the
// additional headers and returns the binary body (section 2.2.7).
func (t *transport) readFramed(typ string, r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("mapiclient: %s: response ended before DONE: %w", typ, err)
		}
		switch strings.TrimRight(line, "\r\n") {
		case mapi.MetaProcessing:
		case mapi.MetaPending:
			if t.onPending != nil {
				t.onPending(typ)
			}
		case mapi.MetaDone:
			for {
				hl, err := br.ReadString('\n')
				if err != nil {
					return nil, fmt.Errorf("mapiclient: %s: additional headers: %w", typ, err)
				}
				if strings.TrimRight(hl, "\r\n") == "" {
					return io.ReadAll(br)
				}
			}
		default:
			return nil, fmt.Errorf("mapiclient: %s: unexpected meta-tag %q", typ, strings.TrimSpace(line))
		}
	}
}
