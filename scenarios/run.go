package scenarios

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/internal/labnet"
	"github.com/exsim/exsim/topology"
	"github.com/exsim/exsim/transport"
)

// Env is the running lab a scenario acts on: the admin API of the process
// that runs each server.
type Env interface {
	Client(server string) (*control.Client, error)
	// Topology is the lab's topology; it carries the port offset.
	Topology() *topology.Topology
}

// StepResult is the outcome of one step.
type StepResult struct {
	Index    int           `json:"index"`
	Kind     string        `json:"kind"`
	Pass     bool          `json:"pass"`
	Detail   string        `json:"detail"`
	Duration time.Duration `json:"duration_ns"`
}

// Result is the outcome of one scenario.
type Result struct {
	Name     string        `json:"name"`
	File     string        `json:"file"`
	Table    string        `json:"table,omitempty"`
	Row      string        `json:"row,omitempty"`
	Flows    []string      `json:"flows,omitempty"`
	Pass     bool          `json:"pass"`
	Steps    []StepResult  `json:"steps"`
	Duration time.Duration `json:"duration_ns"`
	// Error is the first failing step's detail.
	Error string `json:"error,omitempty"`
}

// Runner runs scenarios against an Env.
type Runner struct {
	Env Env
	// OnStep, when set, is told of every finished step (progress output).
	OnStep func(sc *Scenario, r StepResult)
	// Timeout bounds each waiting step that sets none (default 30 s).
	Timeout time.Duration
}

// sent is one message a scenario sent.
type sent struct {
	subject   string
	messageID string
	to        []string
}

// run is the state of one scenario run.
type run struct {
	r      *Runner
	sc     *Scenario
	tag    string
	n      int
	last   []sent
	faults []func(context.Context) error
	start  time.Time
}

