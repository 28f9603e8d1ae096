package transport

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
)

// csvWriterLine is what encoding/csv writes for rec with UseCRLF.
func csvWriterLine(t testing.TB, rec []string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.Bytes()
}

func TestAppendCSVMatchesEncodingCSV(t *testing.T) {
	for _, rec := range [][]string{
		{"a", "b", ""},
		{"", ""},
		{`\.`, "x"},
		{" lead", "\tlead", "\u00a0nbsp", "trail "},
		{"a,b", `say "hi"`, "two\nlines", "cr\rlf", "crlf\r\nend", "\r", "\n"},
		{"250 2.6.0 <m@x> [InternalId=1, Hostname=ex01.contoso.com] Queued mail for delivery"},
		{"ünïcode", "日本語,x"},
	} {
		if got, want := appendCSV(nil, rec), csvWriterLine(t, rec); !bytes.Equal(got, want) {
			t.Errorf("appendCSV(%q) = %q, encoding/csv writes %q", rec, got, want)
		}
	}
}

func FuzzAppendCSV(f *testing.F) {
	fuzzseed.Add(f, "a", "b,c", "\"q\"")
	fuzzseed.Add(f, " x", "\r\n", `\.`)
	f.Fuzz(func(t *testing.T, a, b, c string) {
		rec := []string{a, b, c}
		if got, want := appendCSV(nil, rec), csvWriterLine(t, rec); !bytes.Equal(got, want) {
			t.Fatalf("appendCSV(%q) = %q, encoding/csv writes %q", rec, got, want)
		}
	})
}
