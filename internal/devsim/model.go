package devsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// spellKind is what a machine is doing for a while.
type spellKind uint8

const (
	spellOffShift spellKind = iota
	spellIdle
	spellRunning
	spellSetup
	spellAlarm
	spellMaintenance
)

func (k spellKind) String() string {
	return [...]string{"off_shift", "idle", "running", "setup", "alarm", "maintenance"}[k]
}

// durations of spells in seconds before TimeScale: uniform in [min, max].
var spellSeconds = [...][2]float64{
	spellIdle:        {60, 600},
	spellRunning:     {600, 2700},
	spellSetup:       {300, 1200},
	spellAlarm:       {60, 480},
	spellMaintenance: {600, 1800},
}

type weighted struct {
	kind spellKind
	w    float64
}

// next spell after each kind, within a shift.
var transitions = [...][]weighted{
	spellOffShift:    {{spellIdle, 0.7}, {spellSetup, 0.3}},
	spellIdle:        {{spellRunning, 0.85}, {spellSetup, 0.15}},
	spellRunning:     {{spellIdle, 0.5}, {spellSetup, 0.2}, {spellAlarm, 0.2}, {spellRunning, 0.1}},
	spellSetup:       {{spellRunning, 1}},
	spellAlarm:       {{spellRunning, 0.55}, {spellIdle, 0.35}, {spellMaintenance, 0.1}},
	spellMaintenance: {{spellIdle, 1}},
}

// first spell when the simulation starts within a shift.
var initialSpell = []weighted{{spellRunning, 0.6}, {spellIdle, 0.2}, {spellSetup, 0.1}, {spellAlarm, 0.1}}

// State is the ground-truth classification of a machine's published values:
// alarm if Alarm is true, else setup if the operation mode is Setup, else running if
// MachineryItemState is Executing, else idle.
type State uint8

// Ground-truth states.
const (
	StateRunning State = iota
	StateIdle
	StateSetup
	StateAlarm
)

// String returns "running", "idle", "setup" or "alarm".
func (s State) String() string { return [...]string{"running", "idle", "setup", "alarm"}[s] }

// Classify maps published machine values to a ground-truth state.
func Classify(itemState, mode uint32, alarm bool) State {
	switch {
	case alarm:
		return StateAlarm
	case mode == ModeSetup:
		return StateSetup
	case itemState == ItemStateExecuting:
		return StateRunning
	default:
		return StateIdle
	}
}

type program struct {
	name  string
	cycle time.Duration // at 100 % feed
	rpm   float64       // finishing speed; roughing runs at 80 %
}

// machine is one simulated CNC machine. Its spell timeline comes from tl alone, so it
// does not depend on how often it is stepped; per-step noise comes from nz.
type machine struct {
	num   int // 1-based
	id    string
	tl    *rand.Rand
	nz    *rand.Rand
	scale float64
	cal   calendar

	programs []program
	prog     int
	rated    float64 // kW while cutting

	kind     spellKind
	spellEnd time.Time
	feed     float64
	progress time.Duration // running time towards the current part
	parts    uint64        // parts made since the start

	partsStart uint32
	vals       [8]any // last published values, in MachineSignals order
	state      State  // classification of vals
}

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^0x9e3779b97f4a7c15, stream))
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

func pick(r *rand.Rand, ws []weighted) spellKind {
	x := r.Float64()
	for _, w := range ws {
		if x < w.w {
			return w.kind
		}
		x -= w.w
	}
	return ws[len(ws)-1].kind
}

func newMachine(num int, cfg *Config, cal calendar) *machine {
	m := &machine{
		num:        num,
		id:         MachineID(num),
		tl:         newRand(cfg.Seed, 1<<32|uint64(num)),
		nz:         newRand(cfg.Seed, 2<<32|uint64(num)),
		scale:      cfg.TimeScale,
		cal:        cal,
		feed:       100,
		partsStart: cfg.PartsStart,
	}
	m.rated = math.Round(uniform(m.tl, 8, 25)*2) / 2
	for k := 1; k <= 3; k++ {
		m.programs = append(m.programs, program{
			name:  fmt.Sprintf("O%d%02d%d", 1, num%100, k),
			cycle: time.Duration(math.Round(uniform(m.tl, 45, 240)*10)) * 100 * time.Millisecond,
			rpm:   math.Round(uniform(m.tl, 800, 4000)/50) * 50,
		})
	}
	m.prog = m.tl.IntN(len(m.programs))
	return m
}

// begin places the machine in its first spell at t.
func (m *machine) begin(t time.Time) {
	working, until := m.cal.at(t)
	if !working {
		m.kind, m.spellEnd = spellOffShift, until
		return
	}
	k := pick(m.tl, initialSpell)
	m.enter(k, t, until, m.tl.Float64())
}

