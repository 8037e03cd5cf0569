package kpi

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// A device's timeline: samples are buffered as events in timestamp order and replayed
// when time is committed (at Tick, up to the new horizon) or previewed (Live). The carry
// is the replay's state at the point committed so far.

type evKind uint8

const (
	evSample evKind = iota // a field value
	evDown                 // the source's session was lost
	evUp                   // first sample after the session came back
	evReset                // observation interrupted: signal values are forgotten
	evBeat                 // a run of samples that only prove the device alive (see beat)
)

// A heartbeat run (evBeat) stands for samples from t to end (kept in v's bits) of roles
// whose values the state model never reads (see device.inert): only their quality and
// their time count. slots holds, per such role, the quality all its samples in the run
// have; every role in slots has a sample at t (a role joins a run only at its start).
// No two samples of a run are 3 intervals apart, so no silence can start inside it.
// Applying a run at t therefore gives the timeline, at every instant, the state the
// samples themselves give: a meter reporting 3 fields a second keeps one event instead
// of 3 per second until its window closes.
func beat(t, end int64) event {
	return event{t: t, v: math.Float64frombits(uint64(end)), kind: evBeat}
}

// end is the last sample of a heartbeat run.
func (ev *event) end() int64 { return int64(math.Float64bits(ev.v)) }

func (ev *event) setEnd(end int64) { ev.v = math.Float64frombits(uint64(end)) }

// slotShift places each role's 2-bit slot (0: not in the run, else quality+1).
var slotShift = [numRoles]int8{roleOther: 0, roleProgram: 2, rolePower: 4, roleParts: 6, roleEnergy: 8,
	roleWater: 10, roleNone: -1, roleMachine: -1, roleMode: -1, roleChannel: -1, roleAlarm: -1, roleSpindle: -1}

// slot returns role r's quality in the run and whether r is in it.
func (ev *event) slot(r role) (point.Quality, bool) {
	sh := slotShift[r]
	if sh < 0 {
		return 0, false
	}
	v := ev.slots >> sh & 3
	return point.Quality(v) - 1, v != 0
}

func (ev *event) setSlot(r role, q point.Quality) {
	sh := slotShift[r]
	ev.slots = ev.slots&^(3<<sh) | uint16(q+1)<<sh
}

type event struct {
	t     int64
	v     float64
	kind  evKind
	role  role
	q     point.Quality
	slots uint16 // of a heartbeat run
}

type sigVal struct {
	v   float64
	q   point.Quality
	has bool
}

type carry struct {
	done int64 // committed up to here
	sig  [numRoles]sigVal
	any  bool  // a sample since the last reset
	data int64 // time of the latest sample
	down bool  // source session lost

	// Debouncing: raw is the state the signals give since rawAt; acc is the accepted
	// state since accAt, attributed to the windows up to outAt.
	acc, raw            State
	rawAt, outAt, accAt int64

	// Latest power sample, for trapezoidal integration.
	pHas bool
	pT   int64
	pV   float64
}

func (c *carry) init(at int64) {
	*c = carry{done: at, rawAt: at, outAt: at, accAt: at}
}

// sink receives the timeline's output: time spent in a state and integrated energy.
type sink interface {
	state(di int, st State, from, to int64)
	energy(di int, t0, t1 int64, v0, v1 float64)
}

// walk replays d's events before `to` onto c, sending state time up to `to` and energy
// to s. limit is the latest instant the engine knows of (for the debounce look-ahead).
// It returns the number of events consumed.
func (e *Engine) walk(d *device, c *carry, to, limit int64, s sink) int {
	i := 0
	for i < len(d.evs) {
		t := d.evs[i].t
		if t >= to {
			break
		}
		e.silence(d, c, t, s)
		// The events of one instant (the fields of one message) apply together: no
		// zero-length state between them.
		for ; i < len(d.evs) && d.evs[i].t == t; i++ {
			ev := &d.evs[i]
			if ev.kind == evSample && ev.role == rolePower {
				e.integrate(d, c, ev, s)
			}
			apply(c, ev)
		}
		e.change(d, c, t, e.raw(d, c, t), s)
	}
	e.silence(d, c, to, s)
	e.carryPower(d, c, i, to, s)
	if c.raw != c.acc && c.rawAt < to && e.holds(d, c, i, limit) {
		e.accept(d, c, c.rawAt, s)
	}
	if to > c.outAt {
		s.state(d.idx, c.acc, c.outAt, to)
		c.outAt = to
	}
	return i
}

