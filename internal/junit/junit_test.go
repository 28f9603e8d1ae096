package junit

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func TestCounts(t *testing.T) {
	var a, b Suite
	a.Name, b.Name = "probe", "scenarios"
	a.Add(Case{Name: "ok"}, 1500*time.Millisecond)
	a.Add(Case{Name: "bad", Failure: &Problem{Message: "filtered", Type: "filtered"}}, time.Second)
	b.Add(Case{Name: "broken", Error: &Problem{Message: "no lab"}}, 0)
	b.Add(Case{Name: "later", Skipped: &Problem{Message: "not here"}}, 0)
	doc := Suites{Name: "exsim"}
	doc.Add(a)
	doc.Add(b)
	var out bytes.Buffer
	if err := doc.Write(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		`<testsuites name="exsim" tests="4" failures="1" errors="1" time="2.500">`,
		`<testsuite name="probe" id="0" package="" tests="2" failures="1" errors="0" skipped="0" time="2.500">`,
		`<testsuite name="scenarios" id="1" package="" tests="2" failures="0" errors="1" skipped="1" time="0.000">`,
		`<failure message="filtered" type="filtered"></failure>`,
		`<skipped message="not here"></skipped>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("document lacks %s:\n%s", want, s)
		}
	}
	var back Suites
	if err := xml.Unmarshal(out.Bytes(), &back); err != nil || len(back.Suites) != 2 || len(back.Suites[1].Cases) != 2 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestTally(t *testing.T) {
	pass, fail := Tally([]int{1, 2, 3, 4, 5}, func(n int) bool { return n%2 == 1 })
	if pass != 3 || fail != 2 {
		t.Errorf("Tally(1..5, odd) = %d, %d, want 3, 2", pass, fail)
	}
	if pass, fail := Tally([]int(nil), func(int) bool { return true }); pass != 0 || fail != 0 {
		t.Errorf("Tally(nil) = %d, %d, want 0, 0", pass, fail)
	}
}
