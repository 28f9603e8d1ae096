package transport

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// ProtocolLogKind is the SMTP direction a protocol log records.
type ProtocolLogKind string

const (
	ProtocolReceive ProtocolLogKind = "SmtpReceive"
	ProtocolSend    ProtocolLogKind = "SmtpSend"
)

// ProtocolLine is one line of an SMTP protocol log: `+` connect, `-`
// disconnect, `>` sent, `<` received, `*` information.
type ProtocolLine struct {
	Time      time.Time
	Connector string // connector-id, e.g. "EX01\Default Frontend EX01"
	Session   string // session-id
	Seq       int
	Local     string
	Remote    string
	Event     string
	Data      string
	Context   string
}

// ProtocolLog writes Exchange's SMTP protocol log: one file per day
// (RECV<yyyymmdd>-<n>.log or SEND...), all connectors of a service in one
// file with the connector-id column, as Exchange does. Lines are buffered
// (see logFiles): the log is diagnostics, not the durability of mail.
type ProtocolLog struct {
	files logFiles
	now   func() time.Time
}

// NewProtocolLog writes under dir (e.g. TransportRoles/Logs/Hub/ProtocolLog/SmtpReceive).
func NewProtocolLog(dir string, kind ProtocolLogKind, now func() time.Time) (*ProtocolLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("protocol log: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	prefix, logType := "RECV", "SMTP Receive Protocol Log"
	if kind == ProtocolSend {
		prefix, logType = "SEND", "SMTP Send Protocol Log"
	}
	header := func(t time.Time) []byte {
		return fmt.Appendf(nil, "#Software: Microsoft Exchange Server\r\n#Version: 15.0.0.0\r\n#Log-type: %s\r\n#Date: %s\r\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n",
			logType, t.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	return &ProtocolLog{files: logFiles{dir: dir, prefix: prefix, maxSize: 10 << 20, header: header}, now: now}, nil
}

// Dir is where the files are.
func (l *ProtocolLog) Dir() string { return l.files.dir }

// Flush writes buffered lines to the file.
func (l *ProtocolLog) Flush() { l.files.Flush() }

// Close flushes and closes the file.
func (l *ProtocolLog) Close() error { return l.files.Close() }

// Write appends one line; a line that cannot be written is dropped (the
// log is diagnostics).
func (l *ProtocolLog) Write(p ProtocolLine) {
	if p.Time.IsZero() {
		p.Time = l.now()
	}
	l.files.append(p.Time, func(b []byte) []byte {
		b = p.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		for _, f := range [...]string{p.Connector, p.Session} {
			b = appendCSVField(append(b, ','), f)
		}
		b = strconv.AppendInt(append(b, ','), int64(p.Seq), 10)
		for _, f := range [...]string{p.Local, p.Remote, p.Event, p.Data, p.Context} {
			b = appendCSVField(append(b, ','), f)
		}
		return append(b, '\r', '\n')
	})
}
