package pop3d

import (
	"errors"
	"strings"
)

// command is one parsed command line (RFC 1939 section 3).
type command struct {
	name string   // the keyword in upper case
	args []string // the arguments; PASS has the rest of its line as one
}

var (
	errUnknownCommand = errors.New("pop3d: unknown command")
	errBadArguments   = errors.New("pop3d: bad arguments")
)

// maxKeyword is the longest keyword accepted: RFC 1939 section 3 keywords are
// three or four characters; RFC 2449 extensions (CAPA, STLS, AUTH) keep to four.
const maxKeyword = 4

// parseCommand splits a line (without its line end) into keyword and
// arguments. Keywords are case-insensitive letters; arguments are separated
// by single spaces and are printable (RFC 1939 section 3). Trailing spaces
// are ignored except after PASS, whose single argument may contain spaces
// (RFC 1939 section 7).
func parseCommand(line string) (command, error) {
	kw, rest, hasArgs := strings.Cut(line, " ")
	if kw == "" || len(kw) > maxKeyword {
		return command{}, errUnknownCommand
	}
	for i := 0; i < len(kw); i++ {
		if c := kw[i] | 0x20; c < 'a' || c > 'z' {
			return command{}, errUnknownCommand
		}
	}
	cmd := command{name: strings.ToUpper(kw)}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < 0x20 || c == 0x7f {
			return cmd, errBadArguments
		}
	}
	if cmd.name == "PASS" {
		if hasArgs {
			cmd.args = []string{rest}
		}
		return cmd, nil
	}
	rest = strings.TrimRight(rest, " ")
	if rest == "" {
		return cmd, nil
	}
	cmd.args = strings.Split(rest, " ")
	for _, a := range cmd.args {
		if a == "" {
			return cmd, errBadArguments
		}
	}
	return cmd, nil
}

// parseNumber parses a message number or line count: decimal digits only,
// no sign, at most 9 digits (so it always fits an int).
func parseNumber(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
