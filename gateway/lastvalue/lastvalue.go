// Package lastvalue keeps the newest sample of every configured signal and the newest
// closed workshop KPI window of each length: what the status page shows between TSDB
// queries. Its size is fixed by the configuration.
package lastvalue

import (
	"math"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// Store is a pipeline.Processor that keeps, for every configured signal of every
// device, the newest sample: its quality and source timestamp, and the value of the
// newest sample that had one (a bad sample carries no value). Its size is fixed by the
// configuration: fields of unknown devices or unconfigured signals are ignored. Safe for
// concurrent use.
type Store struct {
	mu   sync.Mutex
	devs map[string]*deviceValues
	// arrived is when the newest batch holding a configured signal was processed (wall
	// clock, Unix nanoseconds; 0 before the first).
	arrived int64
}

type deviceValues struct {
	index map[string]int // signal name → position in vals
	vals  []Signal       // in config.Device.SignalNames order
}

// Signal is one signal's newest sample.
type Signal struct {
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

// New returns a Store sized for cfg's devices and signals.
func New(cfg *config.Config) *Store {
	lv := &Store{devs: make(map[string]*deviceValues, len(cfg.Devices))}
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		names := d.SignalNames()
		if len(names) == 0 {
			continue
		}
		dv := &deviceValues{index: make(map[string]int, len(names)), vals: make([]Signal, len(names))}
		for j, n := range names {
			dv.index[n] = j
			dv.vals[j] = Signal{Name: n, Unit: d.Signals[n].Unit}
		}
		lv.devs[d.ID] = dv
	}
	return lv
}

// Process implements pipeline.Processor. A sample older than the one kept for its
// signal is ignored; one with the same timestamp replaces it (a quality change).
func (lv *Store) Process(b point.Batch) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	matched := false
	defer func() {
		if matched {
			lv.arrived = time.Now().UnixNano()
		}
	}()
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
			matched = true
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

// LastArrival returns when the newest batch holding a configured signal arrived (zero
// before the first): the gateway's "last data" age, by the gateway's clock rather than
// the sources' timestamps.
func (lv *Store) LastArrival() time.Time {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if lv.arrived == 0 {
		return time.Time{}
	}
	return time.Unix(0, lv.arrived)
}

// Device returns a copy of the device's signals in configuration order (nil for a
// device without signals).
func (lv *Store) Device(id string) []Signal {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	dv := lv.devs[id]
	if dv == nil {
		return nil
	}
	return append([]Signal(nil), dv.vals...)
}

// Windows keeps the workshop KPIs of the newest closed window of each length, as the
// KPI engine emits them.
type Windows struct {
	mu   sync.Mutex
	last map[string]ClosedWindow // by window name
}

// ClosedWindow is one closed window's start and workshop KPI fields.
type ClosedWindow struct {
	Start  time.Time
	Fields []point.Field
}

// NewWindows returns an empty Windows.
func NewWindows() *Windows { return &Windows{last: map[string]ClosedWindow{}} }

// Record takes the workshop_kpi points of a batch the KPI engine emitted.
func (lw *Windows) Record(b point.Batch) {
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
		lw.last[name] = ClosedWindow{Start: start, Fields: append([]point.Field(nil), p.Fields...)}
	}
}

// Get returns the newest closed window named name (e.g. "1h").
func (lw *Windows) Get(name string) (ClosedWindow, bool) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	w, ok := lw.last[name]
	return w, ok
}
