package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/transport"
)

// Client talks to one exsim process's admin API.
type Client struct {
	BaseURL string // http://127.0.0.1:9925
	Token   string
	HTTP    *http.Client
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 2 * time.Minute}
}

// APIError is an error answered by the API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("admin API %s: %w (is exsim running? see --admin)", c.BaseURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var ae apiError
		if json.Unmarshal(b, &ae) == nil && ae.Error != "" {
			return &APIError{Status: resp.StatusCode, Message: ae.Error}
		}
		return &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return nil
	}
	return json.Unmarshal(b, out)
}

func srv(name string) string { return "/v1/servers/" + url.PathEscape(name) }

// Topology returns the topology view and the servers the process runs.
func (c *Client) Topology(ctx context.Context) (json.RawMessage, []string, error) {
	var v struct {
		View    json.RawMessage `json:"topology"`
		Running []string        `json:"running"`
	}
	err := c.do(ctx, "GET", "/v1/topology", nil, &v)
	return v.View, v.Running, err
}

// Health returns the servers' listener states.
func (c *Client) Health(ctx context.Context) ([]ServerHealth, error) {
	var v []ServerHealth
	return v, c.do(ctx, "GET", "/v1/health", nil, &v)
}

// Queues is Get-Queue on server.
func (c *Client) Queues(ctx context.Context, server string) ([]transport.QueueInfo, error) {
	var v []transport.QueueInfo
	return v, c.do(ctx, "GET", srv(server)+"/queues", nil, &v)
}

// QueueAction runs retry, suspend or resume on a queue.
func (c *Client) QueueAction(ctx context.Context, server, queue, action string) error {
	return c.do(ctx, "POST", srv(server)+"/queues/"+url.PathEscape(action)+"?queue="+url.QueryEscape(queue), nil, nil)
}

// Messages is Get-Message on server (queue "" for all).
func (c *Client) Messages(ctx context.Context, server, queue string) ([]transport.MessageInfo, error) {
	var v []transport.MessageInfo
	return v, c.do(ctx, "GET", srv(server)+"/messages?queue="+url.QueryEscape(queue), nil, &v)
}

// MessageAction runs suspend, resume, remove (ndr: with an NDR).
func (c *Client) MessageAction(ctx context.Context, server string, id int64, action string, ndr bool) error {
	p := srv(server) + "/messages/" + strconv.FormatInt(id, 10) + "/" + url.PathEscape(action)
	if ndr {
		p += "?ndr=true"
	}
	return c.do(ctx, "POST", p, nil, nil)
}

// Track is Get-MessageTrackingLog on server.
func (c *Client) Track(ctx context.Context, server string, q transport.TrackingQuery) ([]transport.TrackingEvent, error) {
	v := url.Values{}
	for k, s := range map[string]string{"sender": q.Sender, "recipient": q.Recipient, "message_id": q.MessageID, "event": q.EventID, "subject": q.Subject} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Start.IsZero() {
		v.Set("start", q.Start.Format(time.RFC3339))
	}
	if !q.End.IsZero() {
		v.Set("end", q.End.Format(time.RFC3339))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out []transport.TrackingEvent
	return out, c.do(ctx, "GET", srv(server)+"/tracking?"+v.Encode(), nil, &out)
}

// Mailboxes lists a server's mailboxes.
func (c *Client) Mailboxes(ctx context.Context, server string) ([]MailboxSummary, error) {
	var v []MailboxSummary
	return v, c.do(ctx, "GET", srv(server)+"/mailboxes", nil, &v)
}

// MailboxMessages lists a folder of a mailbox.
func (c *Client) MailboxMessages(ctx context.Context, server, address, folder string) ([]MailboxMessage, error) {
	var v []MailboxMessage
	return v, c.do(ctx, "GET", srv(server)+"/mailboxes/"+url.PathEscape(address)+"/messages?folder="+url.QueryEscape(folder), nil, &v)
}

// MailboxMessage returns one message's raw bytes.
func (c *Client) MailboxMessage(ctx context.Context, server, address, folder string, uid uint32) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, "GET", srv(server)+"/mailboxes/"+url.PathEscape(address)+"/messages/"+strconv.FormatUint(uint64(uid), 10)+"?folder="+url.QueryEscape(folder), nil, &b)
}

// EdgeSync returns a server's EdgeSync status.
func (c *Client) EdgeSync(ctx context.Context, server string) (EdgeSyncStatus, error) {
	var v EdgeSyncStatus
	return v, c.do(ctx, "GET", srv(server)+"/edgesync", nil, &v)
}

// Faults lists the fault table.
func (c *Client) Faults(ctx context.Context) ([]labnet.Fault, error) {
	var v []labnet.Fault
	return v, c.do(ctx, "GET", "/v1/faults", nil, &v)
}

// AddFault injects a fault and returns it with its id.
func (c *Client) AddFault(ctx context.Context, f labnet.Fault) (labnet.Fault, error) {
	var v labnet.Fault
	return v, c.do(ctx, "POST", "/v1/faults", f, &v)
}

// RemoveFault removes one fault.
func (c *Client) RemoveFault(ctx context.Context, id int) error {
	return c.do(ctx, "DELETE", "/v1/faults/"+strconv.Itoa(id), nil, nil)
}

// ClearFaults removes every fault.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, "DELETE", "/v1/faults", nil, nil)
}

// Probe runs flows from the process's servers; it returns the raw JSON
// array of probe results.
func (c *Client) Probe(ctx context.Context, req ProbeRequest) (json.RawMessage, error) {
	var b []byte
	err := c.do(ctx, "POST", "/v1/probe", req, &b)
	return b, err
}

// Send sends one message from a server's position.
func (c *Client) Send(ctx context.Context, req SendRequest) (SendResponse, error) {
	var v SendResponse
	return v, c.do(ctx, "POST", "/v1/send", req, &v)
}

// Read reads a mailbox as a client from a server's position.
func (c *Client) Read(ctx context.Context, req ReadRequest) (ReadResponse, error) {
	var v ReadResponse
	return v, c.do(ctx, "POST", "/v1/read", req, &v)
}

// RCA runs Remote Connectivity Analyzer tests from a server's position.
func (c *Client) RCA(ctx context.Context, req RCARequest) (RCAResponse, error) {
	var v RCAResponse
	return v, c.do(ctx, "POST", "/v1/rca", req, &v)
}

// RenewEdgeSubscription renews an Edge's subscription.
func (c *Client) RenewEdgeSubscription(ctx context.Context, server string, participants []string) error {
	return c.do(ctx, "POST", srv(server)+"/edgesync/renew", struct {
		Participants []string `json:"participants"`
	}{participants}, nil)
}
