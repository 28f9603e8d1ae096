package httpd

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// GetServerTimeZones and the time zones EWS requests carry.

// tzRule is one yearly transition of a Windows time zone: the
// Occurrence'th (-1: last) Weekday of Month at At local time.
type tzRule struct {
	Month, Occurrence int
	Weekday           time.Weekday
	At                time.Duration
}

// tzDef is a Windows time zone as the Exchange server's registry holds it
// (HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Time Zones): its id,
// display name, standard bias (minutes; UTC = local + bias) and, with
// daylight saving time, the rules in force today. Exchange also serves
// each zone's historic rules (more TransitionsGroups); exsim serves the
// current ones.
type tzDef struct {
	ID, Name string
	Bias     int
	// DaylightDelta is the daylight bias added to Bias (-60), 0 without
	// daylight saving time.
	DaylightDelta   int
	Daylight, Std   tzRule
	hasDaylightTime bool
}

var (
	usRules = func(d tzDef) tzDef {
		d.DaylightDelta, d.hasDaylightTime = -60, true
		d.Daylight = tzRule{Month: 3, Occurrence: 2, Weekday: time.Sunday, At: 2 * time.Hour}
		d.Std = tzRule{Month: 11, Occurrence: 1, Weekday: time.Sunday, At: 2 * time.Hour}
		return d
	}
	euRules = func(d tzDef, daylightAt, stdAt time.Duration) tzDef {
		d.DaylightDelta, d.hasDaylightTime = -60, true
		d.Daylight = tzRule{Month: 3, Occurrence: -1, Weekday: time.Sunday, At: daylightAt}
		d.Std = tzRule{Month: 10, Occurrence: -1, Weekday: time.Sunday, At: stdAt}
		return d
	}
)

// serverTimeZones are the zones exsim's servers know: UTC, and the
// zones of the regions lab users most often pick, with Windows' ids,
// names and current rules.
var serverTimeZones = []tzDef{
	usRules(tzDef{ID: "Pacific Standard Time", Name: "(UTC-08:00) Pacific Time (US & Canada)", Bias: 480}),
	usRules(tzDef{ID: "Mountain Standard Time", Name: "(UTC-07:00) Mountain Time (US & Canada)", Bias: 420}),
	usRules(tzDef{ID: "Central Standard Time", Name: "(UTC-06:00) Central Time (US & Canada)", Bias: 360}),
	usRules(tzDef{ID: "Eastern Standard Time", Name: "(UTC-05:00) Eastern Time (US & Canada)", Bias: 300}),
	{ID: "UTC", Name: "(UTC) Coordinated Universal Time"},
	euRules(tzDef{ID: "GMT Standard Time", Name: "(UTC+00:00) Dublin, Edinburgh, Lisbon, London"}, time.Hour, 2*time.Hour),
	euRules(tzDef{ID: "W. Europe Standard Time", Name: "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", Bias: -60}, 2*time.Hour, 3*time.Hour),
	euRules(tzDef{ID: "Romance Standard Time", Name: "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", Bias: -60}, 2*time.Hour, 3*time.Hour),
	euRules(tzDef{ID: "FLE Standard Time", Name: "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius", Bias: -120}, 3*time.Hour, 4*time.Hour),
	{ID: "India Standard Time", Name: "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", Bias: -330},
	{ID: "China Standard Time", Name: "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi", Bias: -480},
	{ID: "Tokyo Standard Time", Name: "(UTC+09:00) Osaka, Sapporo, Tokyo", Bias: -540},
	{
		ID: "AUS Eastern Standard Time", Name: "(UTC+10:00) Canberra, Melbourne, Sydney", Bias: -600, DaylightDelta: -60, hasDaylightTime: true,
		Daylight: tzRule{Month: 10, Occurrence: 1, Weekday: time.Sunday, At: 2 * time.Hour},
		Std:      tzRule{Month: 4, Occurrence: 1, Weekday: time.Sunday, At: 3 * time.Hour},
	},
}

// xsBias is a bias in minutes as the xs:duration Exchange writes in a
// Period ("PT8H", "-PT5H30M").
func xsBias(minutes int) string {
	sign := ""
	if minutes < 0 {
		sign, minutes = "-", -minutes
	}
	if minutes == 0 {
		return "PT0M"
	}
	s := sign + "PT"
	if minutes >= 60 {
		s += strconv.Itoa(minutes/60) + "H"
	}
	if minutes%60 != 0 {
		s += strconv.Itoa(minutes%60) + "M"
	}
	return s
}

// definitionXML is a TimeZoneDefinition; full adds periods and
// transitions.
func (d tzDef) definitionXML(full bool) *el {
	def := E("t:TimeZoneDefinition").A("Id", d.ID).A("Name", d.Name)
	if !full {
		return def
	}
	std := fmt.Sprintf("trule:Microsoft/Registry/%s/Standard", d.ID)
	dlt := fmt.Sprintf("trule:Microsoft/Registry/%s/Daylight", d.ID)
	periods := E("t:Periods", E("t:Period").A("Bias", xsBias(d.Bias)).A("Name", "Standard").A("Id", std))
	group := E("t:TransitionsGroup").A("Id", "0")
	if d.hasDaylightTime {
		periods.add(E("t:Period").A("Bias", xsBias(d.Bias+d.DaylightDelta)).A("Name", "Daylight").A("Id", dlt))
		for _, t := range []struct {
			to string
			r  tzRule
		}{{dlt, d.Daylight}, {std, d.Std}} {
			group.add(E("t:RecurringDayTransition", T("t:To", t.to).A("Kind", "Period"), T("t:TimeOffset", xsDuration(t.r.At)),
				tInt("t:Month", int64(t.r.Month)), T("t:DayOfWeek", t.r.Weekday.String()), tInt("t:Occurrence", int64(t.r.Occurrence))))
		}
	} else {
		group.add(E("t:Transition", T("t:To", std).A("Kind", "Period")))
	}
	return def.add(periods).add(E("t:TransitionsGroups", group)).
		add(E("t:Transitions", E("t:Transition", T("t:To", "0").A("Kind", "Group"))))
}

