package devsim

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FaultKind is what a scripted counter fault does to a meter's register.
type FaultKind string

// Scripted counter faults. None of them changes the true consumption (Truth): they
// change what the meter reports, and the meter counts on from the faulty reading.
const (
	// FaultStepBack steps the counter back by Value, a fraction of its reading
	// (0.005: 0.5 %), as a meter restarted slightly below its last reading does.
	FaultStepBack FaultKind = "stepback"
	// FaultReplace replaces the meter: the report shows Value, the new meter's
	// reading (e.g. 0.3 where the old meter showed 999.65).
	FaultReplace FaultKind = "replace"
	// FaultJump adds Value, in the counter's unit (kWh or m³), to the reading: an
	// increase no meter could make (e.g. 25 kWh in a minute on a 30 kW meter, 50 × its
	// rated power).
	FaultJump FaultKind = "jump"
)

// MaxFaults bounds the length of a fault schedule.
const MaxFaults = 10000

// Fault is one scripted counter fault: it applies to the report of meter Meter at the
// first step at or after Config.Start + At, before the report is published, so the
// published reading is the faulty one.
type Fault struct {
	Meter string // "em1", "wm2"
	At    time.Duration
	Kind  FaultKind
	Value float64
}

// String formats the fault as ParseFaults reads it: "em1@3m0s:stepback=0.005".
func (f Fault) String() string {
	return f.Meter + "@" + f.At.String() + ":" + string(f.Kind) + "=" + strconv.FormatFloat(f.Value, 'g', -1, 64)
}

// FormatFaults formats a schedule as ParseFaults reads it.
func FormatFaults(fs []Fault) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}

// ParseFaults reads a comma-separated fault schedule of METER@AFTER:KIND=VALUE items,
// AFTER a duration from the simulation start: "em1@3m:stepback=0.005,em2@3m:replace=0.3,
// em2@6m:jump=25". An empty string is no faults. The values are checked by
// Config.Validate.
func ParseFaults(s string) ([]Fault, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Fault
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		bad := func(why string) error { return fmt.Errorf("parse fault %q: %s", truncate(item, 64), why) }
		meter, rest, ok := strings.Cut(item, "@")
		if !ok {
			return nil, bad("want METER@AFTER:KIND=VALUE")
		}
		after, action, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, bad("want METER@AFTER:KIND=VALUE")
		}
		at, err := time.ParseDuration(after)
		if err != nil {
			return nil, bad(fmt.Sprintf("invalid time after the start %q", truncate(after, 32)))
		}
		kind, val, ok := strings.Cut(action, "=")
		if !ok {
			return nil, bad("want KIND=VALUE after the time")
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, bad(fmt.Sprintf("invalid value %q", truncate(val, 32)))
		}
		out = append(out, Fault{Meter: meter, At: at, Kind: FaultKind(kind), Value: v})
		if len(out) > MaxFaults {
			return nil, fmt.Errorf("parse faults: more than %d", MaxFaults)
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// validateFaults checks a schedule against the simulated meters.
func (c Config) validateFaults() []error {
	var errs []error
	if len(c.Faults) > MaxFaults {
		return []error{fmt.Errorf("faults: %d exceed %d", len(c.Faults), MaxFaults)}
	}
	for i, f := range c.Faults {
		add := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("faults[%d] %q: %s", i, truncate(f.String(), 64), fmt.Sprintf(format, a...)))
		}
		if !c.hasMeter(f.Meter) {
			add("no meter %q (%s)", truncate(f.Meter, 32), c.meterRange())
		}
		if f.At < 0 {
			add("time after the start %s is negative", f.At)
		}
		v := f.Value
		switch f.Kind {
		case FaultStepBack:
			if !(v > 0 && v < 1) {
				add("step back %g is not a fraction in (0, 1)", v)
			}
		case FaultReplace:
			if !(v >= 0) || math.IsInf(v, 0) {
				add("replacement reading %g is not a finite number >= 0", v)
			}
		case FaultJump:
			if !(v > 0) || math.IsInf(v, 0) {
				add("jump %g is not a finite number > 0", v)
			}
		default:
			add("unknown kind %q (want stepback, replace or jump)", truncate(string(f.Kind), 32))
		}
	}
	return errs
}

