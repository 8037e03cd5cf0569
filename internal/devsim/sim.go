// Package devsim simulates a workshop for trying the gateway, for end-to-end tests and
// as a load generator: CNC machines served over OPC UA (modelled on OPC 40001-1
// Machinery and OPC 40501-1 Machine Tools) and energy and water meters publishing JSON
// over MQTT.
//
// The model is deterministic: the same Config (with its Seed and Start) and the same
// sequence of Step times give the same values. Step advances the model to a time and
// publishes what changed: OPC UA values carry that time, truncated to milliseconds, as
// their source and server timestamps; meter messages carry it as "ts" in epoch
// milliseconds. Run drives Step from the wall clock on a grid of Config.Rate.
//
// # Machines
//
// Each machine works through spells drawn from its own random stream: running
// (Executing, mode Processing, channel Active, parts made every cycle time of the
// active program at the feed override), idle, setup (mode Setup, a new active
// program), alarm (Alarm true, NotExecuting, channel Interrupted) and rare maintenance
// (OutOfService, mode Maintenance). Outside the shift calendar machines stand idle
// (NotExecuting). Nodes: ns=1;s=M<i>.<BrowseName> (see NodeID), organised as
// Objects/Machines/M<i>/<BrowseName>.
//
// # Meters
//
// Energy meter emN measures a base load plus the machines wired to it (kW follows
// their spells); water meter wmN a base flow plus coolant make-up of running
// machines. Every MeterInterval each publishes to plant/<workshop>/meter/<id> with QoS 1:
//
//	{"ts":1767225600000,"kwh":12345.678,"kw":21.5}
//	{"ts":1767225600000,"m3":321.5}
//
// After a report a meter may be replaced (Config.MeterReplaceProb): its counter restarts
// from zero, so the next report is the consumption since the replacement.
//
// # Ground truth
//
// The simulator keeps what it produced (Produced, bounded by Config.RecordLimit) and the
// true per-window figures of every device (Truth, see WindowTruth for the exact rules).
// The devsim command serves them as JSON over HTTP and appends final windows to a file.
package devsim

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one value the simulator published: a changed OPC UA node value or one
// field of a meter message. Value has the published type: uint32 (item state,
// operation mode, parts), int32 (channel state), float64, string or bool.
type Record struct {
	Device string
	Signal Signal
	Time   time.Time
	Value  any
}

// Stats counts the simulator's activity since New.
type Stats struct {
	Steps uint64 `json:"steps"`
	// NodeChanges counts OPC UA node value changes.
	NodeChanges uint64 `json:"node_changes"`
	// NotifyDropped counts change notifications not delivered to an OPC UA
	// subscription that accepted none for a while.
	NotifyDropped uint64 `json:"notify_dropped"`
	// MQTTProduced, MQTTPublished and MQTTDropped count meter messages made,
	// acknowledged by the broker, and dropped (queue full or not acknowledged).
	MQTTProduced  uint64 `json:"mqtt_produced"`
	MQTTPublished uint64 `json:"mqtt_published"`
	MQTTDropped   uint64 `json:"mqtt_dropped"`
	// RecordsDropped counts records that fell out of the Produced buffer.
	RecordsDropped uint64 `json:"records_dropped"`
}

// nodeValue is the current value of one OPC UA node.
type nodeValue struct {
	v any
	t time.Time
}

// Sim is a simulated workshop. Its methods are safe for concurrent use.
type Sim struct {
	cfg Config
	log *slog.Logger
	cal calendar

	mu       sync.Mutex
	now      time.Time
	machines []*machine
	meters   []*meter // energy meters, then water meters
	book     *truthBook
	records  []Record // ring of at most cfg.RecordLimit
	recStart int
	stats    Stats
	buf      []byte

	cells []atomic.Pointer[nodeValue] // machine*len(MachineSignals)+signal

	srvMu   sync.Mutex
	servers map[*uaServer]struct{}

	mq mqttQueue

	notifyDropped atomic.Uint64
	mqttPublished atomic.Uint64
	mqttDropped   atomic.Uint64
}

