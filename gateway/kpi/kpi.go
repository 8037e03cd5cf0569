// Package kpi turns the gateway's raw samples into machine states and key performance
// indicators over tumbling wall-clock windows: seconds per state, parts, energy, water and
// availability per device (measurement "device_kpi") and the workshop figures of GB/T
// 37393 and the provincial programme (measurement "workshop_kpi"). docs/metrics.md
// defines every figure with its formula, unit, edge cases and source.
//
// The engine is pure: it starts no goroutines, reads no clock and does no I/O except the
// state persistence the caller asks for. The caller feeds samples with Process (safe for
// concurrent use, as the pipeline's Processor), reports source sessions with SourceState
// and drives time with Tick, which returns the KPI points of every window that closed.
//
// # Time
//
// State changes take effect at the sample's source timestamp. A window [start, end) is
// closed by the first Tick with now >= end + AllowedLateness. Until then samples are
// accepted in any order and replayed in timestamp order. A sample older than the end of
// the last closed window (the horizon) is late: the closed window is not changed, and
// the sample takes effect at the horizon, in the first open window (for a counter: its
// delta is counted there, so totals stay exact).
//
// Observation starts with the first Tick (or LoadState); windows before it are never
// emitted, and the part of the first windows before it is "unknown". Samples processed
// before the first Tick take effect at that instant.
package kpi

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// State is a device's machine state; its integer code is what dashboards see.
type State uint8

// State codes, in docs/metrics.md. When several apply, the priority is offline > alarm >
// setup > running > idle.
const (
	// StateUnknown: no usable data yet, or the gateway was not observing.
	StateUnknown State = 0
	// StateOffline: source session lost, bad quality on the state-defining signal, or a
	// periodic source silent for 3 report intervals.
	StateOffline State = 1
	// StateAlarm: the alarm signal is set.
	StateAlarm State = 2
	// StateSetup: operation mode Setup (OPC 40001-1 MachineryOperationMode 2).
	StateSetup State = 3
	// StateRunning: executing / processing / spindle turning / drawing power above idle.
	StateRunning State = 4
	// StateIdle: connected and none of the above.
	StateIdle State = 5
)

const numStates = 6

var stateNames = [numStates]string{"unknown", "offline", "alarm", "setup", "running", "idle"}

// String returns "unknown", "offline", "alarm", "setup", "running" or "idle".
func (s State) String() string {
	if int(s) < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Defaults applied by New to zero Config fields.
const (
	// DefaultKgcePerKWh is the equivalent-value coefficient of electricity in GB/T
	// 2589-2020 (0.1229 kgce per kWh).
	DefaultKgcePerKWh = 0.1229
	// DefaultAllowedLateness is how long after its end a window still accepts samples.
	DefaultAllowedLateness = 30 * time.Second
	// DefaultPowerIdleKW is the power above which a machine known only by its power
	// draw counts as running.
	DefaultPowerIdleKW = 0.5
	// DefaultMaxIntegrationGap bounds the gap between two power samples that is
	// integrated into energy.
	DefaultMaxIntegrationGap = 5 * time.Minute
)

// Shift is one planned production period, repeated on Days (the weekday the shift
// starts; empty means every day). Start and End are local wall-clock times "HH:MM" or
// "HH:MM:SS"; an End not after Start ends on the next day (End == Start: 24 hours).
type Shift struct {
	Start, End string
	Days       []time.Weekday
}

// Config tunes the engine. Zero fields take the defaults shown.
type Config struct {
	// Location is the zone of the wall clock that windows and shifts follow; default
	// UTC+8 (Asia/Shanghai, which has no daylight saving time).
	Location *time.Location
	// Windows are the tumbling window lengths; default 1m, 1h, 24h. Each must be a whole
	// number of seconds dividing 24h; windows are aligned to local midnight, so a 24h
	// window is a local calendar day.
	Windows []time.Duration
	// AllowedLateness is how long after its end a window waits for late samples before
	// Tick closes it; default 30s.
	AllowedLateness time.Duration
	// Debounce is how long a new state must hold to count; shorter excursions are
	// attributed to the state before them. Default 0; at most AllowedLateness.
	Debounce time.Duration
	// KgcePerKWh converts electricity to standard coal; default 0.1229 (GB/T 2589-2020,
	// equivalent value).
	KgcePerKWh float64
	// Shifts is the planned busy time for availability; none means all time is planned.
	Shifts []Shift
	// PowerIdleKW is the running threshold for machines known only by power_kw;
	// default 0.5.
	PowerIdleKW float64
	// MaxIntegrationGap: power samples further apart are not integrated into energy;
	// default 5m.
	MaxIntegrationGap time.Duration
	// WorkshopTags are the identity tags of workshop_kpi points (region, park,
	// enterprise, workshop); the engine sorts them and adds "window".
	WorkshopTags []point.Tag
	// OnCounterStep, when set, is called for every counter step that is not a plain
	// increase, with the engine's lock held: it must not call the engine.
	OnCounterStep func(CounterStep)
}

// DefaultConfig returns the defaults New applies to zero fields.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.Location == nil {
		c.Location = time.FixedZone("Asia/Shanghai", 8*3600)
	}
	if len(c.Windows) == 0 {
		c.Windows = []time.Duration{time.Minute, time.Hour, 24 * time.Hour}
	}
	if c.AllowedLateness == 0 {
		c.AllowedLateness = DefaultAllowedLateness
	}
	if c.KgcePerKWh == 0 {
		c.KgcePerKWh = DefaultKgcePerKWh
	}
	if c.PowerIdleKW == 0 {
		c.PowerIdleKW = DefaultPowerIdleKW
	}
	if c.MaxIntegrationGap == 0 {
		c.MaxIntegrationGap = DefaultMaxIntegrationGap
	}
	return c
}

