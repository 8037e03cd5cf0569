package app_test

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestKPIEndToEnd: devsim → gateway → VictoriaMetrics yields device_kpi and
// workshop_kpi for 1m windows equal to the simulator's ground truth. KPI windows follow
// simulated time, so four minutes pass in a few seconds.
func TestKPIEndToEnd(t *testing.T) {
	start := time.Now().Truncate(time.Minute).Add(-20 * time.Minute)
	w := startWorkshopAt(t, 3, 1, 1, start, true, 20*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	// 4 simulated minutes plus the 30 s lateness, one simulated second every 25 ms.
	w.step(4*60+35, 60*time.Millisecond)
	time.Sleep(1500 * time.Millisecond) // the gateway's next KPI tick

	truth, err := w.sim.Truth(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Compare the complete windows after the first (the gateway starts observing
	// mid-way through the first minute).
	first := start.Add(time.Minute)
	last := start.Add(4 * time.Minute) // exclusive
	type key struct {
		device string
		start  int64
	}
	want := map[key]map[string]float64{}
	var maxMeterStep float64
	for _, tr := range truth {
		if tr.Start.Before(first) || !tr.Start.Before(last) || !tr.Final {
			continue
		}
		f := map[string]float64{}
		switch tr.Kind {
		case "cnc":
			f["running_s"] = tr.Running.Seconds()
			f["idle_s"] = tr.Idle.Seconds()
			f["setup_s"] = tr.Setup.Seconds()
			f["alarm_s"] = tr.Alarm.Seconds()
			f["offline_s"], f["unknown_s"] = 0, 0
			f["parts"] = float64(tr.Parts)
		case "energy_meter":
			f["energy_kwh"] = tr.EnergyKWh
			maxMeterStep = math.Max(maxMeterStep, tr.EnergyKWh/60)
		case "water_meter":
			f["water_m3"] = tr.WaterM3
		}
		want[key{tr.Device, tr.Start.UnixMilli()}] = f
	}
	if len(want) != 3*(3+2) {
		t.Fatalf("truth has %d device windows, want 15", len(want))
	}

	got := map[key]map[string]float64{}
	testsrv.WaitFor(15*time.Second, func() string {
		got = map[key]map[string]float64{}
		for _, s := range w.vm.Export(`{__name__=~"device_kpi_.*",window="1m"}`) {
			k := key{s.Labels["device"], s.Timestamp}
			if got[k] == nil {
				got[k] = map[string]float64{}
			}
			got[k][strings.TrimPrefix(s.Labels["__name__"], "device_kpi_")] = s.Value
		}
		for k := range want {
			if got[k] == nil {
				return "missing"
			}
		}
		return ""
	})
	var problems []string
	for k, wf := range want {
		gf := got[k]
		for name, wv := range wf {
			gv, ok := gf[name]
			tol := 1e-9
			// Meter consumption: the truth spreads a report's delta over the second
			// before it; the gateway books it in the window of the report.
			if name == "energy_kwh" || name == "water_m3" {
				tol = 0.05 * math.Max(wv, 1e-6)
			}
			if !ok || math.Abs(gv-wv) > tol {
				problems = append(problems, fmt.Sprintf("%s %s %s: got %v (present %v), want %v",
					k.device, time.UnixMilli(k.start).UTC().Format("15:04"), name, gv, ok, wv))
			}
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Fatalf("device_kpi differs from the simulator's truth:\n%s", strings.Join(problems, "\n"))
	}

	// Workshop figures: 3 NC key machines + 1 legacy key machine; 3 digital machines,
	// all networked; 4 pieces of equipment (the 2 meters are in no equipment figure).
	ws := map[string]float64{}
	for _, s := range w.vm.Export(`{__name__=~"workshop_kpi_.*",window="1m"}`) {
		if s.Timestamp == first.UnixMilli() {
			ws[strings.TrimPrefix(s.Labels["__name__"], "workshop_kpi_")] = s.Value
		}
	}
	var parts float64
	for k, f := range want {
		if k.start == first.UnixMilli() {
			parts += f["parts"]
		}
	}
	for name, v := range map[string]float64{
		"equipment_total": 4, "equipment_key": 4, "equipment_cnc_key": 3, "cnc_rate": 0.75,
		"equipment_digital": 3, "equipment_networked": 3, "networked_rate": 1, "parts": parts,
		"output_value_yuan": parts * 150,
	} {
		if got, ok := ws[name]; !ok || math.Abs(got-v) > 1e-9 {
			t.Errorf("workshop_kpi_%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	_ = testsrv.Sample{}
}
