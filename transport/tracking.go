package transport

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Tracking event ids (EXCHANGE.md section 4).
const (
	EventReceive   = "RECEIVE"
	EventSend      = "SEND"
	EventDeliver   = "DELIVER"
	EventDefer     = "DEFER"
	EventFail      = "FAIL"
	EventDSN       = "DSN"
	EventExpand    = "EXPAND"
	EventResolve   = "RESOLVE"
	EventSubmit    = "SUBMIT"
	EventHARedir   = "HAREDIRECT"
	EventDrop      = "DROP"
	EventBadmail   = "BADMAIL"
	EventPoison    = "POISONMESSAGE"
	EventAgentInfo = "AGENTINFO"

	// EventDupDeliver: the store recognised a copy it already held and
	// dropped it ("Duplicate messages are detected and removed by the
	// information store", technet bb124375).
	EventDupDeliver = "DUPLICATEDELIVER"
)

// Tracking sources.
const (
	SourceSMTP        = "SMTP"
	SourceStoreDriver = "STOREDRIVER"
	SourceDSN         = "DSN"
	SourceRouting     = "ROUTING"
	SourceQueue       = "QUEUE"
	SourceResolver    = "RESOLVER"
	SourceAdmin       = "ADMIN"
	SourceAgent       = "AGENT"
)

// LogKind selects the tracking file family.
type LogKind string

const (
	LogTransport  LogKind = "MSGTRK"   // Transport service
	LogDelivery   LogKind = "MSGTRKMD" // Mailbox Transport Delivery
	LogSubmission LogKind = "MSGTRKMS" // Mailbox Transport Submission
)

var trackingFields = []string{"date-time", "client-ip", "client-hostname", "server-ip", "server-hostname", "source-context", "connector-id", "source", "event-id", "internal-message-id", "message-id", "network-message-id", "recipient-address", "recipient-status", "total-bytes", "recipient-count", "related-recipient-address", "reference", "message-subject", "sender-address", "return-path", "message-info", "directionality", "tenant-id", "original-client-ip", "original-server-ip", "custom-data", "transport-traffic-type", "log-id", "schema-version"}

// TrackingEvent is one line of the message tracking log. JSON names are
// Get-MessageTrackingLog's properties.
type TrackingEvent struct {
	Timestamp         time.Time `json:"Timestamp"`
	ClientIP          string    `json:"ClientIp,omitempty"`
	ClientHostname    string    `json:"ClientHostname,omitempty"`
	ServerIP          string    `json:"ServerIp,omitempty"`
	ServerHostname    string    `json:"ServerHostname,omitempty"`
	SourceContext     string    `json:"SourceContext,omitempty"`
	ConnectorID       string    `json:"ConnectorId,omitempty"`
	Source            string    `json:"Source"`
	EventID           string    `json:"EventId"`
	InternalMessageID int64     `json:"InternalMessageId,omitempty"`
	MessageID         string    `json:"MessageId,omitempty"`
	NetworkMessageID  string    `json:"NetworkMessageId,omitempty"`
	Recipients        []string  `json:"Recipients,omitempty"`
	RecipientStatus   []string  `json:"RecipientStatus,omitempty"`
	TotalBytes        int64     `json:"TotalBytes,omitempty"`
	RecipientCount    int       `json:"RecipientCount,omitempty"`
	RelatedRecipient  string    `json:"RelatedRecipientAddress,omitempty"`
	Reference         string    `json:"Reference,omitempty"`
	MessageSubject    string    `json:"MessageSubject,omitempty"`
	Sender            string    `json:"Sender,omitempty"`
	ReturnPath        string    `json:"ReturnPath,omitempty"`
	MessageInfo       string    `json:"MessageInfo,omitempty"`
	Directionality    string    `json:"Directionality,omitempty"`
	OriginalClientIP  string    `json:"OriginalClientIp,omitempty"`
	OriginalServerIP  string    `json:"OriginalServerIp,omitempty"`
	CustomData        string    `json:"CustomData,omitempty"`
	TrafficType       string    `json:"TransportTrafficType,omitempty"`
	LogID             string    `json:"LogId,omitempty"`
	// Server is the server whose log holds the event (not a log column).
	Server string `json:"Server,omitempty"`
	// Log is the file family (MSGTRK, MSGTRKMD, MSGTRKMS).
	Log LogKind `json:"Log,omitempty"`
}