// meterRange names the simulated meters: "energy meters em1..em2, water meters wm1".
func (c Config) meterRange() string {
	var parts []string
	for _, p := range []struct {
		kind, prefix string
		n            int
	}{{"energy meters", "em", c.EnergyMeters}, {"water meters", "wm", c.WaterMeters}} {
		switch {
		case p.n == 1:
			parts = append(parts, p.kind+" "+p.prefix+"1")
		case p.n > 1:
			parts = append(parts, fmt.Sprintf("%s %s1..%s%d", p.kind, p.prefix, p.prefix, p.n))
		}
	}
	if len(parts) == 0 {
		return "no meters are simulated"
	}
	return strings.Join(parts, ", ")
}

func (c Config) hasMeter(id string) bool {
	for _, p := range []struct {
		prefix string
		n      int
	}{{"em", c.EnergyMeters}, {"wm", c.WaterMeters}} {
		if rest, ok := strings.CutPrefix(id, p.prefix); ok {
			n, err := strconv.Atoi(rest)
			return err == nil && n >= 1 && n <= p.n && strconv.Itoa(n) == rest
		}
	}
	return false
}

// scheduleFaults gives every meter its faults, ordered by time (a stable sort keeps
// the configured order of faults at one time).
func (s *Sim) scheduleFaults() {
	byMeter := map[string]*meter{}
	for _, m := range s.meters {
		byMeter[m.id] = m
	}
	for _, f := range s.cfg.Faults {
		m := byMeter[f.Meter]
		m.faults = append(m.faults, f)
	}
	for _, m := range s.meters {
		sort.SliceStable(m.faults, func(i, j int) bool { return m.faults[i].At < m.faults[j].At })
	}
}

// AppliedFault is a scripted fault as it happened: the meter's report at Time would
// have shown Before (its reading without the fault) and showed After. Consumed is the
// true consumption since the meter's previous report (0 at the first report), which
// the meter's reading no longer tells.
type AppliedFault struct {
	Fault
	Time     time.Time
	Before   float64
	After    float64
	Consumed float64
}

// MarshalJSON writes an applied fault as {"meter","after_s","kind","value","ts" (epoch
// ms),"before","reading","consumed"}.
func (f AppliedFault) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Meter    string    `json:"meter"`
		AfterS   float64   `json:"after_s"`
		Kind     FaultKind `json:"kind"`
		Value    float64   `json:"value"`
		TS       int64     `json:"ts"`
		Before   float64   `json:"before"`
		Reading  float64   `json:"reading"`
		Consumed float64   `json:"consumed"`
	}{f.Meter, f.At.Seconds(), f.Kind, f.Value, f.Time.UnixMilli(), f.Before, f.After, f.Consumed})
}

// applyFaults applies the meter's faults due at t to its register before the report
// at t is published, and books them in the truth. Called with s.mu held.
func (s *Sim) applyFaults(dev int, mt *meter, t time.Time, consumed float64) {
	for len(mt.faults) > 0 && !s.cfg.Start.Add(mt.faults[0].At).After(t) {
		f := mt.faults[0]
		mt.faults = mt.faults[1:]
		before := mt.reg
		switch f.Kind {
		case FaultStepBack:
			mt.reg -= mt.reg * f.Value
			s.book.addAt(dev, t, func(a *acc) { a.stepBacks++ })
		case FaultReplace:
			mt.reg = f.Value
			s.book.addAt(dev, t, func(a *acc) { a.replacements++ })
		case FaultJump:
			mt.reg += f.Value
			s.book.addAt(dev, t, func(a *acc) { a.jumps++ })
		}
		s.applied = append(s.applied, AppliedFault{Fault: f, Time: t, Before: before, After: mt.reg, Consumed: consumed})
		s.log.Info("meter counter fault", "meter", mt.id, "kind", string(f.Kind), "time", t, "before", before, "after", mt.reg)
	}
}

// AppliedFaults returns the scripted faults applied so far, in the order they
// happened.
func (s *Sim) AppliedFaults() []AppliedFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AppliedFault(nil), s.applied...)
}
