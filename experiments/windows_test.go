package experiments

import (
	"strings"
	"testing"
	"time"
)

func TestOutsideWindows(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata for Europe/Berlin:", err)
	}
	wed1030 := time.Date(2026, 12, 2, 10, 30, 0, 0, berlin) // a Wednesday
	for _, tc := range []struct {
		name string
		s    Safety
		at   time.Time
		want string // "" allowed, else a substring of the reason
	}{
		{"no windows", Safety{}, wed1030, ""},
		{"inside", Safety{TimeZone: "Europe/Berlin", Windows: []Window{{Days: []string{"Wed"}, Hours: "10:00-16:00"}}}, wed1030, ""},
		{"wrong day", Safety{TimeZone: "Europe/Berlin", Windows: []Window{{Days: []string{"Thu"}, Hours: "10:00-16:00"}}}, wed1030, "Wed 10:30 Europe/Berlin is outside every allowed window"},
		{"too early", Safety{TimeZone: "Europe/Berlin", Windows: []Window{{Hours: "11:00-16:00"}}}, wed1030, "outside every allowed window"},
		{"end is exclusive", Safety{TimeZone: "Europe/Berlin", Windows: []Window{{Hours: "09:00-10:30"}}}, wed1030, "outside"},
		{"second window", Safety{TimeZone: "Europe/Berlin", Windows: []Window{{Days: []string{"Mon"}}, {Days: []string{"Wed"}}}}, wed1030, ""},
		{"time zone matters", Safety{Windows: []Window{{Hours: "10:00-16:00"}}}, wed1030, "09:30 UTC is outside"},
		{"wraps midnight, after", Safety{Windows: []Window{{Days: []string{"Tue"}, Hours: "22:00-02:00"}}}, time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC), ""},
		{"wraps midnight, next day", Safety{Windows: []Window{{Days: []string{"Tue"}, Hours: "22:00-02:00"}}}, time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC), ""},
		{"wraps midnight, wrong day", Safety{Windows: []Window{{Days: []string{"Wed"}, Hours: "22:00-02:00"}}}, time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC), "outside"},
		{"blackout", Safety{TimeZone: "Europe/Berlin", BlackoutDates: []string{"2026-12-02"}}, wed1030, "2026-12-02 is a blackout date"},
		{"blackout in the zone's date", Safety{TimeZone: "Europe/Berlin", BlackoutDates: []string{"2026-12-03"}}, time.Date(2026, 12, 2, 23, 30, 0, 0, time.UTC), "2026-12-03 is a blackout date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.OutsideWindows(tc.at)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("OutsideWindows = %q, want %q", got, tc.want)
			}
		})
	}
}