// getServerTimeZones lists the server's zones, or those Ids names. An id
// the server does not know is left out (no public source says what
// Exchange answers for one).
func (c *ewsCall) getServerTimeZones() *el {
	const op = "GetServerTimeZones"
	full := c.op.attr("ReturnFullTimeZoneData") == "" || xsBool(c.op.attr("ReturnFullTimeZoneData"))
	var ids []string
	for _, id := range c.op.child("Ids").all("Id") {
		ids = append(ids, id.Text)
	}
	defs := E("m:TimeZoneDefinitions")
	for _, d := range serverTimeZones {
		if len(ids) == 0 || slices.Contains(ids, d.ID) {
			defs.add(d.definitionXML(full))
		}
	}
	return opResponse(op, []*el{respMsg(op, okMessage(), defs)})
}

// date is the moment of r in year (local time) (Occurrence 5 or -1: the last).
func (r tzRule) date(year int) time.Time {
	if r.Occurrence >= 5 || r.Occurrence < 0 {
		last := time.Date(year, time.Month(r.Month)+1, 0, 0, 0, 0, 0, time.UTC)
		return last.AddDate(0, 0, -((int(last.Weekday())-int(r.Weekday))+7)%7).Add(r.At)
	}
	first := time.Date(year, time.Month(r.Month), 1, 0, 0, 0, 0, time.UTC)
	return first.AddDate(0, 0, (int(r.Weekday)-int(first.Weekday())+7)%7+7*(r.Occurrence-1)).Add(r.At)
}

// offset is the zone's bias (minutes) at the UTC instant t: Windows'
// rule, the daylight start given in standard local time and its end in
// daylight local time.
func (d tzDef) offset(t time.Time) int {
	if !d.hasDaylightTime || d.Daylight.Month == 0 || d.Std.Month == 0 {
		return d.Bias
	}
	y := t.Year()
	start := d.Daylight.date(y).Add(time.Duration(d.Bias) * time.Minute)
	end := d.Std.date(y).Add(time.Duration(d.Bias+d.DaylightDelta) * time.Minute)
	in := !t.Before(start) && t.Before(end)
	if start.After(end) { // southern hemisphere
		in = !t.Before(start) || t.Before(end)
	}
	if in {
		return d.Bias + d.DaylightDelta
	}
	return d.Bias
}

// local is the UTC instant t as the zone's wall clock time.
func (d tzDef) local(t time.Time) time.Time {
	return t.UTC().Add(-time.Duration(d.offset(t)) * time.Minute)
}

// utc is the wall clock time l of the zone as a UTC instant.
func (d tzDef) utc(l time.Time) time.Time {
	guess := l.Add(time.Duration(d.Bias) * time.Minute)
	return l.Add(time.Duration(d.offset(guess)) * time.Minute)
}

// instant reads an xs:dateTime of a request in the zone: a time without
// a zone is the zone's wall clock time; one with Z or an offset is that
// instant.
func (d tzDef) instant(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	l, err := time.Parse("2006-01-02T15:04:05", s)
	if err != nil {
		return time.Time{}, err
	}
	return d.utc(l), nil
}

// serializableTimeZone reads an Availability TimeZone (Bias,
// StandardTime, DaylightTime: types.xsd SerializableTimeZone).
func serializableTimeZone(n *xnode) (tzDef, error) {
	d := tzDef{}
	var err error
	if d.Bias, err = strconv.Atoi(n.text("Bias")); err != nil {
		return d, fmt.Errorf("bias: %w", err)
	}
	read := func(n *xnode) (tzRule, int, error) {
		var r tzRule
		if n == nil {
			return r, 0, nil
		}
		bias, err1 := strconv.Atoi(n.text("Bias"))
		month, err2 := strconv.Atoi(n.text("Month"))
		occ, err3 := strconv.Atoi(n.text("DayOrder"))
		at, err4 := time.Parse("15:04:05", n.text("Time"))
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return r, 0, err
		}
		wd := slices.IndexFunc([]time.Weekday{0, 1, 2, 3, 4, 5, 6}, func(w time.Weekday) bool { return w.String() == n.text("DayOfWeek") })
		if wd < 0 || month < 0 || month > 12 || occ < -1 || occ > 5 {
			return r, 0, fmt.Errorf("invalid transition")
		}
		r = tzRule{Month: month, Occurrence: occ, Weekday: time.Weekday(wd), At: time.Duration(at.Hour())*time.Hour + time.Duration(at.Minute())*time.Minute}
		return r, bias, nil
	}
	var stdBias, dltBias int
	if d.Std, stdBias, err = read(n.child("StandardTime")); err != nil {
		return d, err
	}
	if d.Daylight, dltBias, err = read(n.child("DaylightTime")); err != nil {
		return d, err
	}
	d.Bias += stdBias
	d.DaylightDelta = dltBias - stdBias
	d.hasDaylightTime = d.DaylightDelta != 0 && d.Std.Month != 0 && d.Daylight.Month != 0
	if d.Bias < -14*60 || d.Bias > 14*60 {
		return d, fmt.Errorf("bias %d out of range", d.Bias)
	}
	return d, nil
}
