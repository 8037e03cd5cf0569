package kpi_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// replaceRun is counterRun with a replacement of em1's energy_kwh_total recorded (id
// "c1", at 10:01:30) after the readings up to index `after` (pairs) were processed;
// after < 0 records none.
func replaceRun(t *testing.T, after int, readings ...any) (results, *kpi.Engine, []kpi.CounterStep, kpi.ReplaceEffect) {
	t.Helper()
	var steps []kpi.CounterStep
	e := newEngine(t, kpi.Config{OnCounterStep: func(s kpi.CounterStep) { steps = append(steps, s) }}, meterDev)
	out := []point.Batch{e.Tick(at("10:00:00"))}
	var effect kpi.ReplaceEffect
	record := func() {
		var err error
		if effect, err = e.Replace("c1", "em1", "energy_kwh_total", at("10:01:30")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(readings); i += 2 {
		if i/2 == after {
			record()
		}
		e.Process(sample("em1", at(readings[i].(string)), good("energy_kwh_total", toFloat(readings[i+1]))))
	}
	if after >= len(readings)/2 {
		record()
	}
	out = append(out, e.Tick(at("11:00:30")))
	return collect(out...), e, steps, effect
}

// The golden scenario of a recorded meter replacement, computed by hand.
//
//	10:00 999.0 baseline; 10:01 999.65 +0.65; replaced at 10:01:30 by a meter that
//	reads 600 at 10:02, 600.4 at 10:03, 1000.0 at 10:04.
//
// Recorded (before 10:02): 600 starts the new meter: booked 600 (the replacement rule,
// Δ = the new reading), class replacement; then +0.4 and +399.6 from the new meter's
// baseline. Hour: 0.65 + 600 + 0.4 + 399.6 = 1000.65 kWh, suspect 0.
// Not recorded: 600 is 60 % of 999.65, a glitch: nothing booked, held at 999.65; 600.4
// held; 1000.0 passes 999.65: +0.35. Hour: 0.65 + 0.35 = 1.0 kWh, suspect 1.
// Nothing is booked twice either way.
func TestGoldenRecordedReplacement(t *testing.T) {
	readings := []any{"10:00:00", 999.0, "10:01:00", 999.65, "10:02:00", 600.0, "10:03:00", 600.4, "10:04:00", 1000.0}

	r, e, steps, effect := replaceRun(t, 2, readings...)
	if effect != kpi.ReplacePending {
		t.Errorf("effect %v, want pending", effect)
	}
	r.expect(t, "device_kpi", "em1", "1m", at("10:01:00"), idleMinute("energy_kwh", diff(999.65, 999.0)))
	r.expect(t, "device_kpi", "em1", "1m", at("10:02:00"), idleMinute("energy_kwh", 600))
	r.expect(t, "device_kpi", "em1", "1m", at("10:03:00"), idleMinute("energy_kwh", diff(600.4, 600)))
	r.expect(t, "device_kpi", "em1", "1m", at("10:04:00"), idleMinute("energy_kwh", diff(1000.0, 600.4)))
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh",
		sum(diff(999.65, 999.0), 600, diff(600.4, 600), diff(1000.0, 600.4))))
	want := []kpi.CounterStep{{Device: "em1", Signal: "energy_kwh_total", Class: kpi.StepReplacement, From: 999.65,
		To: 600, Booked: 600, Time: at("10:02:00")}}
	if !stepsEqual(steps, want) {
		t.Errorf("steps %+v, want %+v", steps, want)
	}
	if st := e.Stats(); st.Steps != [kpi.NumStepClasses]uint64{0, 1, 0, 0} || st.Resets != 1 {
		t.Errorf("stats %+v, want 1 replacement", st)
	}
	if p := e.PendingReplacements(); len(p) != 0 {
		t.Errorf("pending %v after the replacement applied", p)
	}
	if got, err := e.Replace("c1", "em1", "energy_kwh_total", at("10:01:30")); got != kpi.ReplaceKnown || err != nil {
		t.Errorf("second Replace: %v %v, want known", got, err)
	}

	r, e, steps, _ = replaceRun(t, -1, readings...)
	r.expect(t, "device_kpi", "em1", "1m", at("10:02:00"), idleMinute("energy_kwh", 0, "suspect", 1))
	r.expect(t, "device_kpi", "em1", "1m", at("10:03:00"), idleMinute("energy_kwh", 0))
	r.expect(t, "device_kpi", "em1", "1m", at("10:04:00"), idleMinute("energy_kwh", diff(1000.0, 999.65)))
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh",
		sum(diff(999.65, 999.0), diff(1000.0, 999.65)), "suspect", 1))
	if len(steps) != 1 || steps[0].Class != kpi.StepGlitch {
		t.Errorf("steps %+v, want one glitch", steps)
	}
}

