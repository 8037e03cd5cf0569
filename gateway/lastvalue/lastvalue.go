// Package lastvalue keeps the newest sample of every configured signal and the newest
// closed workshop KPI window of each length: what the status page shows between TSDB
// queries. Its size is fixed by the configuration.
package lastvalue

import (
	"math"
	"slices"
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

// deviceValues is one device's samples. Names and units stay in the configuration;
// a sample is 24 bytes, and a signal is found by binary search in the sorted names
// (no map per device: at 10 000 signals the maps and 64-byte entries held 4.6 MB).
type deviceValues struct {
	dev   *config.Device
	names []string // config.Device.SignalNames: sorted
	vals  []sample // in names order
}

// sample is the state of one signal: what Signal shows without name and unit.
type sample struct {
	Time     int64
	Value    float64
	Quality  point.Quality
	Seen     bool
	HasValue bool
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

// New returns a Store sized for cfg's devices and signals. The store refers to cfg's
// devices for names and units: cfg must not change while the store is used.
func New(cfg *config.Config) *Store {
	lv := &Store{devs: make(map[string]*deviceValues, len(cfg.Devices))}
	n := 0
	for i := range cfg.Devices {
		n += len(cfg.Devices[i].Signals)
	}
	// One allocation for every device's state and one for every sample.
	all := make([]deviceValues, 0, len(cfg.Devices))
	vals := make([]sample, n)
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		names := d.SignalNames()
		if len(names) == 0 {
			continue
		}
		all = append(all, deviceValues{dev: d, names: names, vals: vals[:len(names):len(names)]})
		vals = vals[len(names):]
		lv.devs[d.ID] = &all[len(all)-1]
	}
	return lv
}

// find returns the position of the signal named name, or -1: a linear scan for the
// usual handful of signals (an equality test is a length check and one memequal),
// a binary search for more.
func (dv *deviceValues) find(name string) int {
	if len(dv.names) <= 16 {
		for j, n := range dv.names {
			if n == name {
				return j
			}
		}
		return -1
	}
	if j, ok := slices.BinarySearch(dv.names, name); ok {
		return j
	}
	return -1
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
			j := dv.find(f.Key)
			if j < 0 {
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
	out := make([]Signal, len(dv.vals))
	for j, v := range dv.vals {
		out[j] = Signal{Name: dv.names[j], Unit: dv.dev.Signals[dv.names[j]].Unit, Seen: v.Seen, Quality: v.Quality,
			Time: v.Time, HasValue: v.HasValue, Value: v.Value}
	}
	return out
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