// Run runs scenarios one after the other.
func (r *Runner) Run(ctx context.Context, scs []*Scenario) []Result {
	out := make([]Result, 0, len(scs))
	for _, sc := range scs {
		out = append(out, r.RunOne(ctx, sc))
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

// RunOne runs one scenario; faults it injected are removed at its end,
// whatever happened.
func (r *Runner) RunOne(ctx context.Context, sc *Scenario) Result {
	b := make([]byte, 3)
	rand.Read(b)
	st := &run{r: r, sc: sc, tag: hex.EncodeToString(b), start: time.Now()}
	res := Result{Name: sc.Name, File: sc.File, Table: sc.Table, Row: sc.Row, Flows: sc.Flows, Pass: true}
	start := time.Now()
	defer func() {
		for _, undo := range st.faults {
			undo(context.Background())
		}
	}()
	for i, step := range sc.Steps {
		kind, _ := step.kind()
		t0 := time.Now()
		detail, err := st.do(ctx, kind, step)
		sr := StepResult{Index: i, Kind: kind, Pass: err == nil, Detail: detail, Duration: time.Since(t0)}
		if err != nil {
			sr.Detail = err.Error()
		}
		res.Steps = append(res.Steps, sr)
		if r.OnStep != nil {
			r.OnStep(sc, sr)
		}
		if err != nil {
			res.Pass = false
			res.Error = fmt.Sprintf("step %d (%s): %v", i+1, kind, err)
			break
		}
	}
	res.Duration = time.Since(start)
	return res
}

func (st *run) timeout(d *Duration) time.Duration {
	def := st.r.Timeout
	if def == 0 {
		def = 30 * time.Second
	}
	return dur(d, def)
}

func (st *run) client(server string) (*control.Client, string, error) {
	s := st.r.Env.Topology().Server(server)
	if s == nil {
		return nil, "", fmt.Errorf("no server %q in the topology", server)
	}
	c, err := st.r.Env.Client(s.Name)
	return c, s.Name, err
}

// subject tags a subject with the run, so a scenario never mistakes an
// earlier run's message for its own.
func (st *run) subject(s string) string {
	st.n++
	if s == "" {
		s = st.sc.Name
	}
	return fmt.Sprintf("%s [exsim %s.%d]", s, st.tag, st.n)
}

func (st *run) do(ctx context.Context, kind string, s Step) (string, error) {
	switch kind {
	case "send":
		return st.send(ctx, s.Send)
	case "submit":
		return st.submit(ctx, s.Submit)
	case "wait_delivery":
		return st.wait(ctx, s.Wait)
	case "assert_not_delivered":
		return st.notDelivered(ctx, s.NotDelivered)
	case "assert_path":
		return st.path(ctx, s.Path)
	case "assert_tracking":
		if s.Tracking.AnyMessage {
			return st.trackingSince(ctx, s.Tracking.Events, st.timeout(s.Tracking.Timeout))
		}
		return st.tracking(ctx, s.Tracking.Events, st.timeout(s.Tracking.Timeout))
	case "assert_queue":
		return st.queue(ctx, s.Queue)
	case "fault":
		return st.fault(ctx, s.Fault)
	case "clear_faults":
		n := len(st.faults)
		for _, undo := range st.faults {
			if err := undo(ctx); err != nil {
				return "", err
			}
		}
		st.faults = nil
		return fmt.Sprintf("cleared %d faults", n), nil
	case "retry_queue":
		return st.retry(ctx, s.RetryQueue)
	case "read":
		return st.read(ctx, s.Read)
	case "wait_edgesync":
		return st.edgesync(ctx, s.EdgeSync)
	case "sleep":
		select {
		case <-time.After(time.Duration(*s.Sleep)):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return "slept " + time.Duration(*s.Sleep).String(), nil
	}
	return "", fmt.Errorf("unknown step %q", kind)
}

func (st *run) send(ctx context.Context, s *SendStep) (string, error) {
	c, from, err := st.client(s.From)
	if err != nil {
		return "", err
	}
	st.last = nil
	n := max(s.Count, 1)
	var replies []string
	for range n {
		subj := st.subject(s.Subject)
		r, err := c.Send(ctx, control.SendRequest{FromServer: from, Sender: s.Sender, Recipients: s.To, Subject: subj, Body: "Sent by exsim scenario " + st.sc.Name, Queue: s.Queue})
		if err != nil {
			return "", err
		}
		if err := check(s.Expect, r); err != nil {
			return "", err
		}
		if r.Accepted {
			st.last = append(st.last, sent{subject: subj, messageID: r.MessageID, to: s.To})
		}
		replies = append(replies, r.Reply)
	}
	return fmt.Sprintf("%d message(s) from %s: %s", n, from, replies[len(replies)-1]), nil
}

func (st *run) submit(ctx context.Context, s *SubmitStep) (string, error) {
	c, from, err := st.client(s.From)
	if err != nil {
		return "", err
	}
	dst := st.r.Env.Topology().Server(s.Server)
	if dst == nil {
		return "", fmt.Errorf("no server %q", s.Server)
	}
	port := s.Port
	if port == 0 {
		port = 587
	}
	tls := s.TLS
	if tls == "" {
		tls = "starttls"
	}
	sender := s.Sender
	if sender == "" {
		if m := st.r.Env.Topology().MailboxForLogon(s.User); m != nil {
			sender = m.Address
		} else {
			sender = s.User
		}
	}
	subj := st.subject(s.Subject)
	r, err := c.Send(ctx, control.SendRequest{
		FromServer: from, SMTP: net.JoinHostPort(dst.FQDN, strconv.Itoa(st.r.Env.Topology().Port(port))), TLS: tls,
		User: s.User, Password: s.Password, Sender: sender, Recipients: s.To, Subject: subj,
		Body: "Submitted by exsim scenario " + st.sc.Name,
	})
	if err != nil {
		return "", err
	}
	if err := check(s.Expect, r); err != nil {
		return "", err
	}
	st.last = nil
	if r.Accepted {
		st.last = []sent{{subject: subj, messageID: r.MessageID, to: s.To}}
	}
	return fmt.Sprintf("submitted to %s:%d as %s: %s", dst.Name, port, s.User, r.Reply), nil
}

func check(e Expect, r control.SendResponse) error {
	want := e.Result
	if want == "" {
		want = "accepted"
	}
	switch want {
	case "accepted":
		if !r.Accepted {
			return fmt.Errorf("refused: %s", r.Reply)
		}
	case "rejected":
		if r.Accepted {
			return fmt.Errorf("accepted (%s), want a rejection", r.Reply)
		}
	default:
		return fmt.Errorf("expect.result %q: use accepted or rejected", want)
	}
	if e.Reply != "" && !strings.HasPrefix(r.Reply, e.Reply) {
		for _, rr := range r.Rcpts {
			if strings.HasPrefix(rr, e.Reply) {
				return nil
			}
		}
		return fmt.Errorf("reply %q, want %q", r.Reply, e.Reply)
	}
	return nil
}

// home finds the server hosting a mailbox.
func (st *run) home(mailbox, server string) (string, error) {
	if server != "" {
		return server, nil
	}
	m := st.r.Env.Topology().Mailbox(mailbox)
	if m == nil {
		return "", fmt.Errorf("no mailbox %s in the topology", mailbox)
	}
	return m.Server, nil
}

func (st *run) inbox(ctx context.Context, server, mailbox string) ([]control.MailboxMessage, error) {
	c, name, err := st.client(server)
	if err != nil {
		return nil, err
	}
	return c.MailboxMessages(ctx, name, mailbox, "INBOX")
}

func (st *run) wait(ctx context.Context, s *WaitStep) (string, error) {
	server, err := st.home(s.Mailbox, s.Server)
	if err != nil {
		return "", err
	}
	want := map[string]bool{}
	for _, m := range st.last {
		want[m.subject] = true
	}
	if s.Subject != "" {
		want = map[string]bool{s.Subject: true}
	}
	if len(want) == 0 {
		return "", fmt.Errorf("nothing was sent to wait for")
	}
	deadline := time.Now().Add(st.timeout(s.Timeout))
	var got int
	for {
		msgs, err := st.inbox(ctx, server, s.Mailbox)
		if err != nil {
			return "", err
		}
		got = 0
		for _, m := range msgs {
			if want[m.Subject] {
				got++
			}
		}
		if got == len(want) {
			return fmt.Sprintf("%d message(s) in %s on %s", got, s.Mailbox, server), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("%d of %d message(s) reached %s on %s within %s", got, len(want), s.Mailbox, server, st.timeout(s.Timeout))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (st *run) notDelivered(ctx context.Context, s *NotDelivered) (string, error) {
	server, err := st.home(s.Mailbox, s.Server)
	if err != nil {
		return "", err
	}
	msgs, err := st.inbox(ctx, server, s.Mailbox)
	if err != nil {
		return "", err
	}
	for _, m := range msgs {
		for _, l := range st.last {
			if m.Subject == l.subject {
				return "", fmt.Errorf("%q reached %s", m.Subject, s.Mailbox)
			}
		}
	}
	return "not delivered", nil
}

func (st *run) fault(ctx context.Context, s *FaultStep) (string, error) {
	c, from, err := st.client(s.From)
	if err != nil {
		return "", err
	}
	f := labnet.Fault{From: from, To: s.To, Port: s.Port, Action: labnet.Action(s.Action), Note: "scenario " + st.sc.Name}
	if s.Delay != nil {
		f.Delay = time.Duration(*s.Delay)
	}
	if s.Idle != nil {
		f.Idle = time.Duration(*s.Idle)
	}
	added, err := c.AddFault(ctx, f)
	if err != nil {
		return "", err
	}
	st.faults = append(st.faults, func(ctx context.Context) error { return c.RemoveFault(ctx, added.ID) })
	return "injected " + added.String(), nil
}

// findQueues returns the server's queues that match, and all of them.
func (st *run) findQueues(ctx context.Context, server string, match func(transport.QueueInfo) bool) ([]transport.QueueInfo, []transport.QueueInfo, error) {
	c, name, err := st.client(server)
	if err != nil {
		return nil, nil, err
	}
	qs, err := c.Queues(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	var out []transport.QueueInfo
	for _, q := range qs {
		if match(q) {
			out = append(out, q)
		}
	}
	return out, qs, nil
}

// queue waits until some queue that matches the step's selectors is in the
// state it asks for: a delivery type may name several queues (one per
// mailbox database), and one of them in Retry is what the step means.
func (st *run) queue(ctx context.Context, s *QueueStep) (string, error) {
	match := func(q transport.QueueInfo) bool {
		return (s.NextHopDomain == "" || strings.EqualFold(q.NextHopDomain, s.NextHopDomain)) &&
			(s.DeliveryType == "" || strings.EqualFold(string(q.DeliveryType), s.DeliveryType)) &&
			(s.Identity == "" || strings.EqualFold(q.Identity, s.Identity))
	}
	deadline := time.Now().Add(st.timeout(s.Timeout))
	for {
		qs, all, err := st.findQueues(ctx, s.Server, match)
		if err != nil {
			return "", err
		}
		var whys []string
		for _, q := range qs {
			why := queueMismatch(q, s)
			if why == "" {
				return fmt.Sprintf("%s %s %s, %d messages, LastError %q", q.Identity, q.DeliveryType, q.Status, q.MessageCount, q.LastError), nil
			}
			whys = append(whys, why)
		}
		if len(qs) == 0 {
			var ids []string
			for _, x := range all {
				ids = append(ids, x.Identity+" ("+x.NextHopDomain+")")
			}
			whys = []string{"no such queue; queues: " + strings.Join(ids, ", ")}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("%s: %s", s.Server, strings.Join(whys, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// queueMismatch says how q differs from what s asks, or "".
func queueMismatch(q transport.QueueInfo, s *QueueStep) string {
	switch {
	case s.Status != "" && !strings.EqualFold(string(q.Status), s.Status):
		return fmt.Sprintf("%s is %s, want %s (LastError %q)", q.Identity, q.Status, s.Status, q.LastError)
	case s.MessageCount != nil && q.MessageCount != *s.MessageCount:
		return fmt.Sprintf("%s holds %d messages, want %d", q.Identity, q.MessageCount, *s.MessageCount)
	case s.LastError != "" && !strings.Contains(q.LastError, s.LastError):
		return fmt.Sprintf("%s LastError %q lacks %q", q.Identity, q.LastError, s.LastError)
	}
	return ""
}

// retry runs Retry-Queue on every queue that matches and holds messages.
func (st *run) retry(ctx context.Context, s *RetryStep) (string, error) {
	if s.NextHopDomain == "" && s.DeliveryType == "" {
		return "", fmt.Errorf("retry_queue needs next_hop_domain or delivery_type")
	}
	qs, _, err := st.findQueues(ctx, s.Server, func(q transport.QueueInfo) bool {
		return (s.NextHopDomain == "" || strings.EqualFold(q.NextHopDomain, s.NextHopDomain)) &&
			(s.DeliveryType == "" || strings.EqualFold(string(q.DeliveryType), s.DeliveryType))
	})
	if err != nil {
		return "", err
	}
	if len(qs) == 0 {
		return "", fmt.Errorf("%s has no queue to %s%s", s.Server, s.NextHopDomain, s.DeliveryType)
	}
	c, name, _ := st.client(s.Server)
	var held []transport.QueueInfo
	for _, q := range qs {
		if q.MessageCount > 0 {
			held = append(held, q)
		}
	}
	if len(held) > 0 {
		qs = held
	}
	var done []string
	for _, q := range qs {
		if err := c.QueueAction(ctx, name, q.Identity, "retry"); err != nil {
			return "", err
		}
		done = append(done, q.Identity)
	}
	return "Retry-Queue " + strings.Join(done, ", "), nil
}

func (st *run) read(ctx context.Context, s *ReadStep) (string, error) {
	c, from, err := st.client(s.From)
	if err != nil {
		return "", err
	}
	req := control.ReadRequest{FromServer: from, Protocol: s.Protocol, Server: s.Server, User: s.User, Password: s.Password, TLS: s.TLS}
	if s.Hold != nil {
		req.Hold = time.Duration(*s.Hold)
	}
	r, err := c.Read(ctx, req)
	if err != nil {
		return "", err
	}
	switch {
	case s.ExpectCut && r.Cut == "":
		return "", fmt.Errorf("%s: want it cut (expect_cut), but it lasted", r.Detail)
	case !s.ExpectCut && r.Cut != "":
		return "", errors.New(r.Detail)
	}
	if s.ExpectLast {
		for _, l := range st.last {
			if !slices.Contains(r.Subjects, l.subject) {
				return "", fmt.Errorf("%s: %q not listed (saw %d messages)", r.Detail, l.subject, len(r.Subjects))
			}
		}
	}
	return r.Detail, nil
}

func (st *run) edgesync(ctx context.Context, s *EdgeSyncStep) (string, error) {
	c, name, err := st.client(s.Server)
	if err != nil {
		return "", err
	}
	deadline := time.Now().Add(st.timeout(s.Timeout))
	for {
		es, err := c.EdgeSync(ctx, name)
		if err != nil {
			return "", err
		}
		if !es.LastSuccess.IsZero() && (es.RecipientEntries > 0 || es.Role == "edge") {
			return fmt.Sprintf("%s: last EdgeSync %s (%d config, %d recipient entries)", name, es.LastSuccess.Format(time.RFC3339), es.ConfigEntries, es.RecipientEntries), nil
		}
		// A push that keeps failing (50636 blocked) fails the step early
		// instead of waiting out the timeout in every scenario.
		failing := es.LastError != "" && es.LastSuccess.IsZero() && time.Since(st.start) > 5*time.Second
		if time.Now().After(deadline) || ctx.Err() != nil || failing {
			return "", fmt.Errorf("%s: EdgeSync has not succeeded (last error: %s)", name, es.LastError)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