// A replacement recorded after the new meter's readings arrived and were held as a
// glitch applies to the next reading: 10:03 600.4 books 600.4 (the new meter from zero)
// in the 10:03 window; the 10:02 window keeps its glitch mark.
func TestRecordedReplacementLate(t *testing.T) {
	r, _, steps, effect := replaceRun(t, 3, "10:00:00", 999.0, "10:01:00", 999.65, "10:02:00", 600.0,
		"10:03:00", 600.4, "10:04:00", 601.0)
	if effect != kpi.ReplaceNext {
		t.Errorf("effect %v, want next_reading", effect)
	}
	r.expect(t, "device_kpi", "em1", "1m", at("10:02:00"), idleMinute("energy_kwh", 0, "suspect", 1))
	r.expect(t, "device_kpi", "em1", "1m", at("10:03:00"), idleMinute("energy_kwh", 600.4))
	r.expect(t, "device_kpi", "em1", "1m", at("10:04:00"), idleMinute("energy_kwh", diff(601.0, 600.4)))
	if len(steps) != 2 || steps[0].Class != kpi.StepGlitch || steps[1].Class != kpi.StepReplacement || steps[1].Booked != 600.4 {
		t.Errorf("steps %+v, want a glitch then a replacement booking 600.4", steps)
	}

	// The automatic rule already booked the reading after the time (a drop to 0.3, a
	// replacement): nothing changes, nothing is booked twice.
	r, _, steps, effect = replaceRun(t, 3, "10:00:00", 999.0, "10:01:00", 999.65, "10:02:00", 0.3,
		"10:03:00", 0.8)
	if effect != kpi.ReplacePast {
		t.Errorf("effect %v, want past", effect)
	}
	r.expect(t, "device_kpi", "em1", "1m", at("10:02:00"), idleMinute("energy_kwh", 0.3))
	r.expect(t, "device_kpi", "em1", "1m", at("10:03:00"), idleMinute("energy_kwh", diff(0.8, 0.3)))
	if len(steps) != 1 {
		t.Errorf("steps %+v, want the one automatic replacement", steps)
	}
}

// A pending replacement is kept in the state file across a restart, applied once, and
// a revoked one is not applied.
func TestRecordedReplacementAcrossRestart(t *testing.T) {
	a := newEngine(t, kpi.Config{}, meterDev)
	a.Tick(at("10:00:00"))
	a.Process(sample("em1", at("10:00:10"), good("energy_kwh_total", 999.65)))
	if _, err := a.Replace("c1", "em1", "energy_kwh_total", at("10:00:20")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Replace("c2", "em1", "energy_kwh_total", at("10:30:00")); err != nil {
		t.Fatal(err)
	}
	if !a.Revoke("c2") {
		t.Error("Revoke(c2) = false, want true for a pending replacement")
	}
	var buf bytes.Buffer
	if err := a.SaveState(&buf, at("10:00:30")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"replacements":[{"id":"c1","device":"em1","role":"energy_kwh_total","at":`) {
		t.Errorf("state file without the pending replacement: %s", buf.String())
	}
	b := newEngine(t, kpi.Config{}, meterDev)
	if err := b.LoadState(&buf, at("10:00:40")); err != nil {
		t.Fatal(err)
	}
	if got := b.PendingReplacements(); len(got) != 1 || got[0] != "c1" {
		t.Errorf("pending after restore %v, want [c1]", got)
	}
	for _, id := range []string{"c1", "c2"} {
		if got, _ := b.Replace(id, "em1", "energy_kwh_total", at("10:00:20")); got != kpi.ReplaceKnown {
			t.Errorf("Replace(%s) after restore: %v, want known", id, got)
		}
	}
	b.Process(sample("em1", at("10:00:50"), good("energy_kwh_total", 600.0)))
	b.Process(sample("em1", at("10:31:10"), good("energy_kwh_total", 30.0)))  // after c2's time: revoked, a replacement by the 10 % rule
	b.Process(sample("em1", at("10:32:10"), good("energy_kwh_total", 130.0))) // a plain increase: c2 is not applied
	r := collect(b.Tick(at("11:00:30")))
	r.expect(t, "device_kpi", "em1", "1m", at("10:00:00"), with(states(0, 30, 0, 0, 0, 30), "energy_kwh", 600))
	r.expect(t, "device_kpi", "em1", "1m", at("10:31:00"), idleMinute("energy_kwh", 30))
	r.expect(t, "device_kpi", "em1", "1m", at("10:32:00"), idleMinute("energy_kwh", 100))
	if st := b.Stats(); st.Steps[kpi.StepReplacement] != 2 {
		t.Errorf("stats %+v, want 2 replacements (c1, then 30 < 10 %% of 600)", st)
	}
}

// Replace names the device and signal it refuses.
func TestReplaceErrors(t *testing.T) {
	e := newEngine(t, kpi.Config{}, meterDev)
	for _, tc := range []struct{ dev, sig, want string }{
		{"em9", "energy_kwh_total", `unknown device "em9"`},
		{"em1", "power_kw", `unknown counter signal "power_kw" of device "em1" (its counters: energy_kwh_total)`},
	} {
		if _, err := e.Replace("x", tc.dev, tc.sig, at("10:00:00")); err == nil || err.Error() != tc.want {
			t.Errorf("Replace(%s, %s): %v, want %s", tc.dev, tc.sig, err, tc.want)
		}
		if err := e.CheckCounter(tc.dev, tc.sig); err == nil || err.Error() != tc.want {
			t.Errorf("CheckCounter(%s, %s): %v, want %s", tc.dev, tc.sig, err, tc.want)
		}
	}
}