func apply(c *carry, ev *event) {
	switch ev.kind {
	case evSample:
		c.sig[ev.role] = sigVal{v: ev.v, q: ev.q, has: true}
		c.any = true
		c.data = max(c.data, ev.t) // a sample placed inside a heartbeat run is not newer
	case evBeat:
		for r := range c.sig {
			if q, ok := ev.slot(role(r)); ok {
				c.sig[r] = sigVal{q: q, has: true}
			}
		}
		c.any = true
		c.data = max(c.data, ev.end())
	case evDown:
		c.down = true
	case evUp:
		c.down = false
	case evReset:
		c.sig = [numRoles]sigVal{}
		c.any, c.down, c.pHas = false, false, false
	}
}

// raw is the state the signals give at t, before debouncing.
func (e *Engine) raw(d *device, c *carry, t int64) State {
	if c.down {
		return StateOffline
	}
	if !c.any {
		return StateUnknown
	}
	if d.interval > 0 && t-c.data >= 3*d.interval {
		return StateOffline
	}
	def := roleNone
	for _, r := range definingOrder {
		if c.sig[r].has {
			def = r
			break
		}
	}
	if def != roleNone && c.sig[def].q == point.Bad {
		return StateOffline
	}
	if a := &c.sig[roleAlarm]; a.has && a.q != point.Bad && a.v != 0 {
		return StateAlarm
	}
	m := &c.sig[roleMode]
	modeOK := m.has && m.q != point.Bad
	if modeOK && m.v == modeSetup {
		return StateSetup
	}
	if def != roleNone {
		v := c.sig[def].v
		switch def {
		case roleMachine:
			if v == machineExecuting {
				return StateRunning
			}
		case roleChannel:
			if v == channelActive && (!modeOK || m.v == modeProcessing) {
				return StateRunning
			}
		case roleSpindle:
			if v != 0 {
				return StateRunning
			}
		case rolePower:
			if !d.meter && v > e.cfg.PowerIdleKW {
				return StateRunning
			}
		}
	}
	return StateIdle
}

// change feeds a raw state change at t to the debouncer.
func (e *Engine) change(d *device, c *carry, t int64, v State, s sink) {
	if v == c.raw {
		return
	}
	t = max(t, c.rawAt)
	if c.raw != c.acc && (t-c.rawAt >= e.debounce || c.acc == StateUnknown) {
		e.accept(d, c, c.rawAt, s)
	}
	c.raw, c.rawAt = v, t
	if v != c.acc && (e.debounce == 0 || c.acc == StateUnknown || v == StateUnknown) {
		e.accept(d, c, t, s)
	}
}

// accept makes the raw state the accepted one from at.
func (e *Engine) accept(d *device, c *carry, at int64, s sink) {
	if at > c.outAt {
		s.state(d.idx, c.acc, c.outAt, at)
		c.outAt = at
	}
	c.acc, c.accAt = c.raw, at
}

// silence turns a periodic device offline once 3 intervals pass without data before t.
func (e *Engine) silence(d *device, c *carry, t int64, s sink) {
	if d.interval == 0 || !c.any || c.down {
		return
	}
	if at := c.data + 3*d.interval; at < t {
		e.change(d, c, at, e.raw(d, c, at), s)
	}
}

// holds reports whether the pending raw state lasts Debounce, looking at the events from
// index i on (after the commit point).
func (e *Engine) holds(d *device, c *carry, i int, limit int64) bool {
	until := c.rawAt + e.debounce
	if until > limit {
		return false
	}
	cc := *c
	silentBefore := func(t int64) bool {
		return d.interval > 0 && cc.any && !cc.down && c.raw != StateOffline &&
			cc.data+3*d.interval < t
	}
	for j := i; j < len(d.evs); {
		t := d.evs[j].t
		if t >= until {
			break
		}
		if silentBefore(t) {
			return false
		}
		for ; j < len(d.evs) && d.evs[j].t == t; j++ {
			apply(&cc, &d.evs[j])
		}
		if e.raw(d, &cc, t) != c.raw {
			return false
		}
	}
	return !silentBefore(until)
}

