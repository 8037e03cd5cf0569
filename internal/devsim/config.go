package devsim

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Config describes the simulated workshop. The zero value of a duration, Shifts,
// Location, TimeScale and MQTTQueue means its default; counts and probabilities are
// taken as given (0 machines is a valid workshop of meters only).
type Config struct {
	// Workshop is the workshop id, used in MQTT topics (plant/<workshop>/meter/<id>).
	// Default "ws1".
	Workshop string
	// Machines is the number of CNC machines M1..Mn served over OPC UA.
	Machines int
	// EnergyMeters and WaterMeters are the MQTT meters em1..emN and wm1..wmN.
	// Machine Mi is wired to energy meter em((i-1) mod EnergyMeters + 1).
	EnergyMeters int
	WaterMeters  int
	// Seed makes the simulation deterministic: the same seed, configuration and
	// sequence of Step times produce the same values.
	Seed int64
	// Start is the simulation time of the initial values; it is truncated to
	// milliseconds. Zero means Now() truncated to Rate.
	Start time.Time
	// Rate is the step interval Run drives Step with. Default 1s.
	Rate time.Duration
	// MeterInterval is the report interval of every meter: after the initial report
	// at Start, a meter reports at the first step at or after each multiple of it
	// (as time.Time.Truncate counts them; for intervals dividing a day, multiples
	// since midnight UTC). Default 1s.
	MeterInterval time.Duration
	// Shifts is the working calendar, every day in Location; outside it machines
	// stand idle. Default 08:00-14:00 and 14:00-20:00.
	Shifts []Shift
	// Location is the time zone of the shift calendar and of window alignment for
	// windows of an hour or more. Default Asia/Shanghai (UTC+8 without tzdata).
	Location *time.Location
	// PartsStart is the initial PartsProducedInLifetime of every machine; a value
	// near 2^32 makes the counter wrap early.
	PartsStart uint32
	// MeterReplaceProb is the probability, after each meter report, that the meter
	// is replaced: its counter restarts from zero. 0 never replaces.
	MeterReplaceProb float64
	// MeterReading is the initial reading of every meter (kWh or m³); 0 draws one
	// per meter (1000-50000 kWh, 100-5000 m³).
	MeterReading float64
	// Faults is a schedule of scripted counter faults (see Fault); nil: none.
	Faults []Fault
	// TimeScale multiplies every spell duration and cycle time: 0.01 turns minutes
	// into seconds for short tests. Default 1.
	TimeScale float64
	// TruthWindow is the granularity of the ground-truth book; it must divide an
	// hour. Truth can aggregate it into any multiple that divides a day. Default 1m.
	TruthWindow time.Duration
	// TruthRetention bounds the ground-truth book: windows that ended more than this
	// before the simulation time are dropped. Default 24h.
	TruthRetention time.Duration
	// RecordLimit is how many produced values Produced keeps (the most recent
	// ones). 0 keeps none.
	RecordLimit int
	// MQTTQueue bounds the meter messages waiting for PublishMQTT; beyond it the
	// oldest are dropped and counted. Default 100000.
	MQTTQueue int
	// MQTTClientID is the MQTT client id. Default "devsim-<workshop>".
	MQTTClientID string
	// Now is the wall clock Run steps by. Default time.Now.
	Now func() time.Time
	// Logger receives the simulator's logs. Default: discarded.
	Logger *slog.Logger
}

// Shift is one working period of every day: from Start to End after local midnight.
// An End at or before Start ends on the next day (a night shift); End may be 24h.
type Shift struct {
	Start time.Duration
	End   time.Duration
}

// String returns the shift as "HH:MM-HH:MM".
func (s Shift) String() string {
	return clock(s.Start) + "-" + clock(s.End)
}