// enter starts a spell of kind k at t, of which the fraction part remains, clipped
// to the end of the working period.
func (m *machine) enter(k spellKind, t, until time.Time, part float64) {
	m.kind = k
	switch k {
	case spellSetup:
		m.prog = (m.prog + 1) % len(m.programs)
	case spellRunning:
		if m.tl.Float64() < 0.3 {
			m.feed = []float64{80, 90, 110, 120}[m.tl.IntN(4)]
		} else {
			m.feed = 100
		}
	}
	r := spellSeconds[k]
	d := time.Duration(uniform(m.tl, r[0], r[1]) * part * m.scale * float64(time.Second))
	if d < time.Millisecond {
		d = time.Millisecond
	}
	m.spellEnd = t.Add(d)
	if m.spellEnd.After(until) {
		m.spellEnd = until
	}
}

// nextSpell starts the spell that follows the current one at t.
func (m *machine) nextSpell(t time.Time) {
	working, until := m.cal.at(t)
	if !working {
		m.kind, m.spellEnd = spellOffShift, until
		return
	}
	m.enter(pick(m.tl, transitions[m.kind]), t, until, 1)
}

func (m *machine) cycle() time.Duration {
	c := time.Duration(float64(m.programs[m.prog].cycle) * m.scale * 100 / m.feed)
	return max(c, time.Millisecond)
}

// advance runs the timeline from `from` to `to`, making parts while running.
func (m *machine) advance(from, to time.Time) {
	for {
		end := to
		last := m.spellEnd.After(to)
		if !last {
			end = m.spellEnd
		}
		if m.kind == spellRunning && end.After(from) {
			m.progress += end.Sub(from)
			c := m.cycle()
			if m.progress >= c {
				n := m.progress / c
				m.parts += uint64(n)
				m.progress -= n * c
			}
		}
		if last {
			return
		}
		from = m.spellEnd
		m.nextSpell(m.spellEnd)
	}
}

// observe returns the values the machine shows now, in MachineSignals order.
func (m *machine) observe() [8]any {
	item, mode, ch, alarm := ItemStateNotExecuting, ModeProcessing, ChannelReset, false
	spindle := 0.0
	switch m.kind {
	case spellRunning:
		item, ch = ItemStateExecuting, ChannelActive
		p := m.programs[m.prog]
		rpm := p.rpm
		if float64(m.progress) < 0.4*float64(m.cycle()) {
			rpm *= 0.8 // roughing
		}
		spindle = math.Round((rpm+m.nz.NormFloat64()*1.5)*10) / 10
	case spellSetup:
		mode = ModeSetup
	case spellAlarm:
		ch, alarm = ChannelInterrupted, true
	case spellMaintenance:
		item, mode = ItemStateOutOfService, ModeMaintenance
	}
	return [8]any{
		item,
		mode,
		ch,
		m.partsStart + uint32(m.parts), // wraps at 2^32 like the real counter
		spindle,
		m.feed,
		m.programs[m.prog].name,
		alarm,
	}
}

// power is the machine's electrical load in kW, before meter noise.
func (m *machine) power() float64 {
	f := [...]float64{
		spellOffShift:    0.03,
		spellIdle:        0.12,
		spellRunning:     0.95,
		spellSetup:       0.3,
		spellAlarm:       0.15,
		spellMaintenance: 0.05,
	}[m.kind]
	return m.rated * f
}

// meter is one simulated MQTT meter.
type meter struct {
	id       string
	energy   bool // energy meter (kwh, kw) or water meter (m3)
	topic    string
	rnd      *rand.Rand
	base     float64    // kW or m³/h in a shift
	machines []*machine // machines wired to an energy meter

	reg  float64 // register: kWh or m³ since the meter was installed
	rate float64 // kW or m³/h held since the last report
	last time.Time
	next time.Time

	faults []Fault // scripted faults not yet applied, by time
}

func newMeter(id string, energy bool, stream uint64, cfg *Config) *meter {
	m := &meter{id: id, energy: energy, topic: MeterTopic(cfg.Workshop, id), rnd: newRand(cfg.Seed, stream)}
	if energy {
		m.base = math.Round(uniform(m.rnd, 1.5, 4)*10) / 10
		m.reg = math.Round(uniform(m.rnd, 1000, 50000)*100) / 100
	} else {
		m.base = math.Round(uniform(m.rnd, 0.3, 1.2)*100) / 100
		m.reg = math.Round(uniform(m.rnd, 100, 5000)*100) / 100
	}
	if cfg.MeterReading > 0 {
		m.reg = cfg.MeterReading
	}
	return m
}

// rateAt draws the rate the meter reports at t and holds until its next report:
// kW for an energy meter, m³/h for a water meter.
func (m *meter) rateAt(working bool, all []*machine) float64 {
	var r float64
	if m.energy {
		r = m.base
		if !working {
			r *= 0.4
		}
		for _, mc := range m.machines {
			r += mc.power()
		}
		r *= 1 + m.rnd.NormFloat64()*0.02
		r = math.Round(r*1000) / 1000
	} else {
		r = 0.02
		if working {
			r = m.base
			for _, mc := range all {
				if mc.kind == spellRunning {
					r += 0.05
				}
			}
			r *= 1 + m.rnd.NormFloat64()*0.05
		}
		r = math.Round(r*10000) / 10000
	}
	return max(r, 0)
}