// Validate reports every invalid field, naming it as in the YAML schema. Zero fields are
// valid (they take defaults).
func (c Config) Validate() error {
	var errs []error
	const day = 24 * time.Hour
	for i, w := range c.Windows {
		switch {
		case w < time.Second || w%time.Second != 0:
			errs = append(errs, fmt.Errorf("windows[%d]: %s is not a whole number of seconds", i, w))
		case w > day || day%w != 0:
			errs = append(errs, fmt.Errorf("windows[%d]: %s does not divide a day", i, w))
		case slices.Contains(c.Windows[:i], w):
			errs = append(errs, fmt.Errorf("windows[%d]: duplicate %s", i, w))
		}
	}
	if c.AllowedLateness < 0 {
		errs = append(errs, fmt.Errorf("allowed_lateness: negative %s", c.AllowedLateness))
	}
	late := c.AllowedLateness
	if late == 0 {
		late = DefaultAllowedLateness
	}
	if c.Debounce < 0 {
		errs = append(errs, fmt.Errorf("debounce: negative %s", c.Debounce))
	} else if c.Debounce > late && late > 0 {
		errs = append(errs, fmt.Errorf("debounce: %s exceeds allowed_lateness %s", c.Debounce, late))
	}
	if c.KgcePerKWh < 0 || math.IsNaN(c.KgcePerKWh) || math.IsInf(c.KgcePerKWh, 0) {
		errs = append(errs, fmt.Errorf("kgce_per_kwh: invalid %v", c.KgcePerKWh))
	}
	if c.PowerIdleKW < 0 || math.IsNaN(c.PowerIdleKW) || math.IsInf(c.PowerIdleKW, 0) {
		errs = append(errs, fmt.Errorf("power_idle_kw: invalid %v", c.PowerIdleKW))
	}
	if c.MaxIntegrationGap < 0 {
		errs = append(errs, fmt.Errorf("max_integration_gap: negative %s", c.MaxIntegrationGap))
	}
	for i, s := range c.Shifts {
		if _, err := parseClock(s.Start); err != nil {
			errs = append(errs, fmt.Errorf("shifts[%d].start: %w", i, err))
		}
		if _, err := parseClock(s.End); err != nil {
			errs = append(errs, fmt.Errorf("shifts[%d].end: %w", i, err))
		}
		for j, d := range s.Days {
			if d < time.Sunday || d > time.Saturday {
				errs = append(errs, fmt.Errorf("shifts[%d].days[%d]: invalid weekday %d", i, j, int(d)))
			}
		}
	}
	for i, t := range c.WorkshopTags {
		if t.Key == "" || t.Value == "" {
			errs = append(errs, fmt.Errorf("workshop_tags[%d]: empty key or value", i))
		} else if t.Key == schema.TagWindow {
			errs = append(errs, fmt.Errorf("workshop_tags[%d]: key \"window\" is reserved", i))
		}
	}
	return errors.Join(errs...)
}

