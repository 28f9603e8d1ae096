// Package defaults fills in the limits, sizes and timeouts an options
// struct leaves unset.
package defaults

import "time"

// Set sets *v to d when it is zero or negative: a limit, size or timeout
// left unset (or set to nonsense) takes its default.
func Set[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
