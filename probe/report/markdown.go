package report

import (
	"bufio"
	"io"
	"strings"

	"github.com/exsim/exsim/probe"
)

// WriteMarkdown writes the port matrix as GitHub-flavoured Markdown: the
// summary, then one table per seed table with failures first; a failing
// row says what breaks.
func WriteMarkdown(w io.Writer, results []probe.Result) error {
	bw := bufio.NewWriter(w)
	s := probe.Summarize(results)
	bw.WriteString("# exsim probe\n\n**" + summaryLine(s) + "**\n")
	for _, g := range groups(results) {
		gs := probe.Summarize(g.results)
		bw.WriteString("\n## " + mdEscape(g.table.Title()) + "\n\n" + summaryLine(gs) + "\n\n")
		bw.WriteString("| result | flow | source → dest:port | expect | outcome | detail |\n")
		bw.WriteString("|---|---|---|---|---|---|\n")
		for _, r := range g.results {
			res := "✅ PASS"
			d := mdEscape(detail(r))
			if !r.Pass {
				res = "❌ **FAIL**"
				if r.Flow.Feature != "" {
					d += "<br>**Breaks:** " + mdEscape(r.Flow.Feature)
				}
			}
			cells := []string{
				res,
				"`" + strings.ReplaceAll(r.Flow.ID, "`", "") + "`",
				mdEscape(strings.Replace(route(r.Flow), " -> ", " → ", 1)),
				string(r.Flow.Expect),
				mdEscape(outcome(r)),
				d,
			}
			bw.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		}
	}
	return bw.Flush()
}

// mdEscape makes text safe inside a table cell: no pipes, no line breaks,
// no HTML or emphasis from peer-supplied text.
var mdEscape = strings.NewReplacer(
	"&", "&amp;", "|", `\|`, "\r", "", "\n", " ", "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`,
).Replace
