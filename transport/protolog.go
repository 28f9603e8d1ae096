package transport

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
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
// and flushed every FlushInterval: the log is diagnostics, not the
// durability of mail.
type ProtocolLog struct {
	dir    string
	kind   ProtocolLogKind
	prefix string
	now    func() time.Time

	mu   sync.Mutex
	f    *os.File
	bw   *bufio.Writer
	size int64
	// dayNum is the open file's day (UTC) as yyyymmdd.
	dayNum int
	line   []byte // the line being written

	stop chan struct{}
	done chan struct{}
}

// NewProtocolLog writes under dir (e.g. TransportRoles/Logs/Hub/ProtocolLog/SmtpReceive).
func NewProtocolLog(dir string, kind ProtocolLogKind, now func() time.Time) (*ProtocolLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("protocol log: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	prefix := "RECV"
	if kind == ProtocolSend {
		prefix = "SEND"
	}
	l := &ProtocolLog{dir: dir, kind: kind, prefix: prefix, now: now, stop: make(chan struct{}), done: make(chan struct{})}
	go l.flusher()
	return l, nil
}

// Dir is where the files are.
func (l *ProtocolLog) Dir() string { return l.dir }

func (l *ProtocolLog) flusher() {
	defer close(l.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush()
		case <-l.stop:
			l.Flush()
			return
		}
	}
}

// Flush writes buffered lines to the file.
func (l *ProtocolLog) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bw != nil {
		l.bw.Flush()
	}
}

// Close flushes and closes the file.
func (l *ProtocolLog) Close() error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f, l.bw = nil, nil
	}
	return nil
}

// Write appends one line.
func (l *ProtocolLog) Write(p ProtocolLine) {
	if p.Time.IsZero() {
		p.Time = l.now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.open(p.Time); err != nil {
		return
	}
	b := p.Time.UTC().AppendFormat(l.line[:0], "2006-01-02T15:04:05.000Z")
	for _, f := range [...]string{p.Connector, p.Session} {
		b = appendCSVField(append(b, ','), f)
	}
	b = strconv.AppendInt(append(b, ','), int64(p.Seq), 10)
	for _, f := range [...]string{p.Local, p.Remote, p.Event, p.Data, p.Context} {
		b = appendCSVField(append(b, ','), f)
	}
	b = append(b, '\r', '\n')
	l.bw.Write(b)
	l.size += int64(len(b))
	if cap(b) <= 4<<10 {
		l.line = b // kept for the next line; a long one is not
	} else {
		l.line = nil
	}
}

func (l *ProtocolLog) open(t time.Time) error {
	y, m, d := t.UTC().Date()
	if l.f != nil && l.dayNum == y*10000+int(m)*100+d && l.size < 10<<20 {
		return nil // the day's file, checked without formatting the date
	}
	day := t.UTC().Format("20060102")
	if l.f != nil {
		l.bw.Flush()
		l.f.Close()
		l.f = nil
	}
	n := 1
	for ; ; n++ {
		st, err := os.Stat(filepath.Join(l.dir, fmt.Sprintf("%s%s-%d.log", l.prefix, day, n)))
		if err != nil || st.Size() < 10<<20 {
			break
		}
	}
	f, err := os.OpenFile(filepath.Join(l.dir, fmt.Sprintf("%s%s-%d.log", l.prefix, day, n)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	st, _ := f.Stat()
	l.f, l.dayNum, l.size = f, y*10000+int(m)*100+d, st.Size()
	l.bw = bufio.NewWriterSize(f, 64<<10)
	if l.size == 0 {
		logType := "SMTP Receive Protocol Log"
		if l.kind == ProtocolSend {
			logType = "SMTP Send Protocol Log"
		}
		fmt.Fprintf(l.bw, "#Software: Microsoft Exchange Server\r\n#Version: 15.0.0.0\r\n#Log-type: %s\r\n#Date: %s\r\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n",
			logType, t.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	return nil
}
