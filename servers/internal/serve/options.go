package serve

import "time"

// Default sets *v to d when it is zero or negative: how a server's Options
// take the default of a limit, size or timeout left unset.
func Default[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
