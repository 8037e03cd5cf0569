package devsim

import (
	"sort"
	"time"
)

// calendar answers whether a time is within a shift and when that changes.
type calendar struct {
	shifts []Shift
	loc    *time.Location
}

type span struct{ from, to time.Time }

// at reports whether t is within a shift and the time at which that next changes.
// Shifts that touch or overlap count as one working period. Without shifts the
// machines never work; a calendar working around the clock reports a change two days
// ahead, which the caller re-evaluates then.
func (c calendar) at(t time.Time) (working bool, until time.Time) {
	lt := t.In(c.loc)
	y, m, d := lt.Date()
	var spans []span
	for day := -1; day <= 2; day++ {
		midnight := time.Date(y, m, d+day, 0, 0, 0, 0, c.loc)
		for _, s := range c.shifts {
			end := s.End
			if end <= s.Start {
				end += 24 * time.Hour
			}
			spans = append(spans, span{midnight.Add(s.Start), midnight.Add(end)})
		}
	}
	horizon := t.Add(48 * time.Hour)
	if len(spans) == 0 {
		return false, horizon
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
	merged := spans[:1]
	for _, s := range spans[1:] {
		last := &merged[len(merged)-1]
		if !s.from.After(last.to) {
			if s.to.After(last.to) {
				last.to = s.to
			}
			continue
		}
		merged = append(merged, s)
	}
	for _, s := range merged {
		if t.Before(s.from) {
			return false, s.from
		}
		if t.Before(s.to) {
			if s.to.After(horizon) {
				return true, horizon
			}
			return true, s.to
		}
	}
	return false, horizon
}
