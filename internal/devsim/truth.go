package devsim

import (
	"encoding/json"
	"fmt"
	"time"
)

// Device kinds, as the gateway names its measurements.
const (
	KindCNC         = "cnc"
	KindEnergyMeter = "energy_meter"
	KindWaterMeter  = "water_meter"
)

// WindowTruth is what one device really did in one window: the figures a perfect
// observer of everything the simulator published computes.
//
//   - State time: the machine state (see Classify) published at a step holds until the
//     next step; Running+Idle+Setup+Alarm equals Covered.
//   - Parts: the increase of the lifetime counter published at a step counts in the
//     window containing that step's time; it is exact across the UInt32 wrap.
//   - Energy and water: the rate a meter reports holds until its next report, so the
//     consumption between two reports is spread evenly over that interval and split
//     at window boundaries. A meter replacement (its counter restarting from zero)
//     does not change the consumption; it is counted in Replacements of the window
//     containing the report after which it happened.
//   - Scripted counter faults (Config.Faults) change the readings, not the
//     consumption: they are counted in StepBacks, Replacements and Jumps of the
//     window containing the faulty report.
type WindowTruth struct {
	Device string
	Kind   string
	Start  time.Time
	Window time.Duration
	// Covered is the time of the window the device accounted for: between steps for
	// a machine, between reports for a meter. It is less than Window in the first
	// window and in windows not yet Final.
	Covered      time.Duration
	Running      time.Duration
	Idle         time.Duration
	Setup        time.Duration
	Alarm        time.Duration
	Parts        uint64
	EnergyKWh    float64
	WaterM3      float64
	Replacements int
	StepBacks    int
	Jumps        int
	// Final is true once the device's accounting has passed the end of the window:
	// its figures no longer change.
	Final bool
}

// Complete reports whether the whole window is covered.
func (w WindowTruth) Complete() bool { return w.Covered == w.Window }

// MarshalJSON writes the figures with durations in seconds, named like the gateway's
// device_kpi fields.
func (w WindowTruth) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Device       string  `json:"device"`
		Kind         string  `json:"kind"`
		Start        string  `json:"start"`
		WindowS      float64 `json:"window_s"`
		CoveredS     float64 `json:"covered_s"`
		RunningS     float64 `json:"running_s"`
		IdleS        float64 `json:"idle_s"`
		SetupS       float64 `json:"setup_s"`
		AlarmS       float64 `json:"alarm_s"`
		Parts        uint64  `json:"parts"`
		EnergyKWh    float64 `json:"energy_kwh"`
		WaterM3      float64 `json:"water_m3"`
		Replacements int     `json:"replacements"`
		StepBacks    int     `json:"step_backs"`
		Jumps        int     `json:"jumps"`
		Final        bool    `json:"final"`
	}{w.Device, w.Kind, w.Start.Format("2006-01-02T15:04:05.000Z07:00"), w.Window.Seconds(),
		w.Covered.Seconds(), w.Running.Seconds(), w.Idle.Seconds(), w.Setup.Seconds(),
		w.Alarm.Seconds(), w.Parts, w.EnergyKWh, w.WaterM3, w.Replacements, w.StepBacks, w.Jumps, w.Final})
}

// acc accumulates one device's figures in one base window.
type acc struct {
	state        [4]time.Duration // by State
	covered      time.Duration
	parts        uint64
	amount       float64 // kWh or m³
	replacements int
	stepBacks    int
	jumps        int
}

type truthWindow struct {
	start time.Time
	accs  []acc
}

type bookDevice struct {
	id, kind string
}

// truthBook holds the ground truth in contiguous base windows aligned in loc.
type truthBook struct {
	base      time.Duration
	retention time.Duration
	loc       *time.Location
	devs      []bookDevice
	until     []time.Time // per device: accounted up to
	wins      []*truthWindow
}

// align returns the start of the window of length w (dividing a day) containing t,
// counted from local midnight.
func align(t time.Time, w time.Duration, loc *time.Location) time.Time {
	lt := t.In(loc)
	y, m, d := lt.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	return midnight.Add(t.Sub(midnight).Truncate(w))
}

