package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// fakeLab answers for EX01 only; methods a test does not use panic through
// the nil embedded interface, so a handler calling the wrong one fails.
type fakeLab struct {
	Lab
	top    *topology.Topology
	faults labnet.Faults
	sent   []SendRequest
	acted  []string
}

func (l *fakeLab) Topology() *topology.Topology { return l.top }
func (l *fakeLab) Running() []string            { return []string{"EX01"} }
func (l *fakeLab) Faults() *labnet.Faults       { return &l.faults }

func (l *fakeLab) known(server string) error {
	if !strings.EqualFold(server, "EX01") {
		return &NotFoundError{"server " + server}
	}
	return nil
}

func (l *fakeLab) Queues(server string) ([]transport.QueueInfo, error) {
	if err := l.known(server); err != nil {
		return nil, err
	}
	return []transport.QueueInfo{{Identity: `EX01\1`, Status: transport.QueueRetry, MessageCount: 2, NextHopDomain: "fabrikam.com"}}, nil
}

func (l *fakeLab) MessageAction(server string, id int64, action string) error {
	if err := l.known(server); err != nil {
		return err
	}
	l.acted = append(l.acted, action)
	return nil
}

func (l *fakeLab) Track(server string, q transport.TrackingQuery) ([]transport.TrackingEvent, error) {
	if err := l.known(server); err != nil {
		return nil, err
	}
	return []transport.TrackingEvent{{EventID: "RECEIVE", Sender: q.Sender}}, nil
}

func (l *fakeLab) MailboxMessage(server, address, folder string, uid uint32) ([]byte, error) {
	if uid != 1 {
		return nil, &NotFoundError{"message"}
	}
	return []byte("Subject: hi\r\n\r\nbody\r\n"), nil
}

func (l *fakeLab) Send(ctx context.Context, req SendRequest) (SendResponse, error) {
	l.sent = append(l.sent, req)
	return SendResponse{Accepted: true, Reply: "250 2.6.0 queued"}, nil
}

func startAPI(t *testing.T) (*fakeLab, *Client, *httptest.Server) {
	t.Helper()
	top, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	if err := top.SetPortOffset(10000); err != nil {
		t.Fatal(err)
	}
	lab := &fakeLab{top: top}
	ts := httptest.NewServer(Handler(lab, "s3cret", nil))
	t.Cleanup(ts.Close)
	return lab, &Client{BaseURL: ts.URL, Token: "s3cret"}, ts
}

func request(t *testing.T, ts *httptest.Server, method, path, token string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestBearerToken(t *testing.T) {
	_, _, ts := startAPI(t)
	for _, tok := range []string{"", "wrong", "s3cret2", "s3cre"} {
		resp, body := request(t, ts, "GET", "/v1/servers/EX01/queues", tok, nil)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="exsim"` || !strings.Contains(body, "missing or wrong bearer token") {
			t.Errorf("token %q: %d %q %s", tok, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}
	// Basic with the right secret is not a bearer token.
	req, _ := http.NewRequest("GET", ts.URL+"/v1/faults", nil)
	req.SetBasicAuth("admin", "s3cret")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 401 {
		t.Errorf("Basic auth: %d, want 401", resp.StatusCode)
	}
	if resp, body := request(t, ts, "GET", "/v1/servers/EX01/queues", "s3cret", nil); resp.StatusCode != 200 || !strings.Contains(body, `"Status": "Retry"`) {
		t.Errorf("right token: %d %s", resp.StatusCode, body)
	}
}

func TestErrorsAreStatusAndJSON(t *testing.T) {
	_, c, ts := startAPI(t)
	ctx := context.Background()

	_, err := c.Queues(ctx, "EX09")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Message != "server EX09 not found" {
		t.Errorf("unknown server: %v", err)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/v1/servers/EX01/messages/abc/suspend", "", 400, "message id must be a number"},
		{"GET", "/v1/servers/EX01/tracking?start=yesterday", "", 400, "start must be RFC 3339"},
		{"GET", "/v1/servers/EX01/tracking?limit=-1", "", 400, "limit must be a number"},
		{"GET", "/v1/servers/EX01/mailboxes/alice@contoso.com/messages/x", "", 400, "uid must be a number"},
		{"GET", "/v1/servers/EX01/mailboxes/alice@contoso.com/messages/7", "", 404, "message not found"},
		{"POST", "/v1/send", "{not json", 400, "send: "},
		{"POST", "/v1/send", `{"sender": 5}`, 400, "send: "},
		{"POST", "/v1/faults", `{"from": "EX09", "action": "drop"}`, 400, `EX09\" is not a server of the topology`},
		{"POST", "/v1/faults", `{"from": "EX01", "action": "explode"}`, 400, ""},
		{"DELETE", "/v1/faults/x", "", 400, "fault id must be a number"},
		{"DELETE", "/v1/faults/42", "", 404, "fault 42 not found"},
		{"GET", "/v1/nothing", "", 404, ""},
	} {
		resp, body := request(t, ts, tc.method, tc.path, "s3cret", strings.NewReader(tc.body))
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.msg)
			continue
		}
		if tc.status != 404 || tc.msg != "" {
			var e apiError
			if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Errorf("%s %s: error body is not JSON: %s", tc.method, tc.path, body)
			}
		}
	}
}

