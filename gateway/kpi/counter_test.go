package kpi_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// counterRun feeds one energy meter's readings (clock, kWh) from 10:00 and closes the hour.
func counterRun(t *testing.T, dev kpi.Device, readings ...any) (results, *kpi.Engine, []kpi.CounterStep) {
	t.Helper()
	var steps []kpi.CounterStep
	e := newEngine(t, kpi.Config{OnCounterStep: func(s kpi.CounterStep) { steps = append(steps, s) }}, dev)
	out := []point.Batch{e.Tick(at("10:00:00"))}
	for i := 0; i < len(readings); i += 2 {
		e.Process(sample(dev.ID, at(readings[i].(string)), good("energy_kwh_total", toFloat(readings[i+1]))))
	}
	out = append(out, e.Tick(at("11:00:30")))
	return collect(out...), e, steps
}

var meterDev = kpi.Device{ID: "em1", Kind: "energy_meter", Source: "mqtt", Digital: true,
	Signals: []string{"energy_kwh_total"}}

func idleMinute(kv ...any) map[string]float64 { return with(states(0, 60, 0, 0, 0, 0), kv...) }

// A glitch: the meter steps back 0.5 % (1000.5 -> 995.5) and climbs back. Nothing is
// booked until it passes 1000.5 again; then only what lies above 1000.5.
//
//	10:00 1000.0 baseline; 10:01 1000.5 +0.5; 10:02 995.5 glitch (995.5 >= 10 % of 1000.5):
//	held at 1000.5, suspect 1; 10:03 998, 10:04 1000.4 still held; 10:05 1001.0 +0.5;
//	10:06 1001.5 +0.5. Hour: 1.5 kWh, suspect 1.
func TestGoldenCounterGlitch(t *testing.T) {
	kgce := 1.5
	kgce *= 0.1229
	r, e, steps := counterRun(t, meterDev, "10:00:00", 1000.0, "10:01:00", 1000.5, "10:02:00", 995.5,
		"10:03:00", 998.0, "10:04:00", 1000.4, "10:05:00", 1001.0, "10:06:00", 1001.5)
	r.expect(t, "device_kpi", "em1", "1m", at("10:01:00"), idleMinute("energy_kwh", 0.5))
	r.expect(t, "device_kpi", "em1", "1m", at("10:02:00"), idleMinute("energy_kwh", 0, "suspect", 1))
	r.expect(t, "device_kpi", "em1", "1m", at("10:03:00"), idleMinute("energy_kwh", 0))
	r.expect(t, "device_kpi", "em1", "1m", at("10:04:00"), idleMinute("energy_kwh", 0))
	r.expect(t, "device_kpi", "em1", "1m", at("10:05:00"), idleMinute("energy_kwh", 0.5))
	r.expect(t, "device_kpi", "em1", "1m", at("10:06:00"), idleMinute("energy_kwh", 0.5))
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh", 1.5, "suspect", 1))
	r.expect(t, "workshop_kpi", "", "1h", at("10:00:00"), map[string]float64{"equipment_total": 0,
		"equipment_key": 0, "equipment_cnc_key": 0, "equipment_digital": 0, "equipment_networked": 0,
		"smart_equipment_in_service": 0, "energy_kwh": 1.5, "energy_kgce": kgce, "suspect": 1})
	want := []kpi.CounterStep{{Device: "em1", Signal: "energy_kwh_total", Class: kpi.StepGlitch, From: 1000.5, To: 995.5,
		Time: at("10:02:00")}}
	if !stepsEqual(steps, want) {
		t.Errorf("steps %+v, want %+v", steps, want)
	}
	if st := e.Stats(); st.Steps != [kpi.NumStepClasses]uint64{0, 0, 1, 0} || st.Resets != 0 {
		t.Errorf("stats %+v, want 1 glitch, no reset", st)
	}
	l := e.Live(at("11:00:30"))
	if got := l.Devices[0].Counters; len(got) != 1 || got[0].Signal != "energy_kwh_total" ||
		got[0].Steps != [kpi.NumStepClasses]uint64{0, 0, 1, 0} {
		t.Errorf("live counters %+v", got)
	}
}

