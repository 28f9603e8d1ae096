// Package control is the management API of a running exsim process: topology
// and health, queues and messages (Get-Queue, Get-Message and their
// actions), message tracking search, mailboxes, fault injection, and
// running the probe or sending mail from a server's own position. It is
// HTTP+JSON on a management address (loopback by default) behind a bearer
// token, and the CLI and the scenario runner use it through Client.
// Health (/healthz), readiness (/readyz) and Prometheus metrics (/metrics)
// are served beside it without the token.
package control

import (
	"context"
	"encoding/json"
	"time"

	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// Lab is what one exsim process offers the API. roles.Runtime implements it.
type Lab interface {
	// Topology is the lab's topology; it carries the port offset.
	Topology() *topology.Topology
	// Running names the servers this process runs.
	Running() []string
	Health() []ServerHealth
	Queues(server string) ([]transport.QueueInfo, error)
	Messages(server, queue string) ([]transport.MessageInfo, error)
	QueueAction(server, queue, action string) error
	MessageAction(server string, id int64, action string) error
	Track(server string, q transport.TrackingQuery) ([]transport.TrackingEvent, error)
	Mailboxes(server string) ([]MailboxSummary, error)
	MailboxMessages(server, address, folder string) ([]MailboxMessage, error)
	MailboxMessage(server, address, folder string, uid uint32) ([]byte, error)
	Faults() *labnet.Faults
	Probe(ctx context.Context, req ProbeRequest) (ProbeResponse, error)
	Send(ctx context.Context, req SendRequest) (SendResponse, error)
	Read(ctx context.Context, req ReadRequest) (ReadResponse, error)
	// RCA runs the Remote Connectivity Analyzer's tests from a server's
	// position (exsim rca).
	RCA(ctx context.Context, req RCARequest) (RCAResponse, error)
	EdgeSync(server string) (EdgeSyncStatus, error)
	// RenewEdgeSubscription runs New-EdgeSubscription again on an Edge;
	// participants empty means every Mailbox server of the site.
	RenewEdgeSubscription(server string, participants []string) error
}

// ServerHealth is one server's state in this process.
type ServerHealth struct {
	Name      string           `json:"name"`
	Role      topology.Role    `json:"role"`
	Address   string           `json:"address"`
	Listeners []ListenerHealth `json:"listeners"`
}

// ListenerHealth is one listener's state.
type ListenerHealth struct {
	topology.Listener
	Address string `json:"address"`
	State   string `json:"state"` // listening, closed, failed
	Error   string `json:"error,omitempty"`
}

// MailboxSummary is one mailbox of a server.
type MailboxSummary struct {
	Address  string `json:"address"`
	Messages int    `json:"messages"`
	Unseen   int    `json:"unseen"`
}

// MailboxMessage is one message in a mailbox folder.
type MailboxMessage struct {
	UID       uint32    `json:"uid"`
	MessageID string    `json:"message_id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Date      time.Time `json:"date"`
	Size      int64     `json:"size"`
	Seen      bool      `json:"seen"`
	// Received is the unfolded Received chain, newest first.
	Received []string `json:"received,omitempty"`
}

// EdgeSyncStatus is a server's EdgeSync state: on a Mailbox server its
// push, on an Edge what it last received.
type EdgeSyncStatus struct {
	Server           string    `json:"server"`
	Role             string    `json:"role"`
	Participates     bool      `json:"participates"`
	Edge             string    `json:"edge,omitempty"`
	LastAttempt      time.Time `json:"last_attempt,omitzero"`
	LastSuccess      time.Time `json:"last_success,omitzero"`
	LastError        string    `json:"last_error,omitempty"`
	ConfigEntries    int       `json:"config_entries,omitempty"`
	RecipientEntries int       `json:"recipient_entries,omitempty"`
	Stale            bool      `json:"stale"`
	AcceptedDomains  []string  `json:"accepted_domains,omitempty"`
	MailboxServers   []string  `json:"mailbox_servers,omitempty"`
}

// ProbeRequest asks a process to check flows from the servers it runs.
type ProbeRequest struct {
	// Flows are flow ids; empty means every flow whose source runs here.
	Flows   []string      `json:"flows,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
}

// ProbeResponse carries the results: a JSON array of probe.Result.
type ProbeResponse struct {
	Results json.RawMessage `json:"results"`
}

// SendRequest sends mail from a server's position or as a client.
type SendRequest struct {
	// From is the server whose position (address, DNS) sends; "" uses
	// Server in SMTP (client) mode.
	FromServer string   `json:"from_server,omitempty"`
	SMTP       string   `json:"smtp,omitempty"` // host:port for client mode
	TLS        string   `json:"tls,omitempty"`  // none, starttls, implicit, opportunistic
	User       string   `json:"user,omitempty"`
	Password   string   `json:"password,omitempty"`
	Sender     string   `json:"sender"`
	Recipients []string `json:"recipients"`
	Subject    string   `json:"subject,omitempty"`
	Body       string   `json:"body,omitempty"`
	Headers    []string `json:"headers,omitempty"`
	// Queue hands the message to the server's own queue (a durable
	// Submit with retries) instead of delivering directly.
	Queue bool `json:"queue,omitempty"`
}

// SendResponse is the outcome of one message.
type SendResponse struct {
	MessageID string            `json:"message_id"`
	Accepted  bool              `json:"accepted"`
	Reply     string            `json:"reply"`
	Rcpts     map[string]string `json:"rcpts,omitempty"` // per-recipient reply
	Endpoint  string            `json:"endpoint,omitempty"`
}

// ReadRequest reads a mailbox as a client would, from a server's position
// (an internet client is the internet server's position).
type ReadRequest struct {
	FromServer string `json:"from_server"`
	// Protocol is imap, pop3, https (EWS FindItem with NTLM), ews-stream
	// (an EWS streaming subscription held open for Hold), activesync-ping
	// (an ActiveSync Ping on the Inbox held for Hold), rpc-http (RPC over
	// HTTP channels with NSPI bound, held idle for Hold) or http.
	Protocol string `json:"protocol"`
	// Server is the server whose front end is used.
	Server   string `json:"server"`
	User     string `json:"user"`
	Password string `json:"password"`
	// TLS is implicit (993, 995; the default) or starttls (143, 110).
	TLS string `json:"tls,omitempty"`
	// Hold is how long protocols ews-stream, activesync-ping and rpc-http
	// hold their connection open.
	Hold time.Duration `json:"hold,omitempty"`
}

// ReadResponse lists what the client saw in the inbox.
type ReadResponse struct {
	Greeting string   `json:"greeting,omitempty"`
	Subjects []string `json:"subjects"`
	Detail   string   `json:"detail,omitempty"`
	// Cut says why a held connection (ews-stream, activesync-ping,
	// rpc-http) ended before Hold: a proxy's idle timeout, a reset. Empty
	// when it lasted.
	Cut string `json:"cut,omitempty"`
}

// RCARequest runs Remote Connectivity Analyzer tests (package probe/rca)
// from a server's position.
type RCARequest struct {
	// FromServer is the server whose position (address, DNS) runs them.
	FromServer string `json:"from_server"`
	// Target is the host every test connects to ("" for the public names
	// of the user's domain).
	Target   string `json:"target,omitempty"`
	User     string `json:"user,omitempty"` // "" for the first mailbox of the first accepted domain
	Password string `json:"password,omitempty"`
	// Tests are test names; empty runs all.
	Tests   []string      `json:"tests,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
}

// RCAResponse carries the results: a JSON array of rca.Result, and the
// user the tests ran as.
type RCAResponse struct {
	User    string          `json:"user"`
	Results json.RawMessage `json:"results"`
}