// Device is one piece of equipment of the workshop inventory, including legacy machines
// without a source (they count in the workshop rates only).
type Device struct {
	// ID is the device id (the points' Device and "device" tag).
	ID string
	// Kind is the device kind (the raw measurement): cnc, machine, energy_meter, ...
	Kind string
	// Class is schema.ClassEquipment (production equipment, counted in every equipment figure)
	// or schema.ClassMeter (instrumentation: never "running", no availability, feeds the energy
	// and water KPIs and its own device_kpi rows, counted in no equipment figure). ""
	// takes schema.ClassOf(Kind): a kind ending in "meter" is a meter.
	Class  string
	Vendor string
	// Source names the OPC UA or MQTT source; "" for equipment that sends nothing
	// (no device_kpi points are written for it).
	Source string
	// Tags are the device's identity tags (device, enterprise, kind, park, region,
	// workshop); the engine sorts a copy and adds "window". Missing "device" and "kind"
	// tags are added from ID and Kind.
	Tags []point.Tag
	// Inventory flags: key-process (关键工序) equipment, numerically controlled (数控),
	// digital (数字化, able to deliver data) and smart (智能装备) equipment.
	KeyProcess, NumericalControl, Digital, Smart bool
	// UnitValueYuan is the output value of one part in yuan.
	UnitValueYuan float64
	// Interval is the report interval of a periodic source (MQTT meters, polled
	// registers): the device is offline after 3 intervals without data. 0 means
	// change-driven (OPC UA subscriptions): a quiet device keeps its last state.
	Interval time.Duration
	// Signals lists the device's field names; their roles decide which KPI fields the
	// device has from the first window on (roles first seen in data are added).
	Signals []string
	// Roles overrides the role of a field name. Role names are the default field names:
	// machinery_item_state, operation_mode, channel_state, program_state, alarm,
	// spindle_speed_rpm, power_kw, parts_total, energy_kwh_total, water_m3_total;
	// "" ignores the field entirely. Two fields with one role are an error.
	Roles map[string]string
	// Counters lists the fields flagged as cumulative counters. A counter role
	// (parts_total, energy_kwh_total, water_m3_total) is a counter whether listed or not;
	// listing a field with another role is an error. A counter field without a role
	// feeds no KPI (it proves the device online, like any field); PlanOf warns about it.
	Counters []string
	// MaxRate bounds, by field name, how fast a counter may rise: the most it may
	// increase per hour, in the counter's own unit (kWh/h = kW for energy_kwh_total, the
	// meter's rated power; parts per hour for parts_total; m³/h for water_m3_total). A
	// faster step is implausible: not booked, counted and marked suspect. Absent: no
	// limit. The field must have a counter role; the value must be finite and > 0.
	MaxRate map[string]float64
}

// ReplacementRatio divides a counter's backward steps: a reading below this share of
// the counter's baseline is a replacement (a new meter counting from about zero: its
// reading is booked), one at or above it a glitch (not booked; the old baseline is kept
// until the counter passes it). docs/metrics.md "Counter steps".
const ReplacementRatio = 0.1

// StepClass is the class of a counter step that is not a plain increase.
type StepClass uint8

// Counter step classes, docs/metrics.md "Counter steps".
const (
	// StepWrap: a UInt32 counter wrapped around; the delta through 2^32 is booked.
	StepWrap StepClass = iota
	// StepReplacement: a drop below ReplacementRatio of the baseline; the new reading
	// is booked (the new meter counted it from zero).
	StepReplacement
	// StepGlitch: a smaller backward step; nothing is booked until the counter passes
	// its old baseline again.
	StepGlitch
	// StepImplausible: an increase faster than the signal's MaxRate; not booked, the
	// counter continues from the new reading.
	StepImplausible
	// NumStepClasses is the number of classes.
	NumStepClasses
)

var stepNames = [NumStepClasses]string{"wrap", "replacement", "glitch", "implausible"}

// String returns "wrap", "replacement", "glitch" or "implausible" (the metric's label).
func (c StepClass) String() string {
	if c < NumStepClasses {
		return stepNames[c]
	}
	return fmt.Sprintf("step(%d)", uint8(c))
}

// CounterStep is one counter step that was not a plain increase, for the caller's log.
type CounterStep struct {
	Device, Signal string
	Class          StepClass
	// From is the counter's baseline before the step, To the new reading; Booked is
	// what was counted (0 for a glitch or an implausible step).
	From, To, Booked float64
	Time             time.Time
}

// role is what a signal means to the state model and the counters.
type role uint8

