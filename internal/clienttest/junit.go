package clienttest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// ValidateJUnit checks doc, a JUnit XML report, against the schema every
// report of exsim follows (probe/report/testdata/junit.xsd) with xmllint.
// It skips the test when xmllint is not installed, so callers check the
// document's structure themselves first.
func ValidateJUnit(t testing.TB, doc []byte) {
	t.Helper()
	xmllint := need(t, "xmllint", "libxml2-utils")
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("clienttest: cannot locate the JUnit schema")
	}
	xsd := filepath.Join(filepath.Dir(here), "..", "..", "probe", "report", "testdata", "junit.xsd")
	f := writeFile(t, t.TempDir(), "junit.xml", string(doc))
	if out, err := exec.Command(xmllint, "--noout", "--schema", xsd, f).CombinedOutput(); err != nil {
		t.Errorf("xmllint --schema %s: %v\n%s", xsd, err, out)
	}
}
