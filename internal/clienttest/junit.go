package clienttest

import (
	"os"
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
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed (apt-get install libxml2-utils); XSD validation skipped")
	}
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("clienttest: cannot locate the JUnit schema")
	}
	xsd := filepath.Join(filepath.Dir(here), "..", "..", "probe", "report", "testdata", "junit.xsd")
	f := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--schema", xsd, f).CombinedOutput(); err != nil {
		t.Errorf("xmllint --schema %s: %v\n%s", xsd, err, out)
	}
}
