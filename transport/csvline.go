package transport

import (
	"unicode"
	"unicode/utf8"
)

// appendCSV appends rec to dst as one line of RFC 4180 CSV ended by CRLF,
// byte for byte what encoding/csv's Writer writes with UseCRLF (the format
// of Exchange's tracking and protocol logs), without its per-field
// IndexAny scans and bufio copies: both logs write a line per event on the
// mail path.
func appendCSV(dst []byte, rec []string) []byte {
	for n, field := range rec {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendCSVField(dst, field)
	}
	return append(dst, '\r', '\n')
}

// appendCSVField appends one field, quoted where encoding/csv quotes it.
func appendCSVField(dst []byte, field string) []byte {
	if !csvNeedsQuotes(field) {
		return append(dst, field...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(field); i++ {
		switch c := field[i]; c {
		case '"':
			dst = append(dst, '"', '"')
		case '\r':
			// encoding/csv drops CR with UseCRLF and writes LF as CRLF.
		case '\n':
			dst = append(dst, '\r', '\n')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// csvNeedsQuotes is encoding/csv's fieldNeedsQuotes for a comma separator.
func csvNeedsQuotes(field string) bool {
	if field == "" {
		return false
	}
	if field == `\.` {
		return true
	}
	for i := 0; i < len(field); i++ {
		switch field[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(field)
	return unicode.IsSpace(r)
}
