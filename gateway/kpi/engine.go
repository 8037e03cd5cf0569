package kpi

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// Stats counts what the engine did with its input, for the gateway's /metrics.
type Stats struct {
	// Samples is the number of field values received for inventory devices.
	Samples uint64
	// UnknownDevice counts points for devices not in the inventory (dropped).
	UnknownDevice uint64
	// Duplicates counts samples equal to the previous one of the same signal (same
	// timestamp, value and quality); they are ignored.
	Duplicates uint64
	// OutOfOrder counts samples older than the latest one of the same signal: ignored
	// for counter deltas, replayed in order for states while their window is open.
	OutOfOrder uint64
	// Late counts samples older than the last closed window; they take effect at its end.
	Late uint64
	// Stale counts samples older than the start of observation (initial values with old
	// source timestamps after start-up or reconnection); they take effect at the start.
	Stale uint64
	// Future counts points more than an hour ahead of the last Tick (dropped).
	Future uint64
	// Overflow counts samples dropped because a device had too many pending samples.
	Overflow uint64
	// Invalid counts NaN/Inf values (taken as bad quality) and negative counter readings.
	Invalid uint64
	// Wraps counts UInt32 counter wrap-arounds; Resets counts counter resets and meter
	// replacements (StepReplacement).
	Wraps, Resets uint64
	// Steps counts every counter step that was not a plain increase, by class.
	Steps [NumStepClasses]uint64
	// WindowsDropped counts windows dropped instead of emitted, by DropReason: restored
	// windows that failed the checks of LoadState, and windows skipped by a Tick that
	// had more due than it may emit.
	WindowsDropped [NumDropReasons]uint64
}

// Engine computes device and workshop KPIs. Process, SourceState, Tick, Live and the
// state persistence methods are safe for concurrent use.
type Engine struct {
	mu sync.Mutex

	cfg      Config
	loc      *time.Location
	lateness int64
	debounce int64
	maxGap   int64
	cal      calendar

	series   []series
	devs     []*device
	byID     map[string]int
	bySource map[string][]int
	shopTags [][]point.Tag // per series
	inv      inventory

	started  bool
	touched  bool  // Process or SourceState was called
	s        int64 // start of observation (of the current run)
	h        int64 // horizon: end of the last closed window (>= s)
	closed   int64 // every series' next window holds it (h after each Tick; the saved horizon)
	lastNow  int64 // latest Tick time
	seenMax  int64 // latest accepted sample time
	gaps     []span
	pool     []*window
	dayLo    int64
	dayHi    int64
	sink     commitSink
	stats    Stats
	restored []dropRun     // what the last LoadState dropped
	repls    []replacement // recorded counter replacements (replace.go)
	noBeats  bool          // tests: no heartbeat runs
}

type span struct{ start, end int64 }

type inventory struct{ total, key, cncKey, digital int }

// series is one window length: its open windows and the next one to emit.
type series struct {
	size int64
	name string
	next int64     // start of the next window to emit
	open []*window // sorted by start, all >= next
}

type window struct {
	start, end int64
	acc        []devAcc // by device index
}

// devAcc accumulates one device's figures in one window.
type devAcc struct {
	ns         [numStates]int64 // nanoseconds per state
	planNS     int64            // planned (shift) and known time
	runPlanNS  int64            // planned time spent running
	parts      float64
	energy     float64 // kWh
	water      float64 // m³
	suspect    int64   // counter steps not booked (glitch, implausible)
	good       bool    // a Good sample arrived for the window
	anyCounter bool
}

type device struct {
	Device
	idx      int
	roles    map[string]role // the device's own role mapping; nil: the field names' defaults
	has      roleSet
	meter    bool
	interval int64
	// base is the identity tags of the device's device_kpi points, sorted, without the
	// window tag, which emit adds per point (one copy instead of one a window length).
	base []point.Tag

	c    carry
	evs  []event
	last [numRoles]lastSample
	ctr  [3]counter
	// maxRate is each counter's MaxRate per nanosecond (0: no limit); ctrName the field
	// the counter was last read from; steps its non-plain steps by class.
	maxRate [3]float64
	ctrName [3]string
	steps   [3][NumStepClasses]uint64
	// replPending has bit ci set while a recorded replacement of counter ci waits for
	// its first reading (replace.go).
	replPending uint8

	pending     [3]float64 // counter deltas before observation started
	pendSuspect int64      // suspect steps before observation started
	pendingGood bool
	srcDown     bool
	waitData    bool
	upAt        int64
	lastSample  int64
	sampled     bool
}

