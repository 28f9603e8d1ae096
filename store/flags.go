package store

import (
	"slices"
	"strings"
)

// System flags (RFC 9051 section 2.3.2). Keywords are any other flag without
// a leading backslash.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// FlagOp says how StoreFlags combines the given flags with the current ones.
type FlagOp int

const (
	FlagsAdd    FlagOp = iota // +FLAGS
	FlagsRemove               // -FLAGS
	FlagsSet                  // FLAGS
)

type flagBits uint8

const (
	bitSeen flagBits = 1 << iota
	bitAnswered
	bitFlagged
	bitDeleted
	bitDraft

	flagAll = bitSeen | bitAnswered | bitFlagged | bitDeleted | bitDraft
)

var systemFlags = []struct {
	name string
	bit  flagBits
}{
	{FlagSeen, bitSeen},
	{FlagAnswered, bitAnswered},
	{FlagFlagged, bitFlagged},
	{FlagDeleted, bitDeleted},
	{FlagDraft, bitDraft},
}

// maxKeywordLen bounds one keyword; longer ones are ignored.
const maxKeywordLen = 128

// parseFlags splits flags into system bits and keywords. System flags compare
// case-insensitively; unknown system flags (\Recent, \Foo) are ignored as
// they cannot be stored (RFC 9051 section 2.3.2); keywords are deduplicated
// case-insensitively and keep the spelling of their first use.
func parseFlags(flags []string) (flagBits, []string) {
	var bits flagBits
	var kws []string
outer:
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			for _, sf := range systemFlags {
				if strings.EqualFold(f, sf.name) {
					bits |= sf.bit
					continue outer
				}
			}
			continue
		}
		if !validKeyword(f) {
			continue
		}
		kws = addKeyword(kws, f)
	}
	return bits, kws
}

// addKeyword appends k to kws unless kws holds it already (keywords are
// case-insensitive) or is full.
func addKeyword(kws []string, k string) []string {
	if len(kws) >= maxKeywords || slices.ContainsFunc(kws, func(have string) bool { return strings.EqualFold(have, k) }) {
		return kws
	}
	return append(kws, k)
}

func validKeyword(k string) bool {
	if k == "" || len(k) > maxKeywordLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		// RFC 9051 atom-specials plus "]" are not allowed in a flag keyword.
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// flagList renders bits and keywords in a stable order: system flags first.
func flagList(bits flagBits, kws []string) []string {
	out := make([]string, 0, 5+len(kws))
	for _, sf := range systemFlags {
		if bits&sf.bit != 0 {
			out = append(out, sf.name)
		}
	}
	return append(out, kws...)
}

// applyFlags returns the new bits and keywords after op.
func applyFlags(bits flagBits, kws []string, op FlagOp, addBits flagBits, addKws []string) (flagBits, []string) {
	switch op {
	case FlagsSet:
		return addBits, slices.Clone(addKws)
	case FlagsAdd:
		bits |= addBits
		out := slices.Clone(kws)
		for _, k := range addKws {
			out = addKeyword(out, k)
		}
		return bits, out
	case FlagsRemove:
		bits &^= addBits
		var out []string
	keep:
		for _, have := range kws {
			for _, k := range addKws {
				if strings.EqualFold(have, k) {
					continue keep
				}
			}
			out = append(out, have)
		}
		return bits, out
	}
	return bits, kws
}

func sameKeywords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y string) bool { return strings.EqualFold(x, y) }) {
			return false
		}
	}
	return true
}
