package transport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// logFiles is one family of Exchange's CSV log files, the message
// tracking log's and the SMTP protocol logs': <prefix><yyyymmdd>-<n>.log
// in dir (UTC days), a new <n> once a file reaches maxSize, a header at
// the top of every file.
//
// Lines are buffered, as Exchange's log writer buffers them, and written
// flushDelay after the first of them in one write, outside the lock the
// writers take: on the mail path that is one write for a burst of lines
// instead of one per line. Flush writes them at once (before a search),
// Close too; a reader of the files sees a line at most flushDelay late.
type logFiles struct {
	dir, prefix string
	maxSize     int64
	// header is the text that starts a new file created at t.
	header func(t time.Time) []byte

	mu   sync.Mutex
	f    *os.File
	day  int // f's day as yyyymmdd
	n    int
	size int64
	// pend holds f's lines not yet written; done holds the lines of the
	// files rolled over before it, each closed once written.
	pend []byte
	done []pendingFile
	// timer is armed while lines wait; werr is a failed write, reported
	// to the next append.
	timer *time.Timer
	werr  error
	// wmu makes flushes write one at a time, in the order the lines came.
	wmu sync.Mutex
}

type pendingFile struct {
	f     *os.File
	lines []byte
	close bool
}

// flushDelay is how long a buffered line waits for others to share its
// write.
const flushDelay = 10 * time.Millisecond

// append adds a line to the file of t's day: line appends it (CSV, CRLF)
// to the buffer it is given. The error is one of opening the file or of
// an earlier buffered write.
func (l *logFiles) append(t time.Time, line func([]byte) []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.open(t); err != nil {
		return err
	}
	n := len(l.pend)
	l.pend = line(l.pend)
	l.size += int64(len(l.pend) - n)
	if l.timer == nil {
		l.timer = time.AfterFunc(flushDelay, func() {
			if err := l.Flush(); err != nil {
				l.mu.Lock()
				l.werr = err
				l.mu.Unlock()
			}
		})
	}
	err := l.werr
	l.werr = nil
	return err
}

// open makes f the file for t's day with room left, rolling the current
// one over; the first file of a process continues after those an earlier
// run left for the day.
func (l *logFiles) open(t time.Time) error {
	y, m, d := t.UTC().Date()
	day := y*10000 + int(m)*100 + d
	if l.f != nil && l.day == day && l.size < l.maxSize {
		return nil // the day's file, checked without formatting the date
	}
	n := 1
	if l.f != nil {
		l.done = append(l.done, pendingFile{l.f, l.pend, true})
		if l.day == day {
			n = l.n + 1
		}
		l.f, l.pend = nil, nil
	} else {
		for {
			if _, err := os.Stat(l.path(day, n+1)); err != nil {
				break
			}
			n++
		}
	}
	for ; ; n++ {
		f, err := os.OpenFile(l.path(day, n), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		if st.Size() >= l.maxSize {
			f.Close() // full from an earlier run
			continue
		}
		l.f, l.day, l.n, l.size = f, day, n, st.Size()
		if l.size == 0 {
			l.pend = l.header(t)
			l.size = int64(len(l.pend))
		}
		return nil
	}
}

func (l *logFiles) path(day, n int) string {
	return filepath.Join(l.dir, fmt.Sprintf("%s%08d-%d.log", l.prefix, day, n))
}

// Flush writes the buffered lines and closes the files rolled over.
func (l *logFiles) Flush() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	work := l.done
	l.done = nil
	if len(l.pend) > 0 {
		work = append(work, pendingFile{l.f, l.pend, false})
		l.pend = nil
	}
	l.mu.Unlock()
	var errs []error
	for _, p := range work {
		if len(p.lines) > 0 {
			if _, err := p.f.Write(p.lines); err != nil {
				errs = append(errs, err)
			}
		}
		if p.close {
			p.f.Close()
		}
	}
	// The written buffer takes the next lines of the same file.
	if n := len(work); n > 0 && !work[n-1].close && cap(work[n-1].lines) <= 1<<20 {
		l.mu.Lock()
		if l.pend == nil && l.f == work[n-1].f {
			l.pend = work[n-1].lines[:0]
		}
		l.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Close writes what is buffered and closes the file; a later append
// opens it again.
func (l *logFiles) Close() error {
	err := l.Flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	return err
}
