package kpi

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// # Restored state and the clock
//
// A state file is checked before anything in it is used (docs/metrics.md, "Restored
// state"). The restore horizon is the longest window plus AllowedLateness (24h30s by
// default): a restored window that ended more than that before the restore is never
// emitted. The file must also agree with itself and with the clock: every window
// length's next window to emit is the one holding the file's horizon (the end of the
// last closed window), that horizon is not after the save time, and the save time is
// not more than an hour ahead of the clock. A file that fails these checks keeps only
// its counter baselines, as one saved with other window lengths does. Whatever is
// dropped is counted in Stats.WindowsDropped by reason and listed by Restored, so the
// caller can log it; nothing from the file can make a Tick emit more windows than the
// restore horizon holds.

// DropReason says why KPI windows were dropped instead of emitted.
type DropReason uint8

const (
	// DropExpired: restored windows that ended more than the restore horizon before
	// the restore (the gateway was down longer than that).
	DropExpired DropReason = iota
	// DropFuture: a state file saved more than an hour after the clock, or whose next
	// window lies after its horizon and more than an hour after the clock.
	DropFuture
	// DropInconsistent: a state file that contradicts itself (a next window other
	// than the one at its horizon, a horizon after its save time, a window not on the
	// window grid or before the next window).
	DropInconsistent
	// DropConfigChanged: the time zone or the window lengths changed since the save.
	DropConfigChanged
	// DropOverrun: a Tick had more windows due than any clock or restored state can
	// produce (a safety net that no input is known to reach).
	DropOverrun
	// NumDropReasons is the number of reasons.
	NumDropReasons
)

var dropReasonNames = [NumDropReasons]string{"expired", "future", "inconsistent", "config_changed", "overrun"}

// String returns the reason's metric label: expired, future, inconsistent,
// config_changed or overrun.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Restored tells what the last LoadState did not take over from the state file.
type Restored struct {
	// Dropped has one entry per window length and reason, shortest window first.
	Dropped []Dropped
}

// Dropped is a run of windows of one length that were dropped for one reason.
type Dropped struct {
	// Window is the window length's tag value (1m, 1h, 1d, ...).
	Window string
	Reason DropReason
	// Count is the number of windows of the file dropped (it can be 0: a file whose
	// positions are wrong but that holds no open window of that length).
	Count int
	// From is the start of the first and To the end of the last window dropped; zero
	// when Count is 0.
	From, To time.Time
	// Detail says, in words, what in the file failed the check.
	Detail string
}

// Restored returns what the last LoadState dropped (empty before any, or when it kept
// everything).
func (e *Engine) Restored() Restored {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out Restored
	for _, r := range e.restored {
		out.Dropped = append(out.Dropped, r.Dropped)
	}
	return out
}

// dropRun is a Dropped being collected, with its window length for sorting.
type dropRun struct {
	size int64
	Dropped
}

// restoreHorizon is how long after its end a restored window may still be emitted.
func (e *Engine) restoreHorizon() int64 {
	var longest int64
	for _, sr := range e.series {
		longest = max(longest, sr.size)
	}
	return longest + e.lateness
}

// dropWindows books n windows of length size, the first starting at from and the last
// ending at to, as dropped for reason. e.mu must be held.
func (e *Engine) dropWindows(size int64, reason DropReason, n int, from, to int64, detail string) {
	e.stats.WindowsDropped[reason] += uint64(n)
	i := slices.IndexFunc(e.restored, func(r dropRun) bool { return r.size == size && r.Reason == reason })
	if i < 0 {
		e.restored = append(e.restored, dropRun{size: size,
			Dropped: Dropped{Window: windowName(time.Duration(size)), Reason: reason, Detail: detail}})
		slices.SortStableFunc(e.restored, func(a, b dropRun) int {
			switch {
			case a.size != b.size:
				return cmp.Compare(a.size, b.size)
			default:
				return int(a.Reason) - int(b.Reason)
			}
		})
		i = slices.IndexFunc(e.restored, func(r dropRun) bool { return r.size == size && r.Reason == reason })
	}
	d := &e.restored[i].Dropped
	if n > 0 {
		f, t := time.Unix(0, from).In(e.loc), time.Unix(0, to).In(e.loc)
		if d.Count == 0 || f.Before(d.From) {
			d.From = f
		}
		if d.Count == 0 || t.After(d.To) {
			d.To = t
		}
	}
	d.Count += n
}

// countWindows returns the number of series k's windows starting in [a, b); a is a
// window start. It steps by local day, so any span costs at most one step per day.
func (e *Engine) countWindows(k int, a, b int64) int {
	n := 0
	size := e.series[k].size
	for a < b {
		lo, hi := e.dayBounds(a)
		if hi <= a { // the int64 range ends (year 2262)
			break
		}
		if size >= hi-lo {
			n++
		} else {
			n += int((min(b, hi) - a + size - 1) / size)
		}
		a = hi
	}
	return n
}

// fmtTime formats a Unix-nanosecond instant in the engine's zone for messages.
func (e *Engine) fmtTime(t int64) string {
	return time.Unix(0, t).In(e.loc).Format(time.RFC3339)
}