// New builds a simulation at cfg.Start with its initial values published (recorded,
// served, and queued for MQTT). It starts no goroutine.
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validate simulator config: %w", err)
	}
	cfg = cfg.withDefaults()
	cfg.Shifts = append([]Shift(nil), cfg.Shifts...)
	if cfg.Start.IsZero() {
		cfg.Start = cfg.Now().Truncate(cfg.Rate)
	}
	start := cfg.Start.Round(0).Truncate(time.Millisecond).UTC()
	cfg.Start = start
	s := &Sim{
		cfg:     cfg,
		log:     cfg.Logger,
		cal:     calendar{shifts: cfg.Shifts, loc: cfg.Location},
		now:     start,
		servers: map[*uaServer]struct{}{},
		cells:   make([]atomic.Pointer[nodeValue], cfg.Machines*len(MachineSignals)),
	}
	s.mq.init(cfg.MQTTQueue)
	book := &truthBook{base: cfg.TruthWindow, retention: cfg.TruthRetention, loc: cfg.Location}
	for i := 1; i <= cfg.Machines; i++ {
		m := newMachine(i, &s.cfg, s.cal)
		s.machines = append(s.machines, m)
		book.devs = append(book.devs, bookDevice{m.id, KindCNC})
	}
	for i := 1; i <= cfg.EnergyMeters; i++ {
		s.meters = append(s.meters, newMeter(EnergyMeterID(i), true, 3<<32|uint64(i), &s.cfg))
		book.devs = append(book.devs, bookDevice{EnergyMeterID(i), KindEnergyMeter})
	}
	for i := 1; i <= cfg.WaterMeters; i++ {
		s.meters = append(s.meters, newMeter(WaterMeterID(i), false, 4<<32|uint64(i), &s.cfg))
		book.devs = append(book.devs, bookDevice{WaterMeterID(i), KindWaterMeter})
	}
	for i, m := range s.machines {
		if cfg.EnergyMeters > 0 {
			em := s.meters[i%cfg.EnergyMeters]
			em.machines = append(em.machines, m)
		}
	}
	book.until = make([]time.Time, len(book.devs))
	for i := range book.until {
		book.until[i] = start
	}
	s.book = book

	for i, m := range s.machines {
		m.begin(start)
		m.vals = m.observe()
		m.state = classifyVals(m.vals)
		for k, v := range m.vals {
			s.cells[i*len(MachineSignals)+k].Store(&nodeValue{v, start})
			s.record(m.id, MachineSignals[k], start, v)
		}
	}
	working, _ := s.cal.at(start)
	for j, mt := range s.meters {
		s.report(len(s.machines)+j, mt, start, working)
	}
	return s, nil
}

func classifyVals(v [8]any) State {
	return Classify(v[0].(uint32), v[1].(uint32), v[7].(bool))
}

// Config returns the configuration in effect, with defaults and Start filled in.
func (s *Sim) Config() Config { return s.cfg }

// Now returns the simulation time: the time of the last step.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Step advances the simulation to t (truncated to milliseconds) and publishes what
// changed at t. A t not after the current simulation time does nothing.
func (s *Sim) Step(t time.Time) {
	t = t.Round(0).Truncate(time.Millisecond).UTC()
	s.mu.Lock()
	if !t.After(s.now) {
		s.mu.Unlock()
		return
	}
	prev := s.now
	var changed []int
	for i, m := range s.machines {
		s.book.addState(i, prev, t, m.state)
		oldParts := m.parts
		m.advance(prev, t)
		vals := m.observe()
		for k, v := range vals {
			if v == m.vals[k] {
				continue
			}
			idx := i*len(MachineSignals) + k
			s.cells[idx].Store(&nodeValue{v, t})
			changed = append(changed, idx)
			s.record(m.id, MachineSignals[k], t, v)
		}
		if d := m.parts - oldParts; d > 0 {
			s.book.addAt(i, t, func(a *acc) { a.parts += d })
		}
		m.vals = vals
		m.state = classifyVals(vals)
		s.book.until[i] = t
	}
	working, _ := s.cal.at(t)
	for j, mt := range s.meters {
		if !t.Before(mt.next) {
			s.report(len(s.machines)+j, mt, t, working)
		}
	}
	s.now = t
	s.book.prune(t)
	s.stats.Steps++
	s.stats.NodeChanges += uint64(len(changed))
	s.mu.Unlock()
	if len(changed) > 0 {
		s.srvMu.Lock()
		for u := range s.servers {
			u.mark(changed)
		}
		s.srvMu.Unlock()
	}
}

// StepUntil steps on the grid of Config.Rate after the current simulation time up to
// and including end, as Run would without falling behind.
func (s *Sim) StepUntil(end time.Time) {
	rate := s.cfg.Rate
	for t := s.Now().Truncate(rate).Add(rate); !t.After(end); t = t.Add(rate) {
		s.Step(t)
	}
}

