package pop3d

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		name string
		args []string
		err  error
	}{
		{"STAT", "STAT", nil, nil},
		{"stat", "STAT", nil, nil},
		{"LiSt 1", "LIST", []string{"1"}, nil},
		{"TOP 1 10", "TOP", []string{"1", "10"}, nil},
		{"USER alice ", "USER", []string{"alice"}, nil},
		{`USER CONTOSO\alice`, "USER", []string{`CONTOSO\alice`}, nil},
		{"PASS with spaces ", "PASS", []string{"with spaces "}, nil},
		{"PASS ", "PASS", []string{""}, nil},
		{"PASS", "PASS", nil, nil},
		{"AUTH PLAIN AGFsaWNl", "AUTH", []string{"PLAIN", "AGFsaWNl"}, nil},
		{"TOP  1", "TOP", nil, errBadArguments},
		{"USER a\tb", "USER", nil, errBadArguments},
		{"PASS a\x00b", "PASS", nil, errBadArguments},
		{"USER \x7f", "USER", nil, errBadArguments},
		{"", "", nil, errUnknownCommand},
		{" STAT", "", nil, errUnknownCommand},
		{"STATS", "", nil, errUnknownCommand},
		{"ST4T", "", nil, errUnknownCommand},
		{"ÄÖÜ", "", nil, errUnknownCommand},
	}
	for _, tt := range tests {
		got, err := parseCommand(tt.line)
		if !errors.Is(err, tt.err) || (err == nil && (got.name != tt.name || !slices.Equal(got.args, tt.args))) {
			t.Errorf("parseCommand(%q) = %q %q, %v; want %q %q, %v", tt.line, got.name, got.args, err, tt.name, tt.args, tt.err)
		}
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"1", 1, true}, {"0", 0, true}, {"007", 7, true}, {"999999999", 999999999, true},
		{"", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1e3", 0, false}, {"1000000000", 0, false}, {"٣", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseNumber(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseNumber(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzCommand: the parser never panics, and what it accepts is well formed:
// an upper-case keyword of 1-4 letters, no control characters, no empty
// argument, and it round-trips.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{"STAT", "list 1", "TOP 1 2", "PASS a b c", "AUTH PLAIN =", "USER  x", "", "\x00", "RETR 99999999999", "UIDL \xff"} {
		fuzzseed.Add(f, s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := parseCommand(line)
		if err != nil {
			return
		}
		if len(cmd.name) == 0 || len(cmd.name) > maxKeyword || strings.ToUpper(cmd.name) != cmd.name {
			t.Fatalf("parseCommand(%q) name = %q", line, cmd.name)
		}
		for _, a := range cmd.args {
			if strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("parseCommand(%q) arg %q has a control character", line, a)
			}
			if a == "" && cmd.name != "PASS" {
				t.Fatalf("parseCommand(%q) has an empty argument", line)
			}
		}
		again := cmd.name
		if len(cmd.args) > 0 {
			again += " " + strings.Join(cmd.args, " ")
		}
		if cmd2, err := parseCommand(again); err != nil || cmd2.name != cmd.name || !slices.Equal(cmd2.args, cmd.args) {
			t.Fatalf("parseCommand(%q) = %v; reparsed %q = %v, %v", line, cmd, again, cmd2, err)
		}
		if n, ok := parseNumber(line); ok && (n < 0 || n > 999999999) {
			t.Fatalf("parseNumber(%q) = %d", line, n)
		}
	})
}
