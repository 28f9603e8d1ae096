package main

import (
	"bytes"
	"errors"
	"testing"
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
