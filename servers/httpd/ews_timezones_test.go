package httpd

import (
	"slices"
	"testing"
	"time"
)

// TestTimeZoneOffsets checks the Windows rules against known transitions
// (2024: US 10 March and 3 November; EU 31 March and 27 October;
// Sydney 7 April and 6 October).
func TestTimeZoneOffsets(t *testing.T) {
	zone := func(id string) tzDef {
		for _, d := range serverTimeZones {
			if d.ID == id {
				return d
			}
		}
		t.Fatalf("no zone %q", id)
		return tzDef{}
	}
	for _, tc := range []struct {
		zone string
		utc  string
		bias int
	}{
		{"Pacific Standard Time", "2024-03-10T09:59:00Z", 480},
		{"Pacific Standard Time", "2024-03-10T10:00:00Z", 420},
		{"Pacific Standard Time", "2024-11-03T08:59:00Z", 420},
		{"Pacific Standard Time", "2024-11-03T09:00:00Z", 480},
		{"W. Europe Standard Time", "2024-03-31T00:59:00Z", -60},
		{"W. Europe Standard Time", "2024-03-31T01:00:00Z", -120},
		{"W. Europe Standard Time", "2024-10-27T00:59:00Z", -120},
		{"W. Europe Standard Time", "2024-10-27T01:00:00Z", -60},
		{"AUS Eastern Standard Time", "2024-01-15T00:00:00Z", -660},
		{"AUS Eastern Standard Time", "2024-04-06T16:00:00Z", -600},
		{"AUS Eastern Standard Time", "2024-10-05T16:00:00Z", -660},
		{"UTC", "2024-07-01T00:00:00Z", 0},
	} {
		at, _ := time.Parse(time.RFC3339, tc.utc)
		d := zone(tc.zone)
		if got := d.offset(at); got != tc.bias {
			t.Errorf("%s offset(%s) = %d, want %d", tc.zone, tc.utc, got, tc.bias)
		}
		if back := d.utc(d.local(at)); !back.Equal(at) && d.offset(at) == d.offset(back) {
			t.Errorf("%s: utc(local(%s)) = %s", tc.zone, tc.utc, back)
		}
	}
}

func TestTimeWindowInstant(t *testing.T) {
	berlin := serverTimeZones[slices.IndexFunc(serverTimeZones, func(d tzDef) bool { return d.ID == "W. Europe Standard Time" })]
	for in, want := range map[string]string{
		"2024-04-03T08:00:00":       "2024-04-03T06:00:00Z", // CEST wall clock
		"2024-01-03T08:00:00":       "2024-01-03T07:00:00Z", // CET
		"2024-04-03T08:00:00Z":      "2024-04-03T08:00:00Z", // an instant stays one
		"2024-04-03T08:00:00+01:00": "2024-04-03T07:00:00Z",
	} {
		got, err := berlin.instant(in)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("instant(%s) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := berlin.instant("tomorrow"); err == nil {
		t.Error("instant(tomorrow) = nil error")
	}
}
