package service

import (
	"fmt"
	"time"
)

// DataEnd returns the end of the settled data: the start of the window containing
// now − Settle. No period reaches past it.
func (s *Service) DataEnd() time.Time { return s.grid.floor(s.opt.Now().Add(-s.opt.Settle)) }

// MonthOf returns the calendar month (in the workshops' zone) that contains the last
// instant before to, as a period ending at to: month to date, or the whole previous
// month when to is the first midnight of a month.
func (s *Service) MonthOf(to time.Time) Period {
	last := to.Add(-time.Nanosecond).In(s.opt.Location)
	return Period{From: time.Date(last.Year(), last.Month(), 1, 0, 0, 0, 0, s.opt.Location), To: to}
}

// MonthToDate is the default period of the API: the current calendar month up to the
// end of the settled data (DataEnd); on the first day of a month before its first
// window has settled, the previous month.
func (s *Service) MonthToDate() Period { return s.MonthOf(s.DataEnd()) }

// ClipToData shortens a period that reaches past the end of the settled data (DataEnd)
// to end there, at a whole number of steps from From, and returns the requested end
// (zero when p was not clipped). A period that starts at or after the end of the data
// has nothing to show and is refused with a PeriodError.
func (s *Service) ClipToData(p Period) (Period, time.Time, error) {
	end := s.DataEnd()
	if !p.To.After(end) {
		return p, time.Time{}, nil
	}
	loc := s.opt.Location
	if !p.From.Before(end) {
		return p, time.Time{}, &PeriodError{fmt.Sprintf("from %s is not before the end of the settled data %s: the period lies in the future",
			p.From.In(loc).Format(time.RFC3339), end.In(loc).Format(time.RFC3339))}
	}
	requested := p.To
	p.To = end
	if p.Step > 0 {
		n := end.Sub(p.From) / p.Step
		if n == 0 {
			return p, time.Time{}, &PeriodError{fmt.Sprintf("from %s: no whole step of %s ends before the end of the settled data %s",
				p.From.In(loc).Format(time.RFC3339), FormatDuration(p.Step), end.In(loc).Format(time.RFC3339))}
		}
		p.To = p.From.Add(n * p.Step)
	}
	return p, requested, nil
}
