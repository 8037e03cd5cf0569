package service

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// Period is a time range [From, To) split into buckets of Step (0: one bucket).
type Period struct {
	From, To time.Time
	Step     time.Duration
	// RequestedTo is the end a request asked for when To was clipped to the end of the
	// settled data (ClipToData); zero otherwise. It is not part of the data asked for.
	RequestedTo time.Time
}

// Buckets returns the number of buckets.
func (p Period) Buckets() int {
	if p.Step == 0 {
		return 1
	}
	return int(p.To.Sub(p.From) / p.Step)
}

// Bucket returns the bounds of bucket i.
func (p Period) Bucket(i int) (time.Time, time.Time) {
	if p.Step == 0 {
		return p.From, p.To
	}
	s := p.From.Add(time.Duration(i) * p.Step)
	return s, s.Add(p.Step)
}

// maxDays is the most whole days a time.Duration holds.
const maxDays = int64(math.MaxInt64 / (24 * time.Hour))

// ParseDuration parses a Go duration with an additional day unit: "30d", "1d12h", "6h".
// A day count is unsigned and what follows it too ("1d-5h" is invalid); values that do
// not fit a time.Duration (about 292 years) are invalid, never wrapped.
func ParseDuration(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) { return 0, fmt.Errorf("invalid duration %q", Clip(s)) }
	days := time.Duration(0)
	rest := s
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || n > maxDays || s[0] == '+' {
			return bad()
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = s[i+1:]
		if rest == "" {
			return days, nil
		}
		if rest[0] == '-' || rest[0] == '+' {
			return bad()
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil || (d > 0 && days > math.MaxInt64-d) {
		return bad()
	}
	return days + d, nil
}

// ClipBytes is the most bytes of a client-supplied value quoted in an error message.
const ClipBytes = 64

// Clip shortens s to ClipBytes (on a rune boundary, marked with "…") for an error
// message: the API and the service quote what a client sent, never all of it.
func Clip(s string) string { return point.Truncate(s, ClipBytes) }

// FormatDuration formats d with the day unit when it is whole days ("30d", "6h0m0s").
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// windowGrid knows where the gateways' KPI windows start: every window length from
// local midnight in the workshops' zone.
type windowGrid struct {
	size time.Duration
	loc  *time.Location
}

func midnight(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// aligned reports whether t is a window start.
func (g windowGrid) aligned(t time.Time) bool {
	return t.Sub(midnight(t, g.loc))%g.size == 0
}

// floor returns the start of the window containing t.
func (g windowGrid) floor(t time.Time) time.Time {
	m := midnight(t, g.loc)
	return m.Add(t.Sub(m) / g.size * g.size)
}

// next returns the start of the window after the one starting at t.
func (g windowGrid) next(t time.Time) time.Time { return g.floor(t.Add(g.size)) }

// count returns the number of window starts in [from, to).
func (g windowGrid) count(from, to time.Time) int {
	if g.size >= 24*time.Hour {
		n := 0
		for d := midnight(from, g.loc); d.Before(to); d = d.AddDate(0, 0, 1) {
			if !d.Before(from) {
				n++
			}
		}
		return n
	}
	n := 0
	for d := midnight(from, g.loc); d.Before(to); d = d.AddDate(0, 0, 1) {
		next := d.AddDate(0, 0, 1)
		lo, hi := d, next
		if lo.Before(from) {
			lo = from
		}
		if hi.After(to) {
			hi = to
		}
		if !lo.Before(hi) {
			continue
		}
		// window starts s = d + k·size with lo ≤ s < hi and s < next
		first := (lo.Sub(d) + g.size - 1) / g.size
		last := (hi.Sub(d) - 1) / g.size
		if last >= first {
			n += int(last - first + 1)
		}
	}
	return n
}
