package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// TestCheckReportPath: a report path that exists is checked by opening it
// (a pipe such as bash's >(...) or /dev/null has no directory to create a
// file in); a new one by creating a file next to it, removed again.
func TestCheckReportPath(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	dir := t.TempDir()
	for _, path := range []string{"", "/dev/null", fmt.Sprintf("/proc/self/fd/%d", w.Fd()), filepath.Join(dir, "new.xml")} {
		if err := checkReportPath("--junit", path); err != nil {
			t.Errorf("checkReportPath(%q) = %v, want nil", path, err)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("checkReportPath left %v behind", left)
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(t.TempDir(), "ro")
		os.Mkdir(ro, 0o755)
		existing := filepath.Join(ro, "report.xml")
		os.WriteFile(existing, []byte("old"), 0o644)
		os.Chmod(ro, 0o555)
		defer os.Chmod(ro, 0o755)
		if err := checkReportPath("--junit", existing); err != nil {
			t.Errorf("checkReportPath(writable file in a read-only directory) = %v, want nil", err)
		}
		if b, _ := os.ReadFile(existing); string(b) != "old" {
			t.Errorf("checkReportPath changed %s to %q", existing, b)
		}
		if err := checkReportPath("--junit", filepath.Join(ro, "new.xml")); err == nil {
			t.Errorf("checkReportPath(new file in a read-only directory) = nil, want an error")
		}
		os.Chmod(existing, 0o444)
		if err := checkReportPath("--junit", existing); err == nil || !strings.Contains(err.Error(), "cannot write there: permission denied") {
			t.Errorf("checkReportPath(read-only file) = %v, want permission denied", err)
		}
	}
	for path, want := range map[string]string{
		"/nonexistent/report.xml": "cannot write there: no such file or directory",
		dir:                       "is a directory",
	} {
		if err := checkReportPath("--junit", path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("checkReportPath(%q) = %v, want %q", path, err, want)
		}
	}
}