// defaultRoles maps each role's name to the role: a field named like a role has it
// unless the device's roles say otherwise.
var defaultRoles = func() map[string]role {
	m := make(map[string]role, numRoles)
	for r := roleMachine; r < numRoles; r++ {
		m[roleNames[r]] = r
	}
	return m
}()

// roleOf returns the role of the field name on d: the device's own mapping, else the
// default for the name, else roleOther. One shared default map instead of a copy per
// device saves about 0.6 KB a device.
func (d *device) roleOf(name string) role {
	if r, ok := d.roles[name]; ok {
		return r
	}
	if r, ok := defaultRoles[name]; ok {
		return r
	}
	return roleOther
}

// inert reports whether the state model ignores the values of role r on d: only their
// quality, and that they arrived, count.
func (d *device) inert(r role) bool {
	if r == rolePower {
		return d.meter && d.has.has(roleEnergy) // no power integration, no power threshold
	}
	return slotShift[r] >= 0 // the roles a heartbeat run can hold
}

type lastSample struct {
	t    int64
	v    float64
	q    point.Quality
	seen bool
}

// counter is a counter's baseline: the reading v at t that the next delta counts from.
// held: a glitch put the counter below v; nothing is booked until it passes v again.
// last is the time of the latest reading taken (booked or held).
type counter struct {
	v    float64
	t    int64
	last int64
	has  bool
	held bool
}

// New builds an engine for the workshop's inventory. It starts nothing: observation
// begins with the first Tick or LoadState.
func New(cfg Config, devices []Device) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new kpi engine: %w", err)
	}
	cfg = cfg.withDefaults()
	e := &Engine{
		cfg:      cfg,
		loc:      cfg.Location,
		lateness: int64(cfg.AllowedLateness),
		debounce: int64(cfg.Debounce),
		maxGap:   int64(cfg.MaxIntegrationGap),
		byID:     make(map[string]int, len(devices)),
		bySource: make(map[string][]int),
		dayLo:    math.MaxInt64,
	}
	e.sink.e = e
	if err := e.cal.init(cfg.Location, cfg.Shifts); err != nil {
		return nil, fmt.Errorf("new kpi engine: %w", err)
	}
	sizes := append([]time.Duration(nil), cfg.Windows...)
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	shop := withTag(cfg.WorkshopTags)
	for _, w := range sizes {
		name := windowName(w)
		e.series = append(e.series, series{size: int64(w), name: name})
		e.shopTags = append(e.shopTags, withTag(shop, point.Tag{Key: schema.TagWindow, Value: name}))
	}
	for i, d := range devices {
		if err := e.addDevice(i, d); err != nil {
			return nil, fmt.Errorf("new kpi engine: %w", err)
		}
	}
	return e, nil
}

func (e *Engine) addDevice(i int, d Device) error {
	if _, dup := e.byID[d.ID]; dup && d.ID != "" {
		return fmt.Errorf("devices[%d].id: duplicate %q", i, d.ID)
	}
	dev, err := newDevice(i, d)
	if err != nil {
		return err
	}
	dev.idx = len(e.devs)
	base := d.Tags
	if !hasTag(base, schema.TagDevice) {
		base = withTag(base, point.Tag{Key: schema.TagDevice, Value: d.ID})
	}
	if !hasTag(base, schema.TagKind) && d.Kind != "" {
		base = withTag(base, point.Tag{Key: schema.TagKind, Value: d.Kind})
	}
	dev.base = withTag(base)
	e.byID[d.ID] = dev.idx
	if d.Source != "" {
		e.bySource[d.Source] = append(e.bySource[d.Source], dev.idx)
	}
	e.devs = append(e.devs, dev)
	if dev.meter {
		return nil // instrumentation: in no equipment figure
	}
	e.inv.total++
	if d.KeyProcess {
		e.inv.key++
		if d.NumericalControl {
			e.inv.cncKey++
		}
	}
	if d.Digital {
		e.inv.digital++
	}
	return nil
}

