package smtpd

import (
	"fmt"
	"time"
)

// ProtocolLog receives Exchange SMTP receive protocol-log events
// (TransportRoles\Logs\...\ProtocolLog\SmtpReceive). Log is called from the
// connection's goroutine and must not block for long.
type ProtocolLog interface {
	Log(ProtocolEvent)
}

// ProtocolEventType is the event column of an Exchange protocol log.
type ProtocolEventType byte

const (
	EventConnect    ProtocolEventType = '+'
	EventDisconnect ProtocolEventType = '-'
	EventReceive    ProtocolEventType = '<' // a line from the client
	EventSend       ProtocolEventType = '>' // a reply to the client
	EventInfo       ProtocolEventType = '*'
)

func (t ProtocolEventType) String() string { return string(rune(t)) }

// ProtocolEvent is one row of an Exchange protocol log, fields in the
// log's column order: date-time, connector-id, session-id, sequence-number,
// local-endpoint, remote-endpoint, event, data, context. Message bodies are
// never logged; SASL responses appear as "<authentication response>".
type ProtocolEvent struct {
	Time      time.Time
	Connector string
	SessionID string
	Sequence  int
	Local     string // ip:port
	Remote    string // ip:port
	Event     ProtocolEventType
	Data      string
	Context   string
}

const authResponsePlaceholder = "<authentication response>"

// plog emits one protocol-log event; callers check c.srv.plog != nil first
// when building data is costly.
func (c *Conn) plog(ev ProtocolEventType, data, context string) {
	pl := c.srv.opts.ProtocolLog
	if pl == nil {
		return
	}
	pl.Log(ProtocolEvent{
		Time:      c.srv.now(),
		Connector: c.srv.opts.ConnectorName,
		SessionID: c.sessionID,
		Sequence:  c.seq,
		Local:     c.localStr,
		Remote:    c.remoteStr,
		Event:     ev,
		Data:      data,
		Context:   context,
	})
	c.seq++
}

// replyLogData renders a reply as Exchange logs it: one row, a multi-line
// reply as "250-first second third".
func replyLogData(r *Reply) string {
	lines := r.lines()
	s := r.Error()
	if len(lines) == 1 {
		return s
	}
	first := fmt.Sprintf("%d-", r.Code)
	if r.Enhanced != "" {
		first += r.Enhanced + " "
	}
	out := first + lines[0]
	for _, l := range lines[1:] {
		out += " " + l
	}
	return out
}

// timeSpan formats d as a .NET TimeSpan the way Exchange logs tarpits:
// "0.00:00:05" or "0.00:00:00.312".
func timeSpan(d time.Duration) string {
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	s := d / time.Second
	d -= s * time.Second
	out := fmt.Sprintf("%d.%02d:%02d:%02d", days, h, m, s)
	if ms := d / time.Millisecond; ms > 0 {
		out += fmt.Sprintf(".%03d", ms)
	}
	return out
}
