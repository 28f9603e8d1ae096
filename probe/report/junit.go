package report

import (
	"fmt"
	"io"

	"github.com/exsim/exsim/internal/junit"
	"github.com/exsim/exsim/probe"
)

// WriteJUnit writes one testsuite per table (named by its title, e.g.
// "Mail flow with Edge Transport servers") and one testcase per flow, named
// by the flow's ID, with classname exsim.probe.<table>. The testcase's
// system-out holds the purpose, the route and what was seen; a failure
// carries the outcome as its type, "outcome: detail" as its message, and
// what breaks in its text.
func WriteJUnit(w io.Writer, results []probe.Result) error {
	doc := JUnit(results)
	return doc.Write(w)
}

// JUnit is WriteJUnit's document, for callers that add suites to it.
func JUnit(results []probe.Result) *junit.Suites {
	doc := &junit.Suites{Name: "exsim probe"}
	for _, g := range groups(results) {
		suite := junit.Suite{Name: g.table.Title(), Package: "exsim.probe." + string(g.table)}
		for _, r := range g.results {
			c := junit.Case{
				Name:      r.Flow.ID,
				Classname: "exsim.probe." + string(r.Flow.Table),
				SystemOut: fmt.Sprintf("%s\nroute: %s (%s)\nexpect: %s, outcome: %s\nseen: %s\n",
					r.Flow.Purpose, route(r.Flow), r.Flow.Listener, r.Flow.Expect, outcome(r), detail(r)),
			}
			if !r.Pass {
				p := &junit.Problem{
					Message: outcome(r) + ": " + oneLine(detail(r)),
					Type:    outcome(r),
					Text: fmt.Sprintf("%s: expected %s, found %s\n%s\nbreaks: %s\n",
						route(r.Flow), r.Flow.Expect, outcome(r), detail(r), r.Flow.Feature),
				}
				if r.Error != "" {
					c.Error = p
				} else {
					c.Failure = p
				}
			}
			suite.Add(c, r.Duration)
		}
		doc.Add(suite)
	}
	return doc
}
