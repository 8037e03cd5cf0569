package devsim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// readings returns a meter's published counter readings by time.
func readings(s *Sim, dev string, sig Signal) map[time.Time]float64 {
	out := map[time.Time]float64{}
	for _, r := range s.Produced() {
		if r.Device == dev && r.Signal == sig {
			out[r.Time] = r.Value.(float64)
		}
	}
	return out
}

// TestFaultSchedule: scripted faults change exactly the readings they name, at the
// first report at or after their time, and the meter counts on from the faulty
// reading; the true consumption and every other value stay those of the same seed
// without faults, and the truth counts each fault in its window.
func TestFaultSchedule(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	cfg := Config{Machines: 1, EnergyMeters: 2, WaterMeters: 1, Seed: 5, Start: start, Rate: time.Minute,
		MeterInterval: time.Minute, MeterReading: 999.5, RecordLimit: 1 << 16, TimeScale: 0.05,
		Shifts: []Shift{{0, 24 * time.Hour}}, Location: time.UTC}
	clean, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Faults, err = ParseFaults("em1@3m:stepback=0.005, em2@6m:jump=25,em2@3m:replace=0.3,wm1@2m30s:jump=1")
	if err != nil {
		t.Fatal(err)
	}
	faulty, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := New(cfg)
	end := start.Add(10 * time.Minute)
	for _, s := range []*Sim{clean, faulty, again} {
		s.StepUntil(end)
	}
	at := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }

	// The same configuration gives the same values.
	if a, b := fmt.Sprint(faulty.Produced()), fmt.Sprint(again.Produced()); a != b {
		t.Fatal("two runs of one fault schedule differ")
	}
	// Every value the faults do not touch is the clean run's: machine values and power.
	cp, fp := clean.Produced(), faulty.Produced()
	if len(cp) != len(fp) {
		t.Fatalf("%d records with faults, %d without", len(fp), len(cp))
	}
	for i := range cp {
		if cp[i].Signal == SigEnergyTotal || cp[i].Signal == SigWaterTotal {
			continue
		}
		if cp[i] != fp[i] {
			t.Fatalf("record %d: %+v with faults, %+v without", i, fp[i], cp[i])
		}
	}

	// The readings: clean c, faulty f.
	for _, tc := range []struct {
		dev  string
		sig  Signal
		want func(m int, c map[time.Time]float64) float64
	}{
		// 0.5 % back at 10:03, counting on from there.
		{"em1", SigEnergyTotal, func(m int, c map[time.Time]float64) float64 {
			if m < 3 {
				return c[at(m)]
			}
			r3 := c[at(3)]
			return r3 - r3*0.005 + (c[at(m)] - r3)
		}},
		// Replaced at 10:03 by a meter showing 0.3; 25 kWh jump at 10:06.
		{"em2", SigEnergyTotal, func(m int, c map[time.Time]float64) float64 {
			switch {
			case m < 3:
				return c[at(m)]
			case m < 6:
				return 0.3 + c[at(m)] - c[at(3)]
			}
			return 0.3 + c[at(m)] - c[at(3)] + 25
		}},
		// A fault between reports applies to the next one (10:03).
		{"wm1", SigWaterTotal, func(m int, c map[time.Time]float64) float64 {
			if m < 3 {
				return c[at(m)]
			}
			return c[at(m)] + 1
		}},
	} {
		c, f := readings(clean, tc.dev, tc.sig), readings(faulty, tc.dev, tc.sig)
		if len(f) != 11 || len(c) != 11 {
			t.Fatalf("%s: %d readings with faults, %d without; want 11", tc.dev, len(f), len(c))
		}
		for m := 0; m <= 10; m++ {
			if got, want := f[at(m)], tc.want(m, c); math.Abs(got-want) > 1e-9 {
				t.Errorf("%s reading at 10:%02d: %.9f, want %.9f", tc.dev, m, got, want)
			}
		}
	}
	if got := readings(faulty, "em2", SigEnergyTotal)[at(3)]; got != 0.3 {
		t.Errorf("em2 reading after the replacement: %v, want exactly 0.3", got)
	}

	// What was applied, with the reading without the fault and the true consumption
	// since the previous report.
	c1, c2, cw := readings(clean, "em1", SigEnergyTotal), readings(clean, "em2", SigEnergyTotal), readings(clean, "wm1", SigWaterTotal)
	f2 := readings(faulty, "em2", SigEnergyTotal)
	type short struct {
		Fault
		Time                    time.Time
		Before, After, Consumed float64
	}
	want := []short{
		{Fault{"em1", 3 * time.Minute, FaultStepBack, 0.005}, at(3), c1[at(3)], c1[at(3)] - c1[at(3)]*0.005, c1[at(3)] - c1[at(2)]},
		{Fault{"em2", 3 * time.Minute, FaultReplace, 0.3}, at(3), c2[at(3)], 0.3, c2[at(3)] - c2[at(2)]},
		{Fault{"wm1", 150 * time.Second, FaultJump, 1}, at(3), cw[at(3)], cw[at(3)] + 1, cw[at(3)] - cw[at(2)]},
		{Fault{"em2", 6 * time.Minute, FaultJump, 25}, at(6), f2[at(6)] - 25, f2[at(6)], c2[at(6)] - c2[at(5)]},
	}
	got := faulty.AppliedFaults()
	if len(got) != len(want) {
		t.Fatalf("applied faults %+v, want %+v", got, want)
	}
	for i, g := range got {
		w := want[i]
		if g.Fault != w.Fault || !g.Time.Equal(w.Time) || math.Abs(g.Before-w.Before) > 1e-9 ||
			math.Abs(g.After-w.After) > 1e-9 || math.Abs(g.Consumed-w.Consumed) > 1e-9 {
			t.Errorf("applied fault %d: %+v, want %+v", i, g, w)
		}
	}

	// The truth: the same consumption, each fault counted in its window.
	ct, err := clean.Truth(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ft, _ := faulty.Truth(time.Minute)
	if len(ct) != len(ft) {
		t.Fatalf("%d truth windows with faults, %d without", len(ft), len(ct))
	}
	var counted []string
	for i := range ct {
		c, f := ct[i], ft[i]
		if c.EnergyKWh != f.EnergyKWh || c.WaterM3 != f.WaterM3 || c.Covered != f.Covered || c.Parts != f.Parts {
			t.Errorf("%s %s: truth with faults %+v, without %+v", f.Device, f.Start.Format("15:04"), f, c)
		}
		if f.StepBacks+f.Replacements+f.Jumps > 0 {
			counted = append(counted, fmt.Sprintf("%s %s step_backs=%d replacements=%d jumps=%d",
				f.Device, f.Start.Format("15:04"), f.StepBacks, f.Replacements, f.Jumps))
		}
	}
	wantCounted := []string{
		"em1 10:03 step_backs=1 replacements=0 jumps=0",
		"em2 10:03 step_backs=0 replacements=1 jumps=0",
		"wm1 10:03 step_backs=0 replacements=0 jumps=1",
		"em2 10:06 step_backs=0 replacements=0 jumps=1",
	}
	if strings.Join(counted, "\n") != strings.Join(wantCounted, "\n") {
		t.Errorf("faults in the truth:\n%s\nwant\n%s", strings.Join(counted, "\n"), strings.Join(wantCounted, "\n"))
	}
	if b, _ := ft[len(ft)-1].MarshalJSON(); !strings.Contains(string(b), `"replacements":0,"step_backs":0,"jumps":0,`) {
		t.Errorf("truth JSON lacks the fault counts: %s", b)
	}

	// Served as JSON.
	rec := httptest.NewRecorder()
	faulty.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/faults", nil))
	var served []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil || rec.Code != 200 || len(served) != 4 {
		t.Fatalf("GET /faults: %d %v %s", rec.Code, err, rec.Body.String())
	}
	replace := fmt.Sprintf(`map[after_s:180 before:%v consumed:%v kind:replace meter:em2 reading:0.3 ts:%v value:0.3]`,
		got[1].Before, got[1].Consumed, float64(at(3).UnixMilli()))
	if fmt.Sprint(served[1]) != replace {
		t.Errorf("GET /faults[1] = %v, want %s", served[1], replace)
	}
}