func clock(d time.Duration) string {
	m := int(d / time.Minute)
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

// DefaultShifts is two shifts, 08:00-14:00 and 14:00-20:00.
func DefaultShifts() []Shift {
	return []Shift{{8 * time.Hour, 14 * time.Hour}, {14 * time.Hour, 20 * time.Hour}}
}

// FormatShifts formats shifts as ParseShifts reads them.
func FormatShifts(shifts []Shift) string {
	parts := make([]string, len(shifts))
	for i, s := range shifts {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// ParseShifts reads a comma-separated list of "HH:MM-HH:MM" shifts, such as
// "08:00-14:00,14:00-20:00", "00:00-24:00" (always working) or "22:00-06:00".
func ParseShifts(s string) ([]Shift, error) {
	var out []Shift
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		from, to, ok := strings.Cut(part, "-")
		if !ok {
			return nil, fmt.Errorf("parse shift %q: want HH:MM-HH:MM", part)
		}
		a, err := parseClock(from)
		if err != nil {
			return nil, fmt.Errorf("parse shift %q: %w", part, err)
		}
		b, err := parseClock(to)
		if err != nil {
			return nil, fmt.Errorf("parse shift %q: %w", part, err)
		}
		if a == 24*time.Hour {
			return nil, fmt.Errorf("parse shift %q: start 24:00 is not a time of day", part)
		}
		out = append(out, Shift{a, b})
	}
	return out, nil
}

func parseClock(s string) (time.Duration, error) {
	hs, ms, ok := strings.Cut(strings.TrimSpace(s), ":")
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("invalid time of day %q", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// DefaultLocation is Asia/Shanghai, or a fixed UTC+8 zone named "CST" where the
// time zone database is missing (China has no daylight saving time).
func DefaultLocation() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
}

// DefaultConfig returns the simulator's defaults: 4 machines, 2 energy meters and 1
// water meter in workshop "ws1", seed 1, 1s steps and reports, two shifts 08:00-20:00,
// a meter replaced once in about 10^5 reports, 1m truth windows kept for 24h.
func DefaultConfig() Config {
	return Config{
		Workshop:         "ws1",
		Machines:         4,
		EnergyMeters:     2,
		WaterMeters:      1,
		Seed:             1,
		Rate:             time.Second,
		MeterInterval:    time.Second,
		Shifts:           DefaultShifts(),
		Location:         DefaultLocation(),
		MeterReplaceProb: 1e-5,
		TimeScale:        1,
		TruthWindow:      time.Minute,
		TruthRetention:   24 * time.Hour,
		MQTTQueue:        100000,
	}
}

// withDefaults fills the zero values that mean "default".
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Workshop == "" {
		c.Workshop = d.Workshop
	}
	if c.Rate == 0 {
		c.Rate = d.Rate
	}
	if c.MeterInterval == 0 {
		c.MeterInterval = d.MeterInterval
	}
	if c.Shifts == nil {
		c.Shifts = d.Shifts
	}
	if c.Location == nil {
		c.Location = d.Location
	}
	if c.TimeScale == 0 {
		c.TimeScale = d.TimeScale
	}
	if c.TruthWindow == 0 {
		c.TruthWindow = d.TruthWindow
	}
	if c.TruthRetention == 0 {
		c.TruthRetention = d.TruthRetention
	}
	if c.MQTTQueue == 0 {
		c.MQTTQueue = d.MQTTQueue
	}
	if c.MQTTClientID == "" {
		c.MQTTClientID = "devsim-" + c.Workshop
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// MaxTimeScale bounds TimeScale.
const MaxTimeScale = 1000

// CheckTimeScale reports a time scale that is not a number in (0, MaxTimeScale]: NaN,
// infinities, zero and negative values are refused (a zero Config.TimeScale means the
// default and is replaced before Validate checks it; a command-line flag has no such
// default and refuses 0 through this function).
func CheckTimeScale(v float64) error {
	if v > 0 && v <= MaxTimeScale { // false for NaN
		return nil
	}
	return fmt.Errorf("time scale: %g is not in (0, %d]", v, MaxTimeScale)
}

// MaxDevices bounds each device count, so a typo cannot exhaust memory.
const MaxDevices = 100000

// Validate reports every invalid field of a configuration after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if strings.ContainsAny(c.Workshop, "/+#") {
		add("workshop %q: must not contain '/', '+' or '#'", c.Workshop)
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"machines", c.Machines}, {"energy meters", c.EnergyMeters}, {"water meters", c.WaterMeters}} {
		if n.v < 0 || n.v > MaxDevices {
			add("%s: %d is not 0..%d", n.name, n.v, MaxDevices)
		}
	}
	if c.Rate < time.Millisecond {
		add("rate: %s is below 1ms", c.Rate)
	}
	if c.MeterInterval < time.Millisecond {
		add("meter interval: %s is below 1ms", c.MeterInterval)
	}
	for i, s := range c.Shifts {
		if s.Start < 0 || s.Start >= 24*time.Hour || s.End < 0 || s.End > 24*time.Hour {
			add("shifts[%d]: %s is not within a day", i, s)
		}
	}
	if c.MeterReplaceProb < 0 || c.MeterReplaceProb > 1 {
		add("meter replace probability: %g is not 0..1", c.MeterReplaceProb)
	}
	if !(c.MeterReading >= 0) || math.IsInf(c.MeterReading, 0) {
		add("meter reading: %g is not a finite number >= 0", c.MeterReading)
	}
	errs = append(errs, c.validateFaults()...)
	if err := CheckTimeScale(c.TimeScale); err != nil {
		errs = append(errs, err)
	}
	if c.TruthWindow < time.Second || time.Hour%c.TruthWindow != 0 {
		add("truth window: %s does not divide an hour in whole parts of 1s or more", c.TruthWindow)
	} else if c.TruthWindow%time.Second != 0 {
		add("truth window: %s is not whole seconds", c.TruthWindow)
	}
	if c.TruthRetention < c.TruthWindow {
		add("truth retention: %s is shorter than the truth window %s", c.TruthRetention, c.TruthWindow)
	}
	if c.RecordLimit < 0 {
		add("record limit: %d is negative", c.RecordLimit)
	}
	if c.MQTTQueue < 0 {
		add("mqtt queue: %d is negative", c.MQTTQueue)
	}
	return errors.Join(errs...)
}