// newDevice checks d (the i-th device) and resolves its class and the roles of its
// fields; the engine and PlanOf share it.
func newDevice(i int, d Device) (*device, error) {
	switch {
	case d.ID == "":
		return nil, fmt.Errorf("devices[%d].id: empty", i)
	case d.Interval < 0:
		return nil, fmt.Errorf("devices[%d].interval: negative %s", i, d.Interval)
	case d.UnitValueYuan < 0 || !finite(d.UnitValueYuan):
		return nil, fmt.Errorf("devices[%d].unit_value_yuan: invalid %v", i, d.UnitValueYuan)
	case d.Class != "" && d.Class != schema.ClassEquipment && d.Class != schema.ClassMeter:
		return nil, fmt.Errorf("devices[%d].class: invalid %q: want %s or %s", i, d.Class, schema.ClassEquipment, schema.ClassMeter)
	}
	dev := &device{Device: d, interval: int64(d.Interval), meter: schema.ClassOf(d.Class, d.Kind) == schema.ClassMeter}
	if len(d.Roles) > 0 {
		dev.roles = make(map[string]role, len(d.Roles))
	}
	names := make([]string, 0, len(d.Roles)+len(d.Signals))
	for name := range d.Roles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r, ok := roleByName(d.Roles[name])
		if !ok {
			return nil, fmt.Errorf("devices[%d].roles[%q]: unknown role %q", i, name, d.Roles[name])
		}
		dev.roles[name] = r
	}
	for _, s := range d.Signals {
		if _, ok := dev.roles[s]; !ok {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	var holder [numRoles]string
	for j, name := range names {
		if j > 0 && names[j-1] == name {
			continue
		}
		r := dev.roleOf(name)
		if r == roleNone || r == roleOther {
			continue
		}
		if holder[r] != "" {
			return nil, fmt.Errorf("devices[%d]: fields %q and %q both have role %q", i, holder[r], name, roleNames[r])
		}
		holder[r] = name
		dev.has |= 1 << r
	}
	for _, name := range d.Counters {
		if r := dev.roleOf(name); r != roleNone && r != roleOther && !isCounter(r) {
			return nil, fmt.Errorf("devices[%d].counters: field %q has role %q, which is not a counter", i, name, roleNames[r])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.MaxRate)) {
		v := d.MaxRate[name]
		r := dev.roleOf(name)
		switch {
		case !finite(v) || v <= 0:
			return nil, fmt.Errorf("devices[%d].max_rate[%q]: invalid %v: want a finite number > 0", i, name, v)
		case !isCounter(r):
			return nil, fmt.Errorf("devices[%d].max_rate[%q]: the field has no counter role (%s, %s, %s)", i, name,
				roleNames[roleParts], roleNames[roleEnergy], roleNames[roleWater])
		}
		dev.maxRate[r-roleParts] = v / float64(time.Hour)
	}
	return dev, nil
}

// production reports whether the device has a running signal (and so availability);
// a meter never has.
func (d *device) production() bool {
	return !d.meter && (d.has.has(roleMachine) || d.has.has(roleChannel) || d.has.has(roleSpindle) ||
		d.has.has(rolePower))
}

// fromPower reports whether the device's energy is integrated from power_kw.
func (d *device) fromPower() bool { return d.has.has(rolePower) && !d.has.has(roleEnergy) }

// Process takes the samples of a batch (the pipeline's Processor). It keeps no reference
// to b.
func (e *Engine) Process(b point.Batch) {
	e.mu.Lock()
	for i := range b {
		e.processPoint(&b[i])
	}
	e.mu.Unlock()
}

func (e *Engine) processPoint(p *point.Point) {
	di, ok := e.byID[p.Device]
	if !ok {
		e.stats.UnknownDevice++
		return
	}
	d := e.devs[di]
	t := p.Time
	if e.lastNow != 0 && t > e.lastNow+maxAhead {
		e.stats.Future++
		return
	}
	e.touched = true
	ts := t // effective time
	if e.started && t < e.h {
		ts = e.h
	}
	if d.waitData {
		d.waitData = false
		e.insert(d, event{t: max(ts, d.upAt), kind: evUp})
	}
	if !d.sampled || t > d.lastSample {
		d.lastSample, d.sampled = t, true
	}
	if t > e.seenMax {
		e.seenMax = t
	}
	good, other, placed := false, false, false
	otherQ := point.Bad
	for j := range p.Fields {
		f := &p.Fields[j]
		r := d.roleOf(f.Key)
		if r == roleNone {
			continue
		}
		v, q := f.Value, f.Quality
		if q == point.Bad {
			v = 0
		} else if !finite(v) {
			e.stats.Invalid++
			v, q = 0, point.Bad
		}
		e.stats.Samples++
		if q == point.Good {
			good = true
		}
		if r == roleOther {
			other = true
			otherQ = min(otherQ, q)
			continue
		}
		d.has |= 1 << r
		ls := &d.last[r]
		if ls.seen {
			if t == ls.t && v == ls.v && q == ls.q {
				e.stats.Duplicates++
				continue
			}
			if t < ls.t {
				e.stats.OutOfOrder++
				switch {
				case ts != t || isCounter(r):
				case d.inert(r):
					// Superseded by the newer sample of its role: it only proves data at t.
					placed = e.insert(d, beat(t, t)) || placed
				default:
					placed = e.insert(d, event{t: t, v: v, kind: evSample, role: r, q: q}) || placed
				}
				continue
			}
		}
		*ls = lastSample{t: t, v: v, q: q, seen: true}
		if ts != t {
			if t < e.s {
				e.stats.Stale++
			} else {
				e.stats.Late++
			}
		}
		if isCounter(r) && q != point.Bad {
			d.ctrName[r-roleParts] = f.Key
			e.count(d, r, t, ts, v)
		}
		placed = e.sample(d, ts, v, r, q) || placed
	}
	if other && !placed {
		e.sample(d, ts, 0, roleOther, otherQ)
	}
	if good {
		e.markGood(di, ts)
	}
}

// count turns a cumulative counter reading into a delta counted at ts.
func (e *Engine) count(d *device, r role, t, ts int64, v float64) {
	if v < 0 {
		e.stats.Invalid++
		return
	}
	ci := r - roleParts
	c := &d.ctr[ci]
	if !c.has {
		// A first reading is a baseline only, also for a recorded replacement before it.
		if d.replPending&(1<<ci) != 0 {
			e.replacedAt(d, ci, t)
		}
		*c = counter{v: v, t: t, last: t, has: true}
		return
	}
	if t <= c.t {
		return
	}
	c.last = max(c.last, t)
	// The classes of docs/metrics.md "Counter steps".
	delta, class := v-c.v, NumStepClasses // NumStepClasses: a plain increase
	switch {
	case d.replPending&(1<<ci) != 0 && e.replacedAt(d, ci, t):
		// A recorded replacement (docs/corrections.md): a new meter whatever the ratio.
		delta, class = v, StepReplacement
	case v >= c.v:
	case c.v > wrapHigh && c.v < wrapModulus && v < wrapLow:
		delta, class = wrapModulus-c.v+v, StepWrap
	case v < c.v*ReplacementRatio:
		delta, class = v, StepReplacement
	default:
		// A glitch: the baseline (and its time, for the rate) stays until the counter
		// passes it; a counter already held below it counts once.
		if !c.held {
			c.held = true
			e.step(d, ci, StepGlitch, c.v, v, 0, t, ts)
		}
		return
	}
	// The rate is measured from the baseline's time (after a clock restart: none).
	if m := d.maxRate[ci]; m > 0 && c.t != math.MinInt64 && delta > m*(float64(t)-float64(c.t)) {
		class = StepImplausible
	}
	from := c.v
	c.v, c.t, c.held = v, t, false
	switch class {
	case StepWrap:
		e.stats.Wraps++
	case StepReplacement:
		e.stats.Resets++
	}
	if class == StepImplausible {
		e.step(d, ci, class, from, v, 0, t, ts)
		return
	}
	if class != NumStepClasses {
		e.step(d, ci, class, from, v, delta, t, ts)
	}
	if !e.started {
		d.pending[ci] += delta
		return
	}
	e.addValue(d.idx, r, ts, delta)
}

// step records a counter step of class c on d's counter ci: counted, reported to
// OnCounterStep, and a step not booked marks the window at ts suspect.
func (e *Engine) step(d *device, ci role, c StepClass, from, to, booked float64, t, ts int64) {
	e.stats.Steps[c]++
	d.steps[ci][c]++
	if fn := e.cfg.OnCounterStep; fn != nil {
		fn(CounterStep{Device: d.ID, Signal: d.ctrName[ci], Class: c, From: from, To: to, Booked: booked,
			Time: time.Unix(0, t)})
	}
	if c != StepGlitch && c != StepImplausible {
		return
	}
	if !e.started {
		d.pendSuspect++
		return
	}
	ts = e.observedAt(ts)
	for k := range e.series {
		if w := e.windowAt(k, ts); w != nil {
			w.acc[d.idx].suspect++
		}
	}
}

// observedAt moves t out of a gap (the gateway was not observing) to the gap's end, the
// first observed instant.
func (e *Engine) observedAt(t int64) int64 {
	for _, g := range e.gaps {
		if g.start <= t && t < g.end {
			t = g.end
		}
	}
	return t
}

// addValue adds a counter delta to every window containing t. A delta dated inside a gap
// (the gateway was not observing: down, or restarting) is booked at the gap's end, the
// first observed instant: the short windows inside the gap are never emitted, and the
// longer ones must not get what their short windows lack.
func (e *Engine) addValue(di int, r role, t int64, x float64) {
	t = e.observedAt(t)
	for k := range e.series {
		w := e.windowAt(k, t)
		if w == nil {
			continue
		}
		a := &w.acc[di]
		switch r {
		case roleParts:
			a.parts += x
		case roleEnergy, rolePower:
			a.energy += x
		case roleWater:
			a.water += x
		}
	}
}

func (e *Engine) markGood(di int, t int64) {
	if !e.started {
		e.devs[di].pendingGood = true
		return
	}
	for k := range e.series {
		if w := e.windowAt(k, t); w != nil {
			w.acc[di].good = true
		}
	}
}

// insert adds ev to d's pending events in timestamp order (stable for equal times).
func (e *Engine) insert(d *device, ev event) bool {
	if len(d.evs) >= maxEvents {
		e.stats.Overflow++
		return false
	}
	d.evs = append(d.evs, ev)
	i := len(d.evs) - 1
	for i > 0 && d.evs[i-1].t > ev.t {
		d.evs[i] = d.evs[i-1]
		i--
	}
	d.evs[i] = ev
	return true
}

// sample adds a sample of role r at t, in order for its role: into the heartbeat run at
// the end of the timeline when its role's values do not matter (see beat), else as a
// sample event.
func (e *Engine) sample(d *device, t int64, v float64, r role, q point.Quality) bool {
	if d.inert(r) && !e.noBeats && e.started {
		n := len(d.evs)
		if n > 0 && d.evs[n-1].kind == evBeat {
			b := &d.evs[n-1]
			switch bq, in := b.slot(r); {
			case !in && t == b.t:
				b.setSlot(r, q) // joins the run at its start
				return true
			case in && bq == q && t >= b.end() && (d.interval == 0 || t-b.end() < 3*d.interval):
				b.setEnd(t)
				return true
			}
		}
		if n == 0 || d.evs[n-1].t <= t {
			ev := beat(t, t)
			ev.setSlot(r, q)
			return e.insert(d, ev)
		}
	}
	return e.insert(d, event{t: t, v: v, kind: evSample, role: r, q: q})
}

// SourceState reports a source's session: up=false (session or subscription lost) makes
// every device of the source offline from at; after up=true they stay offline until
// their next sample arrives, which ends the offline period at max(its timestamp, the
// up time).
func (e *Engine) SourceState(source string, up bool, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := at.UnixNano()
	if e.started && t < e.h {
		t = e.h
	}
	for _, di := range e.bySource[source] {
		d := e.devs[di]
		e.touched = true
		if up {
			if d.srcDown {
				d.srcDown, d.waitData, d.upAt = false, true, t
			}
			continue
		}
		if !d.srcDown {
			d.srcDown, d.waitData = true, false
			e.insert(d, event{t: t, kind: evDown})
		}
	}
}

// Tick advances time: it closes every window whose end + AllowedLateness <= now and
// returns their device_kpi and workshop_kpi points (timestamp = window start). The first
// call (without LoadState) starts observation at now.
func (e *Engine) Tick(now time.Time) point.Batch {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := now.UnixNano()
	if !e.started {
		e.start(n)
	}
	switch {
	case n < e.lastNow-maxTickGap:
		// The clock went back far: what was observed is in the future now.
		e.restart(n)
	case n-max(e.lastNow, e.seenMax) > maxTickGap:
		// The clock jumped forward or the gateway stalled: not observed.
		e.gap(max(e.lastNow, e.seenMax, e.h), n)
	}
	if n > e.lastNow {
		e.lastNow = n
	}
	to := e.h
	for k := range e.series {
		if b, _ := e.bounds(k, n-e.lateness); b > to {
			to = b
		}
	}
	for _, d := range e.devs {
		e.commit(d, to, n)
	}
	var out point.Batch
	for k := range e.series {
		out = e.emitUntil(k, to, out)
	}
	e.h, e.closed = to, to
	e.pruneGaps()
	return out
}

// start begins observation at s.
func (e *Engine) start(s int64) {
	e.started = true
	e.s, e.h, e.lastNow, e.closed = s, s, s, s
	w0 := s
	for k := range e.series {
		ws, _ := e.bounds(k, s)
		e.series[k].next = ws
		w0 = min(w0, ws)
	}
	for _, d := range e.devs {
		d.c.init(w0)
		for i := range d.evs {
			if ev := &d.evs[i]; ev.t < s {
				if ev.kind == evBeat {
					ev.setEnd(max(ev.end(), s))
				}
				ev.t = s
				e.stats.Stale++
			}
		}
		for ci, x := range d.pending {
			if x != 0 {
				e.addValue(d.idx, roleParts+role(ci), s, x)
				d.pending[ci] = 0
			}
		}
		if d.pendSuspect > 0 {
			for k := range e.series {
				if w := e.windowAt(k, s); w != nil {
					w.acc[d.idx].suspect += d.pendSuspect
				}
			}
			d.pendSuspect = 0
		}
		if d.pendingGood {
			d.pendingGood = false
			e.markGood(d.idx, s)
		}
	}
}

// restart drops all windows and states and observes anew from s; counter baselines
// are kept so the next deltas are whole.
func (e *Engine) restart(s int64) {
	for k := range e.series {
		for _, w := range e.series[k].open {
			e.pool = append(e.pool, w)
		}
		e.series[k].open = e.series[k].open[:0]
	}
	e.gaps = e.gaps[:0]
	for _, d := range e.devs {
		d.evs = d.evs[:0]
		d.last = [numRoles]lastSample{}
		d.srcDown, d.waitData = false, false
		for i := range d.ctr {
			d.ctr[i].t = math.MinInt64 // the next reading is newer whatever its time
			d.ctr[i].last = math.MinInt64
		}
	}
	e.seenMax = s
	e.start(s)
}

// gap marks [from, to) as not observed: devices lose their signal values at from and
// windows wholly inside are not emitted.
func (e *Engine) gap(from, to int64) {
	if to <= from {
		return
	}
	e.gaps = append(e.gaps, span{from, to})
	for _, d := range e.devs {
		n := len(d.evs)
		for n > 0 && d.evs[n-1].t > from {
			n--
		}
		d.evs = d.evs[:n]
		if n > 0 && d.evs[n-1].kind == evBeat && d.evs[n-1].end() > from {
			d.evs[n-1].setEnd(from)
		}
		e.insert(d, event{t: from, kind: evReset})
		d.last = [numRoles]lastSample{}
		d.srcDown, d.waitData = false, false
	}
	e.s = to
	if to > e.h {
		e.h = to
	}
}

func (e *Engine) pruneGaps() {
	lo := int64(math.MaxInt64)
	for k := range e.series {
		lo = min(lo, e.series[k].next)
	}
	n := 0
	for _, g := range e.gaps {
		if g.end > lo {
			e.gaps[n] = g
			n++
		}
	}
	e.gaps = e.gaps[:n]
}

// covered returns the end of a gap holding all of [a, b).
func (e *Engine) covered(a, b int64) (int64, bool) {
	for _, g := range e.gaps {
		if g.start <= a && b <= g.end {
			return g.end, true
		}
	}
	return 0, false
}

// commit makes d's timeline final up to `to`.
func (e *Engine) commit(d *device, to, limit int64) {
	if to <= d.c.done {
		return
	}
	n := e.walk(d, &d.c, to, limit, &e.sink)
	d.evs = d.evs[:copy(d.evs, d.evs[n:])]
	d.c.done = to
}

// maxDue bounds the windows series k emits in one Tick: more than a stall of maxTickGap
// (a longer one is a gap) and the restore horizon can leave due, with room to spare.
func (e *Engine) maxDue(k int) int {
	return int((maxTickGap+e.restoreHorizon()+e.lateness)/e.series[k].size) + 4
}

// due returns the number of series k's windows starting in [a, b) (window starts) that
// no gap covers; it costs a step per local day and gap, not per window.
func (e *Engine) due(k int, a, b int64) int {
	n := e.countWindows(k, a, b)
	for _, g := range e.gaps {
		ws, we := e.bounds(k, g.start)
		if ws < g.start {
			ws = we // the first window wholly inside the gap
		}
		end, _ := e.bounds(k, g.end)
		if lo, hi := max(ws, a), min(end, b); lo < hi {
			n -= e.countWindows(k, lo, hi)
		}
	}
	return n
}

// emitUntil emits the windows of series k that end at or before to. When more than
// maxDue are due, it emits none of them and counts them all (DropOverrun): no clock and
// no restored state is known to get there, but one Tick's output stays bounded whatever
// happened.
func (e *Engine) emitUntil(k int, to int64, out point.Batch) point.Batch {
	sr := &e.series[k]
	if last, _ := e.bounds(k, to); last > sr.next {
		if n := e.due(k, sr.next, last); n > e.maxDue(k) {
			e.stats.WindowsDropped[DropOverrun] += uint64(n)
			for len(sr.open) > 0 && sr.open[0].start < last {
				e.release(k, 0)
			}
			sr.next = last
			return out
		}
	}
	for {
		ws, we := e.bounds(k, sr.next)
		if we > to {
			return out
		}
		if g, ok := e.covered(ws, we); ok {
			next, _ := e.bounds(k, g)
			next = max(next, we)
			sr.next = next
			for len(sr.open) > 0 && sr.open[0].start < next {
				// Counter deltas dated inside the gap (e.g. at the very instant of a
				// state save) move to the first window after it, as addValue books
				// them: the longer windows have them, so the short ones must too.
				if w := sr.open[0]; w.counted() {
					dst := e.windowAt(k, next)
					for di := range w.acc {
						dst.acc[di].parts += w.acc[di].parts
						dst.acc[di].energy += w.acc[di].energy
						dst.acc[di].water += w.acc[di].water
						dst.acc[di].suspect += w.acc[di].suspect
					}
				}
				e.release(k, 0)
			}
			continue
		}
		var w *window
		if len(sr.open) > 0 && sr.open[0].start == ws {
			w = sr.open[0]
		} else {
			w = e.newWindow(ws, we)
			sr.open = append(sr.open, nil)
			copy(sr.open[1:], sr.open)
			sr.open[0] = w
		}
		out = e.emit(k, w, out)
		e.release(k, 0)
		sr.next = we
	}
}

// counted reports whether any device has a counter delta in w.
func (w *window) counted() bool {
	for i := range w.acc {
		if a := &w.acc[i]; a.parts != 0 || a.energy != 0 || a.water != 0 || a.suspect != 0 {
			return true
		}
	}
	return false
}

func (e *Engine) release(k, i int) {
	sr := &e.series[k]
	e.pool = append(e.pool, sr.open[i])
	sr.open = append(sr.open[:i], sr.open[i+1:]...)
}

func (e *Engine) newWindow(ws, we int64) *window {
	var w *window
	if n := len(e.pool); n > 0 {
		w = e.pool[n-1]
		e.pool = e.pool[:n-1]
		clear(w.acc)
	} else {
		w = &window{acc: make([]devAcc, len(e.devs))}
	}
	w.start, w.end = ws, we
	return w
}

// windowAt returns series k's window containing t, creating it; nil for an emitted one.
func (e *Engine) windowAt(k int, t int64) *window {
	sr := &e.series[k]
	i := len(sr.open) - 1
	for ; i >= 0; i-- {
		w := sr.open[i]
		if t >= w.start {
			if t < w.end {
				return w
			}
			break
		}
	}
	ws, we := e.bounds(k, t)
	if ws < sr.next {
		return nil
	}
	w := e.newWindow(ws, we)
	i++
	sr.open = append(sr.open, nil)
	copy(sr.open[i+1:], sr.open[i:])
	sr.open[i] = w
	return w
}

// findWindow returns series k's open window starting at ws, or nil.
func (e *Engine) findWindow(k int, ws int64) *window {
	for _, w := range e.series[k].open {
		if w.start == ws {
			return w
		}
	}
	return nil
}

// dayBounds returns the local calendar day [start, end) containing t.
func (e *Engine) dayBounds(t int64) (int64, int64) {
	if t >= e.dayLo && t < e.dayHi {
		return e.dayLo, e.dayHi
	}
	y, m, d := time.Unix(0, t).In(e.loc).Date()
	lo := time.Date(y, m, d, 0, 0, 0, 0, e.loc).UnixNano()
	hi := time.Date(y, m, d+1, 0, 0, 0, 0, e.loc).UnixNano()
	if t < lo || t >= hi || hi-lo < int64(time.Hour) {
		// A day without a local midnight: fall back to 24h steps from the Unix epoch.
		const day = int64(24 * time.Hour)
		lo = t - ((t%day)+day)%day
		hi = lo + day
	}
	e.dayLo, e.dayHi = lo, hi
	return lo, hi
}

// bounds returns series k's window [start, end) containing t. Windows shorter than a
// day count from local midnight; the last one of a day ends at the next midnight.
func (e *Engine) bounds(k int, t int64) (int64, int64) {
	lo, hi := e.dayBounds(t)
	size := e.series[k].size
	if size >= hi-lo {
		return lo, hi
	}
	s := lo + (t-lo)/size*size
	return s, min(s+size, hi)
}

// commitSink writes committed state time and integrated energy into the windows.
type commitSink struct{ e *Engine }

func (cs *commitSink) state(di int, st State, from, to int64) {
	e := cs.e
	for k := range e.series {
		a := max(from, e.series[k].next)
		for a < to {
			ws, we := e.bounds(k, a)
			if g, ok := e.covered(ws, we); ok {
				next, _ := e.bounds(k, g)
				a = max(next, we)
				continue
			}
			b := min(to, we)
			if w := e.windowAt(k, a); w != nil {
				e.addState(&w.acc[di], st, a, b)
			}
			a = b
		}
	}
}

func (e *Engine) addState(acc *devAcc, st State, a, b int64) {
	if b <= a {
		return
	}
	acc.ns[st] += b - a
	if st == StateUnknown {
		return
	}
	p := e.cal.planned(a, b)
	acc.planNS += p
	if st == StateRunning {
		acc.runPlanNS += p
	}
}

func (cs *commitSink) energy(di int, t0, t1 int64, v0, v1 float64) {
	e := cs.e
	tr := trapezoid{t0, t1, v0, v1}
	for k := range e.series {
		e.energyParts(k, tr, func(ws int64, kwh float64) {
			if w := e.windowAt(k, ws); w != nil {
				w.acc[di].energy += kwh
			}
		})
	}
}

// energyParts splits the energy of tr over series k's windows: fn gets each window's
// start and share. A share falling into an emitted window goes to the first open one,
// so the total is kept.
func (e *Engine) energyParts(k int, tr trapezoid, fn func(ws int64, kwh float64)) {
	next := e.series[k].next
	for a := tr.t0; a < tr.t1; {
		ws, we := e.bounds(k, a)
		b := min(tr.t1, we)
		fn(max(ws, next), tr.kwh(a, b))
		a = b
	}
}

// trapezoid is power varying linearly from v0 kW at t0 to v1 kW at t1.
type trapezoid struct {
	t0, t1 int64
	v0, v1 float64
}

func (tr trapezoid) at(t int64) float64 {
	if t == tr.t0 {
		return tr.v0
	}
	if t == tr.t1 {
		return tr.v1
	}
	f := float64(t-tr.t0) / float64(tr.t1-tr.t0)
	if v := tr.v0 + (tr.v1-tr.v0)*f; finite(v) {
		return v
	}
	// v1-v0 overflowed (absurd readings of opposite sign): the weighted form stays finite.
	return tr.v0*(1-f) + tr.v1*f
}

// kwh integrates over [a, b) ⊆ [t0, t1].
func (tr trapezoid) kwh(a, b int64) float64 {
	if b <= a {
		return 0
	}
	return (tr.at(a)/2 + tr.at(b)/2) * float64(b-a) / float64(time.Hour)
}