// TestFaultsText: the text form round-trips; bad items are refused with the item and
// what is wrong.
func TestFaultsText(t *testing.T) {
	fs, err := ParseFaults(" em1@3m:stepback=0.005 ,wm2@1h30m:jump=2.5,em10@0s:replace=0")
	if err != nil {
		t.Fatal(err)
	}
	want := []Fault{{"em1", 3 * time.Minute, FaultStepBack, 0.005}, {"wm2", 90 * time.Minute, FaultJump, 2.5}, {"em10", 0, FaultReplace, 0}}
	if fmt.Sprint(fs) != fmt.Sprint(want) {
		t.Fatalf("parsed %v, want %v", fs, want)
	}
	if s := FormatFaults(fs); s != "em1@3m0s:stepback=0.005,wm2@1h30m0s:jump=2.5,em10@0s:replace=0" {
		t.Errorf("formatted %q", s)
	}
	if again, err := ParseFaults(FormatFaults(fs)); err != nil || fmt.Sprint(again) != fmt.Sprint(want) {
		t.Errorf("round trip: %v, %v", again, err)
	}
	if fs, err := ParseFaults("  "); fs != nil || err != nil {
		t.Errorf("empty: %v, %v", fs, err)
	}
	for in, msg := range map[string]string{
		"em1":                   `parse fault "em1": want METER@AFTER:KIND=VALUE`,
		"em1@3m":                `parse fault "em1@3m": want METER@AFTER:KIND=VALUE`,
		"em1@3x:jump=1":         `parse fault "em1@3x:jump=1": invalid time after the start "3x"`,
		"em1@3m:jump":           `parse fault "em1@3m:jump": want KIND=VALUE after the time`,
		"em1@3m:jump=x":         `parse fault "em1@3m:jump=x": invalid value "x"`,
		strings.Repeat("x", 80): `parse fault "` + strings.Repeat("x", 64) + `…": want METER@AFTER:KIND=VALUE`,
	} {
		if _, err := ParseFaults(in); err == nil || err.Error() != msg {
			t.Errorf("ParseFaults(%q): %v, want %s", in, err, msg)
		}
	}
	if _, err := ParseFaults(strings.Repeat("em1@1m:jump=1,", MaxFaults) + "em1@1m:jump=1"); err == nil ||
		err.Error() != "parse faults: more than 10000" {
		t.Errorf("too many faults: %v", err)
	}
}