// report makes meter mt (book device dev) report at t: it adds the consumption since
// its last report at the rate then reported, draws the rate to hold from now on,
// publishes both, and may be replaced afterwards. Called with s.mu held.
func (s *Sim) report(dev int, mt *meter, t time.Time, working bool) {
	if !mt.last.IsZero() {
		inc := mt.rate * t.Sub(mt.last).Hours()
		mt.reg += inc
		s.book.addAmount(dev, mt.last, t, inc)
	}
	// Consumption runs at the machines' speed: with TimeScale 0.1 a minute stands for ten,
	// in parts and in kWh alike, so intensities stay those of a real workshop.
	mt.rate = mt.rateAt(working, s.machines) / s.cfg.TimeScale
	ms := t.UnixMilli()
	b := s.buf[:0]
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, ms, 10)
	if mt.energy {
		b = append(b, `,"kwh":`...)
		b = strconv.AppendFloat(b, mt.reg, 'f', -1, 64)
		b = append(b, `,"kw":`...)
		b = strconv.AppendFloat(b, mt.rate, 'f', -1, 64)
		s.record(mt.id, SigEnergyTotal, t, mt.reg)
		s.record(mt.id, SigPower, t, mt.rate)
	} else {
		b = append(b, `,"m3":`...)
		b = strconv.AppendFloat(b, mt.reg, 'f', -1, 64)
		s.record(mt.id, SigWaterTotal, t, mt.reg)
	}
	b = append(b, '}')
	s.buf = b
	s.stats.MQTTProduced++
	if s.mq.push(mt.topic, append([]byte(nil), b...)) {
		s.mqttDropped.Add(1)
	}
	mt.last = t
	mt.next = t.Truncate(s.cfg.MeterInterval).Add(s.cfg.MeterInterval)
	s.book.until[dev] = t
	if s.cfg.MeterReplaceProb > 0 && mt.rnd.Float64() < s.cfg.MeterReplaceProb {
		s.log.Info("meter replaced", "meter", mt.id, "time", t, "old_reading", mt.reg)
		mt.reg = 0
		s.book.addAt(dev, t, func(a *acc) { a.replacements++ })
	}
}

// record keeps a produced value, dropping the oldest beyond the limit. Called with
// s.mu held.
func (s *Sim) record(dev string, sig Signal, t time.Time, v any) {
	limit := s.cfg.RecordLimit
	if limit == 0 {
		return
	}
	r := Record{Device: dev, Signal: sig, Time: t, Value: v}
	if len(s.records) < limit {
		s.records = append(s.records, r)
		return
	}
	s.records[s.recStart] = r
	s.recStart = (s.recStart + 1) % limit
	s.stats.RecordsDropped++
}

// Produced returns the kept records in the order they were produced.
func (s *Sim) Produced() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.records))
	out = append(out, s.records[s.recStart:]...)
	return append(out, s.records[:s.recStart]...)
}

// Truth returns the ground truth of every device in windows of length w, a multiple
// of Config.TruthWindow that divides a day, aligned to local midnight in
// Config.Location; ordered by window start, then machines, energy meters and water
// meters. Windows begin with the one containing Start (or the oldest kept).
func (s *Sim) Truth(w time.Duration) ([]WindowTruth, error) {
	return s.TruthSince(w, time.Time{})
}

// TruthSince is Truth from the window containing since on.
func (s *Sim) TruthSince(w time.Duration, since time.Time) ([]WindowTruth, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.book.truth(w, since)
}

// Stats returns the activity counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	st.NotifyDropped = s.notifyDropped.Load()
	st.MQTTPublished = s.mqttPublished.Load()
	st.MQTTDropped = s.mqttDropped.Load()
	return st
}

// Value returns the current value of a machine signal (machine is 1-based) and the
// time it was published; ok is false for an unknown machine or signal.
func (s *Sim) Value(machine int, sig Signal) (v any, t time.Time, ok bool) {
	k := -1
	for i, ms := range MachineSignals {
		if ms == sig {
			k = i
		}
	}
	if machine < 1 || machine > len(s.machines) || k < 0 {
		return nil, time.Time{}, false
	}
	nv := s.cells[(machine-1)*len(MachineSignals)+k].Load()
	return nv.v, nv.t, true
}