// A replacement: 999.65 -> 0.3 is below 10 % of 999.65 (99.965): a new meter counted from
// zero, so 0.3 is booked.
//
//	10:00 999.0; 10:01 999.65 +0.65; 10:02 0.3 replacement +0.3; 10:03 0.8 +0.5: 1.45 kWh.
//
// A drop to exactly 10 % (1000 -> 100) is a glitch, not a replacement.
func TestGoldenCounterReplacement(t *testing.T) {
	r, e, steps := counterRun(t, meterDev, "10:00:00", 999.0, "10:01:00", 999.65, "10:02:00", 0.3, "10:03:00", 0.8)
	r.expect(t, "device_kpi", "em1", "1m", at("10:02:00"), idleMinute("energy_kwh", 0.3))
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh", sum(diff(999.65, 999.0), 0.3, diff(0.8, 0.3))))
	want := []kpi.CounterStep{{Device: "em1", Signal: "energy_kwh_total", Class: kpi.StepReplacement, From: 999.65,
		To: 0.3, Booked: 0.3, Time: at("10:02:00")}}
	if !stepsEqual(steps, want) {
		t.Errorf("steps %+v, want %+v", steps, want)
	}
	if st := e.Stats(); st.Steps != [kpi.NumStepClasses]uint64{0, 1, 0, 0} || st.Resets != 1 {
		t.Errorf("stats %+v, want 1 replacement", st)
	}

	r, e, _ = counterRun(t, meterDev, "10:00:00", 1000.0, "10:01:00", 100.0, "10:02:00", 1000.2)
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh", sum(diff(1000.2, 1000.0)), "suspect", 1))
	if st := e.Stats(); st.Steps != [kpi.NumStepClasses]uint64{0, 0, 1, 0} {
		t.Errorf("stats %+v, want 1 glitch at exactly 10 %%", st)
	}
}

// Implausible: max_rate 30 kW allows 0.5 kWh a minute; +25 kWh in a minute (50×) is not
// booked and marks the window suspect; the counter continues from 1025.4.
//
//	10:00 1000; 10:01 1000.4 +0.4; 10:02 1025.4 implausible; 10:03 1025.8 +0.4: 0.8 kWh.
//
// Without max_rate the same readings book 25.8 kWh.
func TestGoldenCounterImplausible(t *testing.T) {
	dev := meterDev
	dev.MaxRate = map[string]float64{"energy_kwh_total": 30}
	readings := []any{"10:00:00", 1000.0, "10:01:00", 1000.4, "10:02:00", 1025.4, "10:03:00", 1025.8}
	r, e, steps := counterRun(t, dev, readings...)
	r.expect(t, "device_kpi", "em1", "1m", at("10:02:00"), idleMinute("energy_kwh", 0, "suspect", 1))
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh", sum(diff(1000.4, 1000.0), diff(1025.8, 1025.4)), "suspect", 1))
	want := []kpi.CounterStep{{Device: "em1", Signal: "energy_kwh_total", Class: kpi.StepImplausible, From: 1000.4,
		To: 1025.4, Time: at("10:02:00")}}
	if !stepsEqual(steps, want) {
		t.Errorf("steps %+v, want %+v", steps, want)
	}
	if st := e.Stats(); st.Steps != [kpi.NumStepClasses]uint64{0, 0, 0, 1} {
		t.Errorf("stats %+v, want 1 implausible", st)
	}
	r, _, steps = counterRun(t, meterDev, readings...)
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh", sum(diff(1000.4, 1000.0), diff(1025.4, 1000.4), diff(1025.8, 1025.4))))
	if len(steps) != 0 {
		t.Errorf("steps %+v without max_rate", steps)
	}
}

