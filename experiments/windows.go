package experiments

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Window is one allowed window of safety.windows: on these days, between these hours
// (in safety.timeZone). An empty Days means every day; empty Hours the whole day.
//
//	safety:
//	  timeZone: Europe/Berlin
//	  windows:
//	    - {days: [Mon, Tue, Wed, Thu], hours: "10:00-16:00"}
//	  blackoutDates: ["2026-12-24", "2026-12-31"]
type Window struct {
	Days  []string `yaml:"days,omitempty" json:"days,omitempty"`
	Hours string   `yaml:"hours,omitempty" json:"hours,omitempty"` // "HH:MM-HH:MM", end exclusive; may wrap midnight
}

var dayNames = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

func (s *Safety) checkWindows(c *checker, p string) {
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			c.add(p+".timeZone", "unknown time zone %q (an IANA name such as Europe/Berlin)", s.TimeZone)
		}
	}
	for i, w := range s.Windows {
		wp := p + ".windows[" + strconv.Itoa(i) + "]"
		for k, d := range w.Days {
			if !slices.Contains(dayNames, d) {
				c.add(wp+".days["+strconv.Itoa(k)+"]", "must be one of %s, is %q", strings.Join(dayNames, ", "), d)
			}
		}
		if w.Hours != "" {
			if _, _, err := parseHours(w.Hours); err != nil {
				c.add(wp+".hours", "%v", err)
			}
		}
	}
	for i, d := range s.BlackoutDates {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			c.add(p+".blackoutDates["+strconv.Itoa(i)+"]", "must be a date YYYY-MM-DD, is %q", d)
		}
	}
}

// parseHours reads "HH:MM-HH:MM" into minutes of the day.
func parseHours(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		if from, err = minuteOfDay(a); err == nil {
			to, err = minuteOfDay(b)
		}
	}
	if !ok || err != nil || from == to {
		return 0, 0, fmt.Errorf("must be HH:MM-HH:MM (24-hour clock, start != end), is %q", s)
	}
	return from, to, nil
}

func minuteOfDay(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		if strings.TrimSpace(s) == "24:00" {
			return 24 * 60, nil
		}
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// OutsideWindows returns why a run starting at now may not run ("" when it may):
// a blackout date, or no window of safety.windows open. The spec must be valid.
func (s *Safety) OutsideWindows(now time.Time) string {
	loc := time.UTC
	if s.TimeZone != "" {
		if l, err := time.LoadLocation(s.TimeZone); err == nil {
			loc = l
		}
	}
	t := now.In(loc)
	date := t.Format(time.DateOnly)
	if slices.Contains(s.BlackoutDates, date) {
		return fmt.Sprintf("%s is a blackout date (safety.blackoutDates); nothing was touched", date)
	}
	if len(s.Windows) == 0 {
		return ""
	}
	for _, w := range s.Windows {
		if w.open(t) {
			return ""
		}
	}
	var ws []string
	for _, w := range s.Windows {
		ws = append(ws, w.String())
	}
	return fmt.Sprintf("%s %s is outside every allowed window (safety.windows: %s); nothing was touched",
		t.Format("Mon 15:04"), loc, strings.Join(ws, "; "))
}

func (w Window) open(t time.Time) bool {
	day := dayNames[t.Weekday()]
	m := t.Hour()*60 + t.Minute()
	if w.Hours == "" {
		return len(w.Days) == 0 || slices.Contains(w.Days, day)
	}
	from, to, err := parseHours(w.Hours)
	if err != nil {
		return false
	}
	if from < to {
		return (len(w.Days) == 0 || slices.Contains(w.Days, day)) && m >= from && m < to
	}
	// Wraps midnight: the part after midnight belongs to the window opened the day before.
	if m >= from {
		return len(w.Days) == 0 || slices.Contains(w.Days, day)
	}
	prev := dayNames[(int(t.Weekday())+6)%7]
	return m < to && (len(w.Days) == 0 || slices.Contains(w.Days, prev))
}

func (w Window) String() string {
	days := "every day"
	if len(w.Days) > 0 {
		days = strings.Join(w.Days, ",")
	}
	if w.Hours == "" {
		return days
	}
	return days + " " + w.Hours
}

// windowReason is why this run is skipped ("" when it may run), fixed at its start.
func (r *run) windowReason() string {
	if r.opts.DryRun {
		return ""
	}
	return r.e.Spec.Safety.OutsideWindows(r.res.Started)
}
