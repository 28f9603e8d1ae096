package main

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWriteListing(t *testing.T) {
	type item struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	row := func(it item) []any { return []any{it.Name, it.Count} }
	for _, tc := range []struct {
		format string
		items  []item
		want   string
	}{
		{"json", nil, "[]\n"},
		{"json", []item{{"EX01\\1", 3}}, "[\n  {\n    \"name\": \"EX01\\\\1\",\n    \"count\": 3\n  }\n]\n"},
		{"table", nil, "NAME  COUNT\n"},
		{"table", []item{{"EX01\\1", 3}, {"EDGE01\\12", 0}}, "NAME       COUNT\nEX01\\1     3\nEDGE01\\12  0\n"},
	} {
		var out bytes.Buffer
		if err := writeListing(&globals{stdout: &out}, tc.format, tc.items, "NAME\tCOUNT", row); err != nil {
			t.Fatalf("writeListing(%s, %v): %v", tc.format, tc.items, err)
		}
		if out.String() != tc.want {
			t.Errorf("writeListing(%s, %v) = %q, want %q", tc.format, tc.items, out.String(), tc.want)
		}
	}
	// A cell that is an error prints its text, as %v did.
	var out bytes.Buffer
	writeListing(&globals{stdout: &out}, "table", [][]any{{"EX01", errors.New("refused")}}, "SERVER\tLAST ERROR", func(r []any) []any { return r })
	if want := "SERVER  LAST ERROR\nEX01    refused\n"; out.String() != want {
		t.Errorf("writeListing(error cell) = %q, want %q", out.String(), want)
	}
}

// TestProgressBar: the bar is redrawn at most ten times a second however
// fast messages finish, and never shows a rate above what is really being
// done (the first message of a run used to show thousands a second).
func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	p := newProgress(&out, 2000, "msg", "sending")
	for range 2000 {
		p.Done() // as fast as the CPU allows
	}
	p.Finish()
	elapsed := time.Since(start)
	if draws, most := strings.Count(out.String(), "sending"), int(elapsed/redrawEvery)+3; draws > most {
		t.Errorf("the bar was drawn %d times in %s, want at most %d:\n%q", draws, elapsed, most, out.String())
	}

	// One message every 10 ms or slower (a sleep only stretches): no rate
	// above 100 a second, give or take a message per redraw.
	out.Reset()
	p = newProgress(&out, 40, "msg", "sending")
	for range 30 {
		time.Sleep(10 * time.Millisecond)
		p.Done()
	}
	p.Finish()
	for _, m := range regexp.MustCompile(`(\d+) msg/s`).FindAllStringSubmatch(out.String(), -1) {
		if rate, _ := strconv.Atoi(m[1]); rate > 100+10 {
			t.Errorf("the bar showed %d msg/s for at most 100 a second:\n%q", rate, out.String())
		}
	}
	var none *progress // no terminal: no bar, and counting is harmless
	none.Done()
	none.Finish()
}
