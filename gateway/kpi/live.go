package kpi

import (
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// Live is the engine seen at one moment, for /metrics and the status page: each device's
// current state and the KPIs of the windows open at that moment, so far.
type Live struct {
	Now time.Time
	// Started is false until the first Tick or LoadState.
	Started bool
	// Devices follow the inventory order.
	Devices []DeviceLive
	// Workshop has one entry per window length, shortest first.
	Workshop []WindowKPI
	Stats    Stats
}

// DeviceLive is one device's current state and running KPIs.
type DeviceLive struct {
	ID, Kind string
	State    State
	// Since is when the current state began (while unknown: the start of observation).
	Since time.Time
	// LastSample is the newest sample timestamp seen; zero before the first sample.
	LastSample time.Time
	// Windows has one entry per window length, shortest first; nil for devices without
	// a source.
	Windows []WindowKPI
	// Counters has one entry per counter read so far, in role order (parts, energy,
	// water): its field name and its steps that were not plain increases, by class.
	Counters []CounterLive
}

// CounterLive is one counter's step counts (docs/metrics.md "Counter steps").
type CounterLive struct {
	Signal string
	Steps  [NumStepClasses]uint64
}

func (d *device) counters() []CounterLive {
	var out []CounterLive
	for ci, name := range d.ctrName {
		if name != "" {
			out = append(out, CounterLive{Signal: name, Steps: d.steps[ci]})
		}
	}
	return out
}

// WindowKPI holds the fields of a window open at Live's moment, computed up to that
// moment: state seconds sum to the time elapsed since Start, not to the window length.
type WindowKPI struct {
	Window     string
	Start, End time.Time
	Fields     []point.Field
}

// Field returns the value of the named field and whether it is present.
func (k WindowKPI) Field(key string) (float64, bool) {
	for _, f := range k.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return 0, false
}

// Stats returns the input counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// Live previews the timeline up to now without committing anything.
func (e *Engine) Live(now time.Time) Live {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := Live{Now: now, Started: e.started, Stats: e.stats,
		Devices: make([]DeviceLive, 0, len(e.devs))}
	if !e.started {
		for _, d := range e.devs {
			out.Devices = append(out.Devices, DeviceLive{ID: d.ID, Kind: d.Kind,
				LastSample: e.sampleTime(d), Counters: d.counters()})
		}
		return out
	}
	n := max(now.UnixNano(), e.h)
	ls := &liveSink{e: e, n: n, lo: make([]int64, len(e.series)),
		hi: make([]int64, len(e.series)), acc: make([][]devAcc, len(e.series))}
	for k := range e.series {
		ls.lo[k], ls.hi[k] = e.bounds(k, n)
		ls.acc[k] = make([]devAcc, len(e.devs))
		if w := e.findWindow(k, ls.lo[k]); w != nil {
			copy(ls.acc[k], w.acc)
		}
	}
	for _, d := range e.devs {
		c := d.c
		if n > c.done {
			e.walk(d, &c, n, n, ls)
		}
		since := c.accAt
		if c.acc == StateUnknown {
			since = max(since, e.s)
		}
		dl := DeviceLive{ID: d.ID, Kind: d.Kind, State: c.acc, Since: time.Unix(0, since),
			LastSample: e.sampleTime(d), Counters: d.counters()}
		if d.Source != "" {
			for k := range e.series {
				dl.Windows = append(dl.Windows, e.liveWindow(k, ls, e.deviceFields(d, &ls.acc[k][d.idx])))
			}
		}
		out.Devices = append(out.Devices, dl)
	}
	for k := range e.series {
		out.Workshop = append(out.Workshop, e.liveWindow(k, ls, e.workshopFields(ls.acc[k])))
	}
	return out
}

func (e *Engine) sampleTime(d *device) time.Time {
	if !d.sampled {
		return time.Time{}
	}
	return time.Unix(0, d.lastSample)
}

func (e *Engine) liveWindow(k int, ls *liveSink, fs []point.Field) WindowKPI {
	return WindowKPI{Window: e.series[k].name, Start: time.Unix(0, ls.lo[k]).In(e.loc),
		End: time.Unix(0, ls.hi[k]).In(e.loc), Fields: fs}
}

// liveSink collects a preview into copies of the windows containing n.
type liveSink struct {
	e      *Engine
	n      int64
	lo, hi []int64
	acc    [][]devAcc
}

func (ls *liveSink) state(di int, st State, from, to int64) {
	for k := range ls.lo {
		ls.e.addState(&ls.acc[k][di], st, max(from, ls.lo[k]), min(to, ls.hi[k], ls.n))
	}
}

func (ls *liveSink) energy(di int, t0, t1 int64, v0, v1 float64) {
	tr := trapezoid{t0, t1, v0, v1}
	for k := range ls.lo {
		ls.e.energyParts(k, tr, func(ws int64, kwh float64) {
			if ws == ls.lo[k] {
				ls.acc[k][di].energy += kwh
			}
		})
	}
}
