package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// recorder keeps one client's latencies per command; commands that started
// before from (the warm-up) are not kept. Each client has its own, merged
// at the end, so recording takes no lock.
type recorder struct {
	from    time.Time
	lat     map[string][]time.Duration
	all     int // commands, the warm-up's included (for commands per CPU second)
	errors  int
	samples []string // the first errors' texts
}

func newRecorder(from time.Time) *recorder {
	return &recorder{from: from, lat: map[string][]time.Duration{}}
}

func (r *recorder) add(name string, t0 time.Time) {
	if name != "connect" {
		r.all++
	}
	if t0.Before(r.from) {
		return
	}
	r.lat[name] = append(r.lat[name], time.Since(t0))
}

func (r *recorder) fail(what string, err error) {
	r.errors++
	if len(r.samples) < 5 {
		r.samples = append(r.samples, what+": "+err.Error())
	}
}

func merge(recs []*recorder) *recorder {
	out := newRecorder(time.Time{})
	for _, r := range recs {
		for k, v := range r.lat {
			out.lat[k] = append(out.lat[k], v...)
		}
		out.errors += r.errors
		out.all += r.all
		out.samples = append(out.samples, r.samples...)
	}
	return out
}

// rows is the order of the table; "connect" (TCP, TLS and greeting) is
// shown but is not a command and not in the total.
var rows = []string{"connect", "LOGIN", "SELECT", "FETCH flags", "FETCH envelope", "FETCH body", "SEARCH", "STORE", "IDLE", "LOGOUT"}

// print writes the Markdown table and a last "total" line that scripts read:
// "total <name> <commands/s> <errors> <commands with the warm-up's>".
func (r *recorder) print(w io.Writer, name string, elapsed time.Duration) {
	fmt.Fprintf(w, "| %s | count | per s | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|---|---|\n", name)
	var all []time.Duration
	for _, row := range rows {
		l := r.lat[row]
		if len(l) == 0 {
			continue
		}
		if row != "connect" {
			all = append(all, l...)
		}
		printRow(w, row, l, elapsed)
	}
	printRow(w, "**all commands**", all, elapsed)
	for _, s := range r.samples {
		fmt.Fprintf(w, "error: %s\n", s)
	}
	fmt.Fprintf(w, "\ntotal %s %.0f %d %d\n", name, float64(len(all))/elapsed.Seconds(), r.errors, r.all)
}

func printRow(w io.Writer, row string, l []time.Duration, elapsed time.Duration) {
	if len(l) == 0 {
		fmt.Fprintf(w, "| %s | 0 | 0 | | | |\n", row)
		return
	}
	slices.Sort(l)
	pct := func(p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))]) / float64(time.Millisecond)
	}
	fmt.Fprintf(w, "| %s | %d | %.0f | %.2f | %.2f | %.2f |\n", row, len(l), float64(len(l))/elapsed.Seconds(), pct(0.5), pct(0.9), pct(0.99))
}
