package main

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// redrawEvery is how often the progress bar is redrawn at most: ten times
// a second is smooth to the eye, and a run of thousands of messages writes
// a few kilobytes instead of a line per message.
const redrawEvery = 100 * time.Millisecond

// animated reports whether w is a terminal that may show a progress bar:
// a terminal, and not one that says it is dumb (TERM=dumb: no cursor
// movement, no escapes).
func animated(w io.Writer) bool {
	return isTerminal(w) && os.Getenv("TERM") != "dumb"
}

// colored reports whether a report to w may use ANSI colours: an animated
// terminal, and NO_COLOR (https://no-color.org) unset or empty.
func colored(w io.Writer) bool {
	return animated(w) && os.Getenv("NO_COLOR") == ""
}

// progress is the bar of a run of n messages. Workers count with Done,
// which costs an atomic add; a ticker hands the count to the bar at most
// ten times a second, so the bar's rate is measured over whole intervals
// from the moment the run started, never from one message's microseconds.
// A nil *progress does nothing (no terminal).
type progress struct {
	bar  *progressbar.ProgressBar
	done atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

// newProgress starts a bar for n items on w; unit names one ("msg").
func newProgress(w io.Writer, n int, unit, what string) *progress {
	p := &progress{stop: make(chan struct{})}
	p.bar = progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionShowCount(),
		progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit), progressbar.OptionSetDescription(what),
		progressbar.OptionThrottle(redrawEvery), progressbar.OptionSetRenderBlankState(true), // the clock starts now
		progressbar.OptionEnableColorCodes(false))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(redrawEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.bar.Set64(p.done.Load())
			}
		}
	}()
	return p
}

// Done counts one finished item.
func (p *progress) Done() {
	if p != nil {
		p.done.Add(1)
	}
}

// Finish stops the ticker and erases the bar: the summary that follows
// says what was done (the bar's own Finish would first draw 100%, also for
// an interrupted run).
func (p *progress) Finish() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.bar.Clear()
}
