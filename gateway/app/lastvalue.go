package app

import (
	"math"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// lastValues is a pipeline.Processor that keeps, for every configured signal of every
// device, the newest sample: its quality and source timestamp, and the value of the
// newest sample that had one (a bad sample carries no value). Its size is fixed by the
// configuration: fields of unknown devices or unconfigured signals are ignored. Safe for
// concurrent use.
type lastValues struct {
	mu   sync.Mutex
	devs map[string]*deviceValues
}

type deviceValues struct {
	index map[string]int // signal name → position in vals
	vals  []signalValue  // in config.Device.SignalNames order
}

// signalValue is one signal's newest sample.
type signalValue struct {
	Name string
	Unit string
	// Seen is false until the first sample.
	Seen    bool
	Quality point.Quality
	// Time is the source timestamp of the newest sample (Unix nanoseconds).
	Time int64
	// HasValue reports whether Value holds a value: the newest sample that was not bad.
	HasValue bool
	Value    float64
}

func newLastValues(cfg *config.Config) *lastValues {
	lv := &lastValues{devs: make(map[string]*deviceValues, len(cfg.Devices))}
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		names := d.SignalNames()
		if len(names) == 0 {
			continue
		}
		dv := &deviceValues{index: make(map[string]int, len(names)), vals: make([]signalValue, len(names))}
		for j, n := range names {
			dv.index[n] = j
			dv.vals[j] = signalValue{Name: n, Unit: d.Signals[n].Unit}
		}
		lv.devs[d.ID] = dv
	}
	return lv
}

// Process implements pipeline.Processor. A sample older than the one kept for its
// signal is ignored; one with the same timestamp replaces it (a quality change).
func (lv *lastValues) Process(b point.Batch) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	for i := range b {
		p := &b[i]
		dv := lv.devs[p.Device]
		if dv == nil {
			continue
		}
		for _, f := range p.Fields {
			j, ok := dv.index[f.Key]
			if !ok {
				continue
			}
			sv := &dv.vals[j]
			if sv.Seen && p.Time < sv.Time {
				continue
			}
			sv.Seen, sv.Quality, sv.Time = true, f.Quality, p.Time
			if f.Quality != point.Bad && !math.IsNaN(f.Value) && !math.IsInf(f.Value, 0) {
				sv.HasValue, sv.Value = true, f.Value
			}
		}
	}
}

// device returns a copy of the device's signals in configuration order (nil for a
// device without signals).
func (lv *lastValues) device(id string) []signalValue {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	dv := lv.devs[id]
	if dv == nil {
		return nil
	}
	return append([]signalValue(nil), dv.vals...)
}

// lastWindows keeps the workshop KPIs of the newest closed window of each length, as the
// KPI engine emits them.
type lastWindows struct {
	mu   sync.Mutex
	last map[string]closedWindow // by window name
}

type closedWindow struct {
	Start  time.Time
	Fields []point.Field
}

func newLastWindows() *lastWindows { return &lastWindows{last: map[string]closedWindow{}} }

// record takes the workshop_kpi points of a batch the KPI engine emitted.
func (lw *lastWindows) record(b point.Batch) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for i := range b {
		p := &b[i]
		if p.Measurement != schema.WorkshopKPI {
			continue
		}
		name := ""
		for _, t := range p.Tags {
			if t.Key == schema.TagWindow {
				name = t.Value
			}
		}
		start := time.Unix(0, p.Time)
		if cur, ok := lw.last[name]; ok && !start.After(cur.Start) {
			continue
		}
		lw.last[name] = closedWindow{Start: start, Fields: append([]point.Field(nil), p.Fields...)}
	}
}

func (lw *lastWindows) get(name string) (closedWindow, bool) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	w, ok := lw.last[name]
	return w, ok
}
