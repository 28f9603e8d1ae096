package serve

import (
	"time"

	"github.com/exsim/exsim/internal/defaults"
)

// Default sets *v to d when it is zero or negative: how a server's Options
// take the default of a limit, size or timeout left unset (defaults.Set).
func Default[T int | int64 | time.Duration](v *T, d T) { defaults.Set(v, d) }
