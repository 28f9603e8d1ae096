package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/exsim/exsim/probe"
)

// The JUnit XML shape CI systems read (Jenkins' junit-10.xsd, GitLab,
// GitHub actions reporters): testsuites > testsuite > testcase, failures as
// <failure message type>, checks that could not run as <error>.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	ID       int         `xml:"id,attr"`
	Package  string      `xml:"package,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Error     *junitProblem `xml:"error,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes one testsuite per table (named by its title, e.g.
// "Mail flow with Edge Transport servers") and one testcase per flow, named
// by the flow's ID, with classname exsim.probe.<table>. The testcase's
// system-out holds the purpose, the route and what was seen; a failure
// carries the outcome as its type, "outcome: detail" as its message, and
// what breaks in its text.
func WriteJUnit(w io.Writer, results []probe.Result) error {
	doc := junitSuites{Name: "exsim probe"}
	var total time.Duration
	for i, g := range groups(results) {
		suite := junitSuite{Name: g.table.Title(), ID: i, Package: "exsim.probe." + string(g.table)}
		var suiteTime time.Duration
		for _, r := range g.results {
			suite.Tests++
			suiteTime += r.Duration
			c := junitCase{
				Name:      r.Flow.ID,
				Classname: "exsim.probe." + string(r.Flow.Table),
				Time:      seconds(r.Duration),
				SystemOut: fmt.Sprintf("%s\nroute: %s (%s)\nexpect: %s, outcome: %s\nseen: %s\n",
					r.Flow.Purpose, route(r.Flow), r.Flow.Listener, r.Flow.Expect, outcome(r), detail(r)),
			}
			if !r.Pass {
				p := &junitProblem{
					Message: outcome(r) + ": " + oneLine(detail(r)),
					Type:    outcome(r),
					Text: fmt.Sprintf("%s: expected %s, found %s\n%s\nbreaks: %s\n",
						route(r.Flow), r.Flow.Expect, outcome(r), detail(r), r.Flow.Feature),
				}
				if r.Error != "" {
					c.Error = p
					suite.Errors++
				} else {
					c.Failure = p
					suite.Failures++
				}
			}
			suite.Cases = append(suite.Cases, c)
		}
		suite.Time = seconds(suiteTime)
		total += suiteTime
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Suites = append(doc.Suites, suite)
	}
	doc.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("report: junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}