const (
	roleNone    role = iota // ignored
	roleOther               // any other field: liveness only
	roleMachine             // machinery_item_state (OPC 40001-1 MachineryItemState)
	roleMode                // operation_mode (OPC 40001-1 MachineryOperationMode)
	roleChannel             // channel_state (OPC 40501-1 ChannelState)
	roleProgram             // program_state (informational)
	roleAlarm               // alarm 0/1
	roleSpindle             // spindle_speed_rpm
	rolePower               // power_kw
	roleParts               // parts_total (counter)
	roleEnergy              // energy_kwh_total (counter)
	roleWater               // water_m3_total (counter)
	numRoles
)

var roleNames = [numRoles]string{"", "other", schema.RawMachineryItemState, schema.RawOperationMode,
	schema.RawChannelState, schema.RawProgramState, schema.RawAlarm, schema.RawSpindleSpeedRPM, schema.RawPowerKW,
	schema.RawPartsTotal, schema.RawEnergyKWhTotal, schema.RawWaterM3Total}

func roleByName(name string) (role, bool) {
	for r := roleMachine; r < numRoles; r++ {
		if roleNames[r] == name {
			return r, true
		}
	}
	if name == "" {
		return roleNone, true
	}
	return roleNone, false
}

// roleDocOrder is the order roles are listed in docs and messages.
var roleDocOrder = [...]role{roleMachine, roleMode, roleChannel, roleProgram, roleAlarm, roleSpindle,
	roleParts, roleEnergy, rolePower, roleWater}

func isCounter(r role) bool { return r >= roleParts }

type roleSet uint16

func (s roleSet) has(r role) bool { return s&(1<<r) != 0 }

// definingOrder: the first of these with a value defines running/idle and, when its
// quality is bad, makes the device offline.
var definingOrder = [...]role{roleMachine, roleChannel, roleSpindle, rolePower, roleEnergy,
	roleWater, roleParts, roleOther}

// Values of the OPC 40001-1 / 40501-1 enumerations the state model uses.
const (
	machineExecuting  = 3 // MachineryItemState Executing
	modeSetup         = 2 // MachineryOperationMode Setup
	modeProcessing    = 3 // MachineryOperationMode Processing
	channelActive     = 0 // ChannelState Active
	wrapModulus       = 1 << 32
	wrapHigh          = wrapModulus - 1<<20
	wrapLow           = 1 << 20
	maxEvents         = 1 << 16
	maxAhead          = int64(time.Hour)
	maxTickGap        = int64(time.Hour)
	measurementDevice = schema.DeviceKPI
	measurementShop   = schema.WorkshopKPI
)

// clock is a parsed "HH:MM[:SS]".
type clock struct{ h, m, s int }

func parseClock(s string) (clock, error) {
	var c clock
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return c, fmt.Errorf("invalid time %q", s)
	}
	vals := [3]int{}
	for i, p := range parts {
		if len(p) != 2 || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' {
			return c, fmt.Errorf("invalid time %q", s)
		}
		vals[i] = int(p[0]-'0')*10 + int(p[1]-'0')
	}
	c = clock{vals[0], vals[1], vals[2]}
	if c.h > 24 || c.m > 59 || c.s > 59 || (c.h == 24 && (c.m != 0 || c.s != 0)) {
		return c, fmt.Errorf("invalid time %q", s)
	}
	return c, nil
}

func (c clock) seconds() int { return c.h*3600 + c.m*60 + c.s }

// windowName is the "window" tag value: 1m, 1h, 1d, 15m, 30s.
func windowName(w time.Duration) string { return schema.WindowName(w) }

// withTag returns a sorted copy of tags with t added (replacing an equal key).
// insertTag returns a new slice of the tags of sorted (sorted by key, keys unique, as
// withTag leaves them) with t put in its place, replacing a tag of the same key.
func insertTag(sorted []point.Tag, t point.Tag) []point.Tag {
	i, found := slices.BinarySearchFunc(sorted, t.Key, func(x point.Tag, k string) int { return strings.Compare(x.Key, k) })
	out := make([]point.Tag, 0, len(sorted)+1)
	out = append(out, sorted[:i]...)
	out = append(out, t)
	if found {
		i++
	}
	return append(out, sorted[i:]...)
}

func withTag(tags []point.Tag, add ...point.Tag) []point.Tag {
	out := make([]point.Tag, 0, len(tags)+len(add))
	out = append(out, tags...)
	for _, t := range add {
		if i := slices.IndexFunc(out, func(x point.Tag) bool { return x.Key == t.Key }); i >= 0 {
			out[i] = t
		} else {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func hasTag(tags []point.Tag, key string) bool {
	return slices.ContainsFunc(tags, func(t point.Tag) bool { return t.Key == key })
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