func TestBodyLimit(t *testing.T) {
	lab, _, ts := startAPI(t)
	big := `{"sender": "a@contoso.com", "body": "` + strings.Repeat("x", 2<<20) + `"}`
	resp, body := request(t, ts, "POST", "/v1/send", "s3cret", strings.NewReader(big))
	if resp.StatusCode != 400 || !strings.Contains(body, "too large") || len(lab.sent) != 0 {
		t.Errorf("2 MiB body: %d %s (sent %d)", resp.StatusCode, body, len(lab.sent))
	}
}

func TestClientRoundTrips(t *testing.T) {
	lab, c, _ := startAPI(t)
	ctx := context.Background()
	if err := c.MessageAction(ctx, "ex01", 7, "remove", true); err != nil || len(lab.acted) != 1 || lab.acted[0] != "remove-ndr" {
		t.Errorf("remove with NDR: %v %v", err, lab.acted)
	}
	ev, err := c.Track(ctx, "EX01", transport.TrackingQuery{Sender: "carol@fabrikam.com"})
	if err != nil || len(ev) != 1 || ev[0].Sender != "carol@fabrikam.com" {
		t.Errorf("Track = %+v, %v", ev, err)
	}
	b, err := c.MailboxMessage(ctx, "EX01", "alice@contoso.com", "", 1)
	if err != nil || string(b) != "Subject: hi\r\n\r\nbody\r\n" {
		t.Errorf("MailboxMessage = %q, %v", b, err)
	}
	res, err := c.Send(ctx, SendRequest{FromServer: "INET01", Sender: "carol@fabrikam.com", Recipients: []string{"alice@contoso.com"}})
	if err != nil || !res.Accepted || len(lab.sent) != 1 || lab.sent[0].FromServer != "INET01" {
		t.Errorf("Send = %+v, %v", res, err)
	}
}

func TestFaultsNamesAndOffset(t *testing.T) {
	lab, c, _ := startAPI(t)
	ctx := context.Background()
	f, err := c.AddFault(ctx, labnet.Fault{From: "ex01", To: "inet01", Port: 25, Action: labnet.ActionDrop})
	if err != nil {
		t.Fatal(err)
	}
	if f.From != "EX01" || f.To != lab.top.Server("INET01").Address || f.Port != 10025 {
		t.Errorf("fault = %+v: want server names resolved and the port offset added", f)
	}
	if _, err := lab.faults.Add(labnet.Fault{From: "EDGE01", Port: 10443, Action: labnet.ActionDrop, Note: SimulatedFirewallNote + ": perimeter -> internal"}); err != nil {
		t.Fatal(err)
	}
	if err := c.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	left, _ := c.Faults(ctx)
	if len(left) != 1 || !strings.HasPrefix(left[0].Note, SimulatedFirewallNote) {
		t.Errorf("after clear: %+v, want only the simulated firewall", left)
	}
	if err := c.RemoveFault(ctx, left[0].ID); err != nil {
		t.Fatal(err)
	}
	if left, _ := c.Faults(ctx); len(left) != 0 {
		t.Errorf("after remove: %+v", left)
	}
}

func TestClearAllFaults(t *testing.T) {
	lab, _, ts := startAPI(t)
	lab.faults.Add(labnet.Fault{Port: 10443, Action: labnet.ActionDrop, Note: SimulatedFirewallNote})
	lab.faults.Add(labnet.Fault{Port: 10025, Action: labnet.ActionReset})
	if resp, _ := request(t, ts, "DELETE", "/v1/faults?all=true", "s3cret", nil); resp.StatusCode != 200 {
		t.Fatalf("DELETE all: %d", resp.StatusCode)
	}
	if n := len(lab.faults.List()); n != 0 {
		t.Errorf("%d faults left after ?all=true", n)
	}
}

func TestTokens(t *testing.T) {
	t.Setenv(TokenEnv, "")
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := LoadToken(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "admin.token")) {
		t.Errorf("LoadToken without a lab: %v, want an error naming the file", err)
	}
	tok, err := LoadOrCreateToken(dir)
	if err != nil || len(tok) != 48 {
		t.Fatalf("LoadOrCreateToken = %q, %v", tok, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "admin.token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	again, _ := LoadOrCreateToken(dir)
	client, _ := LoadToken(dir)
	if again != tok || client != tok {
		t.Errorf("token changed: %q %q %q", tok, again, client)
	}
	t.Setenv(TokenEnv, "from-env")
	if got, _ := LoadToken(dir); got != "from-env" {
		t.Errorf("$%s ignored: %q", TokenEnv, got)
	}
}