// TestFaultsValidate: every bad fault is named with its index and what is wrong.
func TestFaultsValidate(t *testing.T) {
	cfg := Config{EnergyMeters: 2, WaterMeters: 1, Faults: []Fault{
		{"em3", time.Minute, FaultJump, 1},
		{"wm01", time.Minute, FaultJump, 1},
		{"em1", -time.Second, FaultStepBack, 1.5},
		{"em1", 0, FaultReplace, math.Inf(1)},
		{"em2", 0, FaultJump, 0},
		{"wm1", 0, "drift", 1},
		{"em1", time.Hour, FaultStepBack, 0.005},
	}, MeterReading: -1}
	want := []string{
		`meter reading: -1 is not a finite number >= 0`,
		`faults[0] "em3@1m0s:jump=1": no meter "em3" (energy meters em1..em2, water meters wm1)`,
		`faults[1] "wm01@1m0s:jump=1": no meter "wm01" (energy meters em1..em2, water meters wm1)`,
		`faults[2] "em1@-1s:stepback=1.5": time after the start -1s is negative`,
		`faults[2] "em1@-1s:stepback=1.5": step back 1.5 is not a fraction in (0, 1)`,
		`faults[3] "em1@0s:replace=+Inf": replacement reading +Inf is not a finite number >= 0`,
		`faults[4] "em2@0s:jump=0": jump 0 is not a finite number > 0`,
		`faults[5] "wm1@0s:drift=1": unknown kind "drift" (want stepback, replace or jump)`,
	}
	err := cfg.Validate()
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Validate:\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "validate simulator config: meter reading") {
		t.Errorf("New: %v", err)
	}
	none := Config{Machines: 1, Faults: []Fault{{"em1", 0, FaultJump, 1}}}
	if err := none.Validate(); err == nil || err.Error() != `faults[0] "em1@0s:jump=1": no meter "em1" (no meters are simulated)` {
		t.Errorf("no meters: %v", err)
	}
}

// TestWriteGatewayConfigMaxRate: the meters' counters get the max_rate asked for, and
// none when it is 0; an invalid one is refused.
func TestWriteGatewayConfigMaxRate(t *testing.T) {
	o := DefaultGatewayOptions()
	o.EnergyMaxRate, o.WaterMaxRate = 30, 2.5
	var b strings.Builder
	if err := WriteGatewayConfig(&b, Config{EnergyMeters: 1, WaterMeters: 1}, o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\n      energy_kwh_total: {path: kwh, counter: true, unit: kWh, max_rate: 30}\n",
		"\n      water_m3_total: {path: m3, counter: true, unit: m3, max_rate: 2.5}\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("config lacks %q:\n%s", want, b.String())
		}
	}
	o.WaterMaxRate = 0
	b.Reset()
	if err := WriteGatewayConfig(&b, Config{EnergyMeters: 1, WaterMeters: 1}, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\n      water_m3_total: {path: m3, counter: true, unit: m3}\n") {
		t.Errorf("water max_rate 0 is written:\n%s", b.String())
	}
	o.EnergyMaxRate = math.NaN()
	if err := WriteGatewayConfig(&b, Config{EnergyMeters: 1}, o); err == nil ||
		err.Error() != "write gateway config: energy max rate NaN is not a finite number >= 0" {
		t.Errorf("NaN max rate: %v", err)
	}
}
