package defaults

import (
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, time.Second}, {-5, time.Second}, {3 * time.Minute, 3 * time.Minute},
	} {
		v := tc.in
		Set(&v, time.Second)
		if v != tc.want {
			t.Errorf("Set(%v, 1s) = %v, want %v", tc.in, v, tc.want)
		}
	}
	n := 7
	Set(&n, 3)
	if n != 7 {
		t.Errorf("Set(7, 3) = %d, want 7", n)
	}
}
