package report

import (
	"bufio"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/exsim/exsim/probe"
)

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiDim   = "\x1b[2m"
)

// WriteTable writes the port matrix for a terminal: one block per table in
// the seed's order, failures first, then the summary line
// "N flows, N passed, N failed". Under each failure a line says what
// breaks. ANSI colour only when color is set.
func WriteTable(w io.Writer, results []probe.Result, color bool) error {
	bw := bufio.NewWriter(w)
	paint := func(code, s string) string {
		if !color || s == "" {
			return s
		}
		return code + s + ansiReset
	}
	header := []string{"RESULT", "FLOW", "SOURCE -> DEST:PORT", "EXPECT", "OUTCOME", "DETAIL"}
	widths := make([]int, len(header)-1) // the last column is not padded
	for i := range widths {
		widths[i] = utf8.RuneCountInString(header[i])
	}
	row := func(r probe.Result) []string {
		return []string{verdict(r), r.Flow.ID, route(r.Flow), string(r.Flow.Expect), outcome(r), oneLine(detail(r))}
	}
	for _, r := range results {
		for i, cell := range row(r)[:len(widths)] {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	line := func(cells []string, codes []string) {
		bw.WriteString("  ")
		for i, c := range cells {
			pad := ""
			if i < len(widths) {
				pad = strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2)
			}
			bw.WriteString(paint(codes[i], c))
			bw.WriteString(pad)
		}
		bw.WriteString("\n")
	}
	for i, g := range groups(results) {
		if i > 0 {
			bw.WriteString("\n")
		}
		s := probe.Summarize(g.results)
		bw.WriteString(paint(ansiBold, g.table.Title()) + paint(ansiDim, " ("+summaryLine(s)+")") + "\n")
		line(header, []string{ansiDim, ansiDim, ansiDim, ansiDim, ansiDim, ansiDim})
		for _, r := range g.results {
			res := ansiGreen
			if !r.Pass {
				res = ansiBold + ansiRed
			}
			out := ""
			if !r.Pass {
				out = ansiRed
			}
			line(row(r), []string{res, "", "", "", out, ""})
			if !r.Pass && r.Flow.Feature != "" {
				bw.WriteString("        " + paint(ansiRed, "breaks: "+r.Flow.Feature) + "\n")
			}
		}
	}
	s := probe.Summarize(results)
	code := ansiBold + ansiGreen
	if s.Failed > 0 {
		code = ansiBold + ansiRed
	}
	bw.WriteString("\n" + paint(code, summaryLine(s)) + "\n")
	return bw.Flush()
}

// oneLine keeps a detail on one line, without control characters.
func oneLine(s string) string {
	s = strings.NewReplacer("\r", "", "\n", " / ", "\t", " ").Replace(s)
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
