// Package easclient is exsim's own Exchange ActiveSync client, written
// from Microsoft's open specifications (MS-ASHTTP, MS-ASCMD, MS-ASPROV,
// MS-ASWBXML) for protocol versions 14.1 and 16.1: OPTIONS, the
// Provision policy key dance, FolderSync, Sync, GetItemEstimate,
// ItemOperations, SendMail, SmartReply, SmartForward, MoveItems and Ping.
// It accepts any server that answers as the specifications say, not only
// exsim, so that it can test a real Exchange too.
package easclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/exsim/exsim/internal/wbxml"
)

// Client is one device of one user. Its fields are set before first use;
// it then keeps the device's state (policy key, folder and collection
// SyncKeys) as a phone does. Methods are safe for concurrent use, but a
// device sends one command at a time except Ping.
type Client struct {
	// URL is the ActiveSync endpoint, https://host/Microsoft-Server-ActiveSync.
	URL                  string
	User, Password       string // Basic authentication
	DeviceID, DeviceType string
	// Version is the protocol version spoken: "14.1" (the default) or "16.1".
	Version string
	// Base64Query sends the request line in the base64 encoded form
	// (MS-ASHTTP 2.2.1.1.1.1) instead of the plain text query.
	Base64Query bool
	HTTP        *http.Client

	mu        sync.Mutex
	policyKey string
	folderKey string
	folders   []Folder
	keys      map[string]string // collection id -> SyncKey
}

// Folder is one folder of the hierarchy FolderSync returned.
type Folder struct {
	ServerID, ParentID, DisplayName string
	Type                            int
}

// Folder types (MS-ASCMD 2.2.3.186.3) a client looks for.
const (
	TypeInbox    = 2
	TypeDrafts   = 3
	TypeDeleted  = 4
	TypeSent     = 5
	TypeCalendar = 8
	TypeContacts = 9
)

// StatusError is a command answered with a failure status.
type StatusError struct {
	Command string
	Status  int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("activesync: %s: status %d", e.Command, e.Status)
}

// HTTPError is a command answered with an HTTP error.
type HTTPError struct {
	Command string
	Code    int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("activesync: %s: HTTP %d %s", e.Command, e.Code, http.StatusText(e.Code))
}

func (c *Client) version() string {
	if c.Version == "" {
		return "14.1"
	}
	return c.Version
}

// PolicyKey is the key the device got from Provision ("" before).
func (c *Client) PolicyKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.policyKey
}

// Options asks which versions and commands the server supports
// (MS-ASHTTP 2.2.4).
func (c *Client) Options(ctx context.Context) (versions, commands []string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, c.URL, nil)
	if err != nil {
		return nil, nil, err
	}
	req.SetBasicAuth(c.User, c.Password)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &HTTPError{Command: "OPTIONS", Code: resp.StatusCode}
	}
	split := func(v string) []string {
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	return split(resp.Header.Get("MS-ASProtocolVersions")), split(resp.Header.Get("MS-ASProtocolCommands")), nil
}

// response is a command's answer: the WBXML root (nil for an empty
// body) and, for a multipart answer, its other parts.
type response struct {
	root  *wbxml.Node
	parts [][]byte
}

// post sends one command once.
func (c *Client) post(ctx context.Context, cmd string, body *wbxml.Node, p params) (*response, int, error) {
	var data []byte
	if body != nil {
		var err error
		if data, err = wbxml.Encode(body); err != nil {
			return nil, 0, err
		}
	}
	pk := c.PolicyKey()
	u, err := c.requestURL(cmd, pk, p)
	if err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return nil, 0, err
	}
	req.SetBasicAuth(c.User, c.Password)
	req.Header.Set("User-Agent", "exsim-easclient/1.0")
	if !c.Base64Query {
		req.Header.Set("MS-ASProtocolVersion", c.version())
		if pk != "" {
			req.Header.Set("X-MS-PolicyKey", pk)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	}
	if p.acceptMultiPart && !c.Base64Query {
		req.Header.Set("MS-ASAcceptMultiPart", "T")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("activesync: %s: %w", cmd, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("activesync: %s: %w", cmd, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, &HTTPError{Command: cmd, Code: resp.StatusCode}
	}
	out := &response{}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.ms-sync.multipart") {
		parts, err := splitMultipart(raw)
		if err != nil {
			return nil, 0, fmt.Errorf("activesync: %s: %w", cmd, err)
		}
		raw, out.parts = parts[0], parts
	}
	if len(raw) > 0 {
		if out.root, err = wbxml.Decode(raw); err != nil {
			return nil, 0, fmt.Errorf("activesync: %s: %w", cmd, err)
		}
	}
	return out, http.StatusOK, nil
}

// do sends a command, provisions the device when the server asks (HTTP
// 449, or Status 142, 143 or 144 from 14.0 on) and sends it again once.
func (c *Client) do(ctx context.Context, cmd string, body *wbxml.Node, p params) (*response, error) {
	for attempt := 0; ; attempt++ {
		resp, code, err := c.post(ctx, cmd, body, p)
		needs := code == 449
		if err == nil && resp.root != nil {
			switch resp.root.Value("Status") {
			case "142", "143", "144":
				needs = true
			}
		}
		if !needs || attempt > 0 || cmd == "Provision" {
			if needs {
				return nil, &StatusError{Command: cmd, Status: 142}
			}
			return resp, err
		}
		if err := c.Provision(ctx); err != nil {
			return nil, err
		}
	}
}

// statusOf fails unless status is one of ok.
func statusOf(cmd, status string, ok ...string) error {
	for _, s := range ok {
		if status == s {
			return nil
		}
	}
	n, _ := strconv.Atoi(status)
	return &StatusError{Command: cmd, Status: n}
}