// window returns the base window containing t, creating it and any before it; nil if
// t is older than the oldest window kept.
func (b *truthBook) window(t time.Time) *truthWindow {
	start := align(t, b.base, b.loc)
	if len(b.wins) == 0 {
		b.wins = append(b.wins, &truthWindow{start: start, accs: make([]acc, len(b.devs))})
		return b.wins[0]
	}
	first := b.wins[0].start
	if start.Before(first) {
		return nil
	}
	idx := int(start.Sub(first) / b.base)
	for idx >= len(b.wins) {
		next := b.wins[len(b.wins)-1].start.Add(b.base)
		b.wins = append(b.wins, &truthWindow{start: next, accs: make([]acc, len(b.devs))})
	}
	return b.wins[idx]
}

// span calls f for each piece of [from, to) in one base window.
func (b *truthBook) span(dev int, from, to time.Time, f func(a *acc, d time.Duration, last bool)) {
	for cur := from; cur.Before(to); {
		start := align(cur, b.base, b.loc)
		end := start.Add(b.base)
		last := !end.Before(to)
		if last {
			end = to
		}
		if w := b.window(cur); w != nil {
			f(&w.accs[dev], end.Sub(cur), last)
		}
		cur = end
	}
}

func (b *truthBook) addState(dev int, from, to time.Time, s State) {
	b.span(dev, from, to, func(a *acc, d time.Duration, _ bool) {
		a.state[s] += d
		a.covered += d
	})
}

// addAmount spreads amount evenly over [from, to).
func (b *truthBook) addAmount(dev int, from, to time.Time, amount float64) {
	total := to.Sub(from)
	left := amount
	b.span(dev, from, to, func(a *acc, d time.Duration, last bool) {
		part := left
		if !last {
			part = amount * float64(d) / float64(total)
			left -= part
		}
		a.amount += part
		a.covered += d
	})
}

func (b *truthBook) addAt(dev int, t time.Time, f func(a *acc)) {
	if w := b.window(t); w != nil {
		f(&w.accs[dev])
	}
}

// prune drops windows that ended more than the retention before now.
func (b *truthBook) prune(now time.Time) {
	cut := 0
	for cut < len(b.wins) && b.wins[cut].start.Add(b.base).Before(now.Add(-b.retention)) {
		cut++
	}
	if cut > 0 {
		b.wins = append(b.wins[:0], b.wins[cut:]...)
	}
}

// truth aggregates base windows into windows of length w, from the window containing
// since (zero: from the oldest kept).
func (b *truthBook) truth(w time.Duration, since time.Time) ([]WindowTruth, error) {
	if w < b.base || w%b.base != 0 || (24*time.Hour)%w != 0 {
		return nil, fmt.Errorf("aggregate truth into %s windows: want a multiple of %s that divides a day", w, b.base)
	}
	var out []WindowTruth
	groupStart := -1
	first := 0
	if !since.IsZero() && len(b.wins) > 0 {
		from := align(since, w, b.loc)
		first = max(0, min(len(b.wins), int(from.Sub(b.wins[0].start)/b.base)))
	}
	for _, bw := range b.wins[first:] {
		start := align(bw.start, w, b.loc)
		if groupStart < 0 || !start.Equal(out[groupStart].Start) {
			groupStart = len(out)
			for d, dev := range b.devs {
				out = append(out, WindowTruth{Device: dev.id, Kind: dev.kind, Start: start, Window: w,
					Final: !b.until[d].Before(start.Add(w))})
			}
		}
		for d := range b.devs {
			a := &bw.accs[d]
			o := &out[groupStart+d]
			o.Covered += a.covered
			o.Running += a.state[StateRunning]
			o.Idle += a.state[StateIdle]
			o.Setup += a.state[StateSetup]
			o.Alarm += a.state[StateAlarm]
			o.Parts += a.parts
			o.Replacements += a.replacements
			o.StepBacks += a.stepBacks
			o.Jumps += a.jumps
			switch b.devs[d].kind {
			case KindEnergyMeter:
				o.EnergyKWh += a.amount
			case KindWaterMeter:
				o.WaterM3 += a.amount
			}
		}
	}
	return out, nil
}
