package roles

import (
	"fmt"

	"github.com/exsim/exsim/internal/control"
)

var (
	_ control.Readier = (*Runtime)(nil)
	_ control.Metered = (*Runtime)(nil)
)

// NotReady says what the process still waits for before it can take
// mail as Exchange would: a listener that failed to bind, and a subscribed
// Edge that has not received its first EdgeSync (until then it answers
// every recipient 451 4.4.0). Nothing means ready.
func (rt *Runtime) NotReady() []string {
	var why []string
	for _, s := range rt.servers {
		for _, b := range s.Listeners() {
			if b.Err != nil {
				why = append(why, fmt.Sprintf("%s: %v", s.Config.Name, b.Err))
			}
		}
		if r, ok := s.role.(*edgeRole); ok && s.Config.Edge != nil && s.Config.Edge.Subscribed && (r.dir == nil || !r.dir.Synchronized()) {
			why = append(why, fmt.Sprintf("%s: EdgeSync has not synchronized the organization's configuration to this Edge Transport server yet", s.Config.Name))
		}
	}
	return why
}
