// Package junit writes the JUnit XML document CI systems read (Jenkins'
// junit-10.xsd, GitLab, GitHub Actions reporters): testsuites > testsuite >
// testcase, a failed check as <failure message type>, a check that could
// not run as <error>, one that was not run as <skipped>. The probe, the
// scenarios, `exsim lab test` and `exsim demo` share it, so their suites
// go into one document.
package junit

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Suites is the document.
type Suites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []Suite  `xml:"testsuite"`

	dur time.Duration
}

// Suite is one testsuite; fill it with Add.
type Suite struct {
	Name     string `xml:"name,attr"`
	ID       int    `xml:"id,attr"`
	Package  string `xml:"package,attr"`
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Errors   int    `xml:"errors,attr"`
	Skipped  int    `xml:"skipped,attr"`
	Time     string `xml:"time,attr"`
	Cases    []Case `xml:"testcase"`

	dur time.Duration
}

// Case is one testcase. At most one of Error, Failure and Skipped is set.
type Case struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      string   `xml:"time,attr"`
	Error     *Problem `xml:"error,omitempty"`
	Failure   *Problem `xml:"failure,omitempty"`
	Skipped   *Problem `xml:"skipped,omitempty"`
	SystemOut string   `xml:"system-out,omitempty"`
}

// Problem is a failure, an error or a skip.
type Problem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// Add appends a testcase that took d and counts it.
func (s *Suite) Add(c Case, d time.Duration) {
	c.Time = Seconds(d)
	s.Tests++
	switch {
	case c.Error != nil:
		s.Errors++
	case c.Failure != nil:
		s.Failures++
	case c.Skipped != nil:
		s.Skipped++
	}
	s.dur += d
	s.Time = Seconds(s.dur)
	s.Cases = append(s.Cases, c)
}

// Add appends a testsuite, numbering it, and counts it.
func (d *Suites) Add(s Suite) {
	s.ID = len(d.Suites)
	s.Time = Seconds(s.dur)
	d.Tests += s.Tests
	d.Failures += s.Failures
	d.Errors += s.Errors
	d.dur += s.dur
	d.Time = Seconds(d.dur)
	d.Suites = append(d.Suites, s)
}

// Write writes the document with its XML header.
func (d *Suites) Write(w io.Writer) error {
	if d.Time == "" {
		d.Time = Seconds(d.dur)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Seconds is a duration as JUnit writes it: seconds with three decimals.
func Seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// Tally counts the results that pass and those that do not: the summary
// every exsim report (the probe's flows, the scenarios) opens with, and the
// tests and failures of its suite.
func Tally[R any](results []R, pass func(R) bool) (passed, failed int) {
	for _, r := range results {
		if pass(r) {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}