func (e *Engine) integrate(d *device, c *carry, ev *event, s sink) {
	if ev.q == point.Bad {
		c.pHas = false
		return
	}
	if c.pHas && within(c.pT, ev.t, e.maxGap) && d.fromPower() {
		s.energy(d.idx, c.pT, ev.t, c.pV, ev.v)
	}
	if !c.pHas || ev.t >= c.pT {
		c.pHas, c.pT, c.pV = true, ev.t, ev.v
	}
}

// within reports whether b is after a by at most gap. The difference is taken so that
// instants far apart (a restored reading from 1677, say) never wrap around into range.
func within(a, b, gap int64) bool {
	d := b - a
	return b > a && d > 0 && d <= gap
}

// carryPower integrates up to `to` when the next power sample is already known, so the
// energy of a trapezoid crossing a window end lands on both sides of it.
func (e *Engine) carryPower(d *device, c *carry, i int, to int64, s sink) {
	if !c.pHas || c.pT >= to || !d.fromPower() {
		return
	}
	for j := i; j < len(d.evs); j++ {
		ev := &d.evs[j]
		if ev.kind == evReset {
			return
		}
		if ev.kind != evSample || ev.role != rolePower {
			continue
		}
		if ev.q == point.Bad || !within(c.pT, ev.t, e.maxGap) {
			return
		}
		v := trapezoid{c.pT, ev.t, c.pV, ev.v}.at(to)
		s.energy(d.idx, c.pT, to, c.pV, v)
		c.pT, c.pV = to, v
		return
	}
}

// calendar answers how much of an interval is planned shift time.
type calendar struct {
	loc    *time.Location
	shifts []shiftSpec
	lo, hi int64  // the cached range
	iv     []span // merged shift intervals covering [lo, hi)
}

type shiftSpec struct {
	start, end clock
	cross      bool  // ends on the next day
	days       uint8 // weekday bitmask of the start day
}

func (c *calendar) init(loc *time.Location, shifts []Shift) error {
	c.loc = loc
	for _, s := range shifts {
		a, err := parseClock(s.Start)
		if err != nil {
			return err
		}
		b, err := parseClock(s.End)
		if err != nil {
			return err
		}
		sp := shiftSpec{start: a, end: b, cross: b.seconds() <= a.seconds()}
		for _, d := range s.Days {
			sp.days |= 1 << d
		}
		if sp.days == 0 {
			sp.days = 0x7f
		}
		c.shifts = append(c.shifts, sp)
	}
	return nil
}

// planned returns the planned time in [a, b).
func (c *calendar) planned(a, b int64) int64 {
	if b <= a {
		return 0
	}
	if len(c.shifts) == 0 {
		return b - a
	}
	if a < c.lo || b > c.hi {
		c.build(a, b)
	}
	i := sort.Search(len(c.iv), func(i int) bool { return c.iv[i].end > a })
	var n int64
	for ; i < len(c.iv) && c.iv[i].start < b; i++ {
		n += min(b, c.iv[i].end) - max(a, c.iv[i].start)
	}
	return n
}

// build caches the shift intervals from the local day of a to at least a week later and
// past b.
func (c *calendar) build(a, b int64) {
	y, m, d := time.Unix(0, a).In(c.loc).Date()
	c.iv = c.iv[:0]
	var hi int64
	for i := -1; ; i++ {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, c.loc)
		if hi = day.UnixNano(); hi >= b && i >= 8 {
			break
		}
		dy, dm, dd := day.Date()
		for _, s := range c.shifts {
			if s.days&(1<<day.Weekday()) == 0 {
				continue
			}
			st := time.Date(dy, dm, dd, s.start.h, s.start.m, s.start.s, 0, c.loc).UnixNano()
			ed := dd
			if s.cross {
				ed++
			}
			en := time.Date(dy, dm, ed, s.end.h, s.end.m, s.end.s, 0, c.loc).UnixNano()
			if en > st {
				c.iv = append(c.iv, span{st, en})
			}
		}
	}
	slices.SortFunc(c.iv, func(x, y span) int {
		switch {
		case x.start < y.start:
			return -1
		case x.start > y.start:
			return 1
		}
		return 0
	})
	n := 0
	for _, s := range c.iv {
		if n > 0 && s.start <= c.iv[n-1].end {
			c.iv[n-1].end = max(c.iv[n-1].end, s.end)
			continue
		}
		c.iv[n] = s
		n++
	}
	c.iv = c.iv[:n]
	c.lo = time.Date(y, m, d, 0, 0, 0, 0, c.loc).UnixNano()
	c.hi = hi
}
