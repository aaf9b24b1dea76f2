package reports

// compareView is the checks of two runs side by side, matched by name.
type compareView struct {
	A, B      *Result
	VerdictA  string
	VerdictB  string
	Rows      []compareRow
	Changed   int
	DurationA string
	DurationB string
	Runs      []runView // both runs, for their timelines
}

type compareRow struct {
	Name, Expected                         string
	StatusA, MeasuredA, StatusB, MeasuredB string
	Changed                                bool
}

// buildCompare pairs the checks of a and b by name: a's order first, then the
// checks only b has. A check one run lacks shows as "absent".
func buildCompare(a, b *Result) *compareView {
	v := &compareView{A: a, B: b, VerdictA: verdictOr(a.Verdict), VerdictB: verdictOr(b.Verdict),
		DurationA: formatDuration(a.Duration()), DurationB: formatDuration(b.Duration())}
	inB := map[string]Check{}
	for _, c := range b.Checks {
		inB[c.Name] = c
	}
	seen := map[string]bool{}
	for _, c := range a.Checks {
		row := compareRow{Name: c.Name, Expected: c.Expected, StatusA: c.Status, MeasuredA: c.Measured, StatusB: "absent"}
		if cb, ok := inB[c.Name]; ok {
			row.StatusB, row.MeasuredB = cb.Status, cb.Measured
			if cb.Expected != c.Expected {
				row.Expected = c.Expected + " / " + cb.Expected
			}
		}
		seen[c.Name] = true
		v.Rows = append(v.Rows, row)
	}
	for _, c := range b.Checks {
		if !seen[c.Name] {
			v.Rows = append(v.Rows, compareRow{Name: c.Name, Expected: c.Expected, StatusA: "absent", StatusB: c.Status, MeasuredB: c.Measured})
		}
	}
	for i := range v.Rows {
		if v.Rows[i].StatusA != v.Rows[i].StatusB {
			v.Rows[i].Changed = true
			v.Changed++
		}
	}
	return v
}