// A UInt32 wrap is booked through 2^32 as before, and counted as a wrap.
func TestGoldenCounterWrap(t *testing.T) {
	r, e, steps := counterRun(t, meterDev, "10:00:00", 4294967290.0, "10:01:00", 5.0)
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh", 11))
	if st := e.Stats(); st.Steps != [kpi.NumStepClasses]uint64{1, 0, 0, 0} || st.Wraps != 1 || len(steps) != 1 ||
		steps[0].Booked != 11 {
		t.Errorf("stats %+v steps %+v, want 1 wrap booking 11", st, steps)
	}
}

// The glitch baseline survives a restart: the restored engine books nothing below 1000.5
// and only the part above it, and does not count the held glitch again.
func TestCounterGlitchAcrossRestart(t *testing.T) {
	a := newEngine(t, kpi.Config{}, meterDev)
	a.Tick(at("10:00:00"))
	a.Process(sample("em1", at("10:00:10"), good("energy_kwh_total", 1000.5)))
	a.Process(sample("em1", at("10:00:20"), good("energy_kwh_total", 995.5)))
	var buf bytes.Buffer
	if err := a.SaveState(&buf, at("10:00:30")); err != nil {
		t.Fatal(err)
	}
	b := newEngine(t, kpi.Config{}, meterDev)
	if err := b.LoadState(&buf, at("10:00:40")); err != nil {
		t.Fatal(err)
	}
	b.Process(sample("em1", at("10:00:50"), good("energy_kwh_total", 999.0)))
	b.Process(sample("em1", at("10:01:10"), good("energy_kwh_total", 1001.0)))
	r := collect(b.Tick(at("10:02:30")))
	r.expect(t, "device_kpi", "em1", "1m", at("10:00:00"), with(states(0, 30, 0, 0, 0, 30), "energy_kwh", 0, "suspect", 1))
	r.expect(t, "device_kpi", "em1", "1m", at("10:01:00"), idleMinute("energy_kwh", 0.5))
	if st := b.Stats(); st.Steps[kpi.StepGlitch] != 0 {
		t.Errorf("restored engine counted the held glitch again: %+v", st)
	}
}

func stepsEqual(a, b []kpi.CounterStep) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Device != b[i].Device || a[i].Signal != b[i].Signal || a[i].Class != b[i].Class ||
			a[i].From != b[i].From || a[i].To != b[i].To || a[i].Booked != b[i].Booked || !a[i].Time.Equal(b[i].Time) {
			return false
		}
	}
	return true
}

// sum adds the deltas at run time, in the engine's order and float64 rounding.
func sum(xs ...float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t
}

// diff returns a-b computed at run time (not folded exactly as a constant).
func diff(a, b float64) float64 { return a - b }

// New refuses a max_rate that is not a finite number > 0 or names a field without a
// counter role.
func TestMaxRateErrors(t *testing.T) {
	for _, tc := range []struct {
		rate map[string]float64
		want string
	}{
		{map[string]float64{"energy_kwh_total": 0}, `new kpi engine: devices[0].max_rate["energy_kwh_total"]: invalid 0: want a finite number > 0`},
		{map[string]float64{"energy_kwh_total": math.Inf(1)}, `new kpi engine: devices[0].max_rate["energy_kwh_total"]: invalid +Inf: want a finite number > 0`},
		{map[string]float64{"power_kw": 30}, `new kpi engine: devices[0].max_rate["power_kw"]: the field has no counter role (parts_total, energy_kwh_total, water_m3_total)`},
	} {
		dev := meterDev
		dev.MaxRate = tc.rate
		if _, err := kpi.New(kpi.Config{}, []kpi.Device{dev}); err == nil || err.Error() != tc.want {
			t.Errorf("max_rate %v: error %v, want %s", tc.rate, err, tc.want)
		}
	}
}
