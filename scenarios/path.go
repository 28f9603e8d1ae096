package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/transport"
)

// hop is one Received header: who handed the message to whom, and how.
type hop struct {
	from, by, via string
}

// parseReceived reads "from X (...) by Y (...) with ... via Z; date" as
// Exchange and plain MTAs write it.
func parseReceived(v string) (hop, bool) {
	f := strings.Fields(v)
	var h hop
	for i := 0; i+1 < len(f); i++ {
		switch strings.ToLower(f[i]) {
		case "from":
			if h.from == "" {
				h.from = strings.ToLower(f[i+1])
			}
		case "by":
			if h.by == "" {
				h.by = strings.ToLower(strings.TrimSuffix(f[i+1], ";"))
			}
		case "via":
			rest := strings.Join(f[i+1:], " ")
			rest, _, _ = strings.Cut(rest, ";")
			h.via = strings.TrimSpace(rest)
		}
	}
	return h, h.by != ""
}

func (h hop) String() string {
	s := h.from + " -> " + h.by
	if h.via != "" {
		s += " via " + h.via
	}
	return s
}

// fqdn turns a server name or FQDN into the FQDN.
func (st *run) fqdn(name string) string {
	if s := st.r.Env.Topology().Server(name); s != nil {
		return s.FQDN
	}
	return strings.ToLower(name)
}

// wantHop parses "EDGE01 -> EX01 via Frontend Transport".
func (st *run) wantHop(spec string) (hop, error) {
	spec, via, _ := strings.Cut(spec, " via ")
	from, by, ok := strings.Cut(spec, "->")
	if !ok {
		return hop{}, fmt.Errorf("received hop %q: write FROM -> BY [via SERVICE]", spec)
	}
	return hop{from: st.fqdn(strings.TrimSpace(from)), by: st.fqdn(strings.TrimSpace(by)), via: strings.TrimSpace(via)}, nil
}

// lastDelivered finds the last sent message in a mailbox.
func (st *run) lastDelivered(ctx context.Context, mailbox string) (*control.MailboxMessage, error) {
	if len(st.last) == 0 {
		return nil, fmt.Errorf("nothing was sent")
	}
	server, err := st.home(mailbox, "")
	if err != nil {
		return nil, err
	}
	msgs, err := st.inbox(ctx, server, mailbox)
	if err != nil {
		return nil, err
	}
	want := st.last[len(st.last)-1].subject
	for i := range msgs {
		if msgs[i].Subject == want {
			return &msgs[i], nil
		}
	}
	return nil, fmt.Errorf("%q is not in %s (wait_delivery first)", want, mailbox)
}

func (st *run) path(ctx context.Context, s *PathStep) (string, error) {
	var details []string
	if len(s.Received) > 0 {
		m, err := st.lastDelivered(ctx, s.Mailbox)
		if err != nil {
			return "", err
		}
		var chain []hop
		for i := len(m.Received) - 1; i >= 0; i-- { // oldest first
			if h, ok := parseReceived(m.Received[i]); ok {
				chain = append(chain, h)
			}
		}
		var seen []string
		for _, h := range chain {
			seen = append(seen, h.String())
		}
		// The expected hops must appear in order (other hops may sit between).
		i := 0
		for _, spec := range s.Received {
			want, err := st.wantHop(spec)
			if err != nil {
				return "", err
			}
			for i < len(chain) && !(chain[i].from == want.from && chain[i].by == want.by && (want.via == "" || strings.EqualFold(chain[i].via, want.via))) {
				i++
			}
			if i == len(chain) {
				return "", fmt.Errorf("Received chain lacks %q (in order); it is: %s", spec, strings.Join(seen, " | "))
			}
			i++
		}
		details = append(details, "Received: "+strings.Join(seen, " | "))
	}
	if len(s.Tracking) > 0 {
		d, err := st.tracking(ctx, s.Tracking, 10*time.Second)
		if err != nil {
			return "", err
		}
		details = append(details, d)
	}
	return strings.Join(details, "; "), nil
}

// tracking checks "SERVER EVENT [connector or text]" events exist for the
// last sent message, waiting up to timeout (SEND is logged after the
// next hop answered).
func (st *run) tracking(ctx context.Context, specs []string, timeout time.Duration) (string, error) {
	if len(st.last) == 0 {
		return "", fmt.Errorf("nothing was sent")
	}
	msgID := st.last[len(st.last)-1].messageID
	deadline := time.Now().Add(timeout)
	for {
		missing, err := st.missingEvents(ctx, specs, msgID)
		if err != nil {
			return "", err
		}
		if missing == "" {
			return fmt.Sprintf("tracking: %s", strings.Join(specs, ", ")), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("tracking has no %s for %s", missing, msgID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// trackingSince checks events of any message (agent events are about a
// sender, and Exchange caches a sender's verdict, so the event may predate
// the scenario).
func (st *run) trackingSince(ctx context.Context, specs []string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		missing, err := st.missingEvents(ctx, specs, "")
		if err != nil {
			return "", err
		}
		if missing == "" {
			return fmt.Sprintf("tracking: %s", strings.Join(specs, ", ")), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("tracking has no %s", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (st *run) missingEvents(ctx context.Context, specs []string, msgID string) (string, error) {
	cache := map[string][]transport.TrackingEvent{}
	for _, spec := range specs {
		f := strings.Fields(spec)
		if len(f) < 2 {
			return "", fmt.Errorf("tracking %q: write SERVER EVENT [connector]", spec)
		}
		server, event, rest := f[0], strings.ToUpper(f[1]), strings.Join(f[2:], " ")
		evs, ok := cache[server]
		if !ok {
			c, name, err := st.client(server)
			if err != nil {
				return "", err
			}
			q := transport.TrackingQuery{MessageID: msgID}
			evs, err = c.Track(ctx, name, q)
			if err != nil {
				return "", err
			}
			cache[server] = evs
		}
		found := false
		for _, e := range evs {
			if e.EventID == event && (rest == "" || strings.Contains(e.ConnectorID, rest) || strings.Contains(e.SourceContext, rest) ||
				strings.Contains(e.ServerHostname, rest) || strings.Contains(e.CustomData, rest)) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Sprintf("%q", spec), nil
		}
	}
	return "", nil
}