func (e *TrackingEvent) record(schema string) []string {
	return []string{
		e.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"),
		e.ClientIP, e.ClientHostname, e.ServerIP, e.ServerHostname, e.SourceContext, e.ConnectorID,
		e.Source, e.EventID, formatID(e.InternalMessageID), e.MessageID, e.NetworkMessageID,
		strings.Join(e.Recipients, ";"), strings.Join(e.RecipientStatus, ";"),
		formatID(e.TotalBytes), strconv.Itoa(e.RecipientCount), e.RelatedRecipient, e.Reference,
		e.MessageSubject, e.Sender, e.ReturnPath, e.MessageInfo, e.Directionality, "",
		e.OriginalClientIP, e.OriginalServerIP, e.CustomData, e.TrafficType, e.LogID, schema,
	}
}

func formatID(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// TrackingLog writes one server's message tracking log in Exchange's CSV
// format under TransportRoles/Logs/MessageTracking: a file per day and
// family, MSGTRK<yyyymmdd>-<n>.log, a new <n> after MaxFileSize. Lines are
// buffered (see logFiles), and none is written under the transport's
// lock; Search and Close write what is buffered first.
type TrackingLog struct {
	dir     string
	server  string
	version string // "15.02.1258.012"
	now     func() time.Time

	mu    sync.Mutex
	files map[LogKind]*logFiles
	// MaxFileSize rolls a file over to the next -<n> (Exchange: 10 MB); a
	// family takes it when its first event is written.
	MaxFileSize int64
	// Observe, when set, sees every event once it is written (the
	// process's counters of submitted and delivered messages).
	Observe func(*TrackingEvent)
}

// NewTrackingLog writes under dir for server; build is "15.2.1258.12".
func NewTrackingLog(dir, server, build string, now func() time.Time) (*TrackingLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tracking: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &TrackingLog{dir: dir, server: server, version: logVersion(build), now: now, files: map[LogKind]*logFiles{}, MaxFileSize: 10 << 20}, nil
}

// logVersion turns 15.2.1258.12 into Exchange's log header form 15.02.1258.012.
func logVersion(build string) string {
	p := strings.Split(build, ".")
	if len(p) != 4 {
		return build
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	return fmt.Sprintf("%d.%02d.%04d.%03d", atoi(p[0]), atoi(p[1]), atoi(p[2]), atoi(p[3]))
}

// Dir is the MessageTracking directory.
func (l *TrackingLog) Dir() string { return l.dir }

// Write appends an event to the family's current file (buffered). The
// error is one of opening the file, or of an earlier write that failed.
func (l *TrackingLog) Write(kind LogKind, e *TrackingEvent) error {
	if e.Timestamp.IsZero() {
		e.Timestamp = l.now()
	}
	if e.LogID == "" {
		e.LogID = uuid.NewString()
	}
	err := l.family(kind).append(e.Timestamp, func(b []byte) []byte { return appendCSV(b, e.record(l.version)) })
	if err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	if l.Observe != nil {
		l.Observe(e)
	}
	return nil
}

// family returns kind's files, set up on first use.
func (l *TrackingLog) family(kind LogKind) *logFiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.files[kind]
	if f == nil {
		f = &logFiles{dir: l.dir, prefix: string(kind), maxSize: l.MaxFileSize, header: func(t time.Time) []byte {
			return fmt.Appendf(nil, "#Software: Microsoft Exchange Server\r\n#Version: %s\r\n#Log-type: Message Tracking Log\r\n#Date: %s\r\n#Fields: %s\r\n",
				l.version, t.UTC().Format("2006-01-02T15:04:05.000Z"), strings.Join(trackingFields, ","))
		}}
		l.files[kind] = f
	}
	return f
}

// each calls fn for every family written so far.
func (l *TrackingLog) each(fn func(*logFiles) error) error {
	l.mu.Lock()
	fams := make([]*logFiles, 0, len(l.files))
	for _, f := range l.files {
		fams = append(fams, f)
	}
	l.mu.Unlock()
	var errs []error
	for _, f := range fams {
		if err := fn(f); err != nil {
			errs = append(errs, fmt.Errorf("tracking: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Flush writes the buffered lines.
func (l *TrackingLog) Flush() error { return l.each((*logFiles).Flush) }

// Close writes what is buffered and closes the open files.
func (l *TrackingLog) Close() error { return l.each((*logFiles).Close) }

// Search is SearchTracking on this log's files, after writing what is
// buffered.
func (l *TrackingLog) Search(q TrackingQuery) ([]TrackingEvent, int, error) {
	if err := l.Flush(); err != nil {
		return nil, 0, err
	}
	return SearchTracking(l.dir, l.server, q)
}

// TrackingQuery holds Get-MessageTrackingLog's filters; zero fields match all.
type TrackingQuery struct {
	Sender     string
	Recipient  string
	MessageID  string
	EventID    string
	Subject    string // substring
	Start, End time.Time
	Limit      int // ResultSize; 0 = unlimited
}

func (q *TrackingQuery) match(e *TrackingEvent) bool {
	if q.Sender != "" && !strings.EqualFold(q.Sender, e.Sender) {
		return false
	}
	if q.Recipient != "" && !slices.ContainsFunc(e.Recipients, func(r string) bool { return strings.EqualFold(r, q.Recipient) }) {
		return false
	}
	if q.MessageID != "" && strings.Trim(q.MessageID, "<>") != strings.Trim(e.MessageID, "<>") {
		return false
	}
	if q.EventID != "" && !strings.EqualFold(q.EventID, e.EventID) {
		return false
	}
	if q.Subject != "" && !strings.Contains(strings.ToLower(e.MessageSubject), strings.ToLower(q.Subject)) {
		return false
	}
	if !q.Start.IsZero() && e.Timestamp.Before(q.Start) {
		return false
	}
	if !q.End.IsZero() && e.Timestamp.After(q.End) {
		return false
	}
	return true
}

// SearchTracking reads every tracking file under dir and returns the
// events that match, oldest first. Lines that do not parse are skipped and
// counted in the returned error-free count of bad lines.
func SearchTracking(dir, server string, q TrackingQuery) ([]TrackingEvent, int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "MSGTRK*.log"))
	if err != nil {
		return nil, 0, err
	}
	var out []TrackingEvent
	bad := 0
	for _, path := range files {
		kind := LogTransport
		base := filepath.Base(path)
		switch {
		case strings.HasPrefix(base, string(LogDelivery)):
			kind = LogDelivery
		case strings.HasPrefix(base, string(LogSubmission)):
			kind = LogSubmission
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, fmt.Errorf("tracking: %w", err)
		}
		evs, b := parseTracking(f, server, kind, &q)
		f.Close()
		out = append(out, evs...)
		bad += b
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp.Before(out[j].Timestamp) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, bad, nil
}

func parseTracking(r io.Reader, server string, kind LogKind, q *TrackingQuery) ([]TrackingEvent, int) {
	br := bufio.NewReader(r)
	var lines strings.Builder
	for {
		line, err := br.ReadString('\n')
		if !strings.HasPrefix(line, "#") {
			lines.WriteString(line)
		}
		if err != nil {
			break
		}
	}
	cr := csv.NewReader(strings.NewReader(lines.String()))
	cr.FieldsPerRecord = len(trackingFields)
	var out []TrackingEvent
	bad := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			bad++
			continue
		}
		e, ok := eventFromRecord(rec)
		if !ok {
			bad++
			continue
		}
		e.Server, e.Log = server, kind
		if q.match(&e) {
			out = append(out, e)
		}
	}
	return out, bad
}

func eventFromRecord(rec []string) (TrackingEvent, bool) {
	ts, err := time.Parse("2006-01-02T15:04:05.000Z", rec[0])
	if err != nil {
		return TrackingEvent{}, false
	}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ";")
	}
	id, _ := strconv.ParseInt(rec[9], 10, 64)
	size, _ := strconv.ParseInt(rec[14], 10, 64)
	n, _ := strconv.Atoi(rec[15])
	return TrackingEvent{
		Timestamp: ts, ClientIP: rec[1], ClientHostname: rec[2], ServerIP: rec[3], ServerHostname: rec[4],
		SourceContext: rec[5], ConnectorID: rec[6], Source: rec[7], EventID: rec[8], InternalMessageID: id,
		MessageID: rec[10], NetworkMessageID: rec[11], Recipients: split(rec[12]), RecipientStatus: split(rec[13]),
		TotalBytes: size, RecipientCount: n, RelatedRecipient: rec[16], Reference: rec[17], MessageSubject: rec[18],
		Sender: rec[19], ReturnPath: rec[20], MessageInfo: rec[21], Directionality: rec[22],
		OriginalClientIP: rec[24], OriginalServerIP: rec[25], CustomData: rec[26], TrafficType: rec[27], LogID: rec[28],
	}, true
}
