package kpi_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

var cncTags = []point.Tag{{Key: "workshop", Value: "ws1"}, {Key: "device", Value: "cnc1"},
	{Key: "kind", Value: "cnc"}, {Key: "region", Value: "360100"}, {Key: "park", Value: "p1"},
	{Key: "enterprise", Value: "e1"}}

// Scenario 1: one hour with setup, running and an alarm, under several shift calendars.
//
//	10:00:00 mode Setup, NotExecuting   -> setup
//	10:15:00 mode Processing, Executing -> running
//	10:40:00 alarm 1                    -> alarm
//	10:45:00 alarm 0                    -> running
//	10:50:00 NotExecuting               -> idle
//
// setup 900 s (10:00-10:15), running 1500+300 = 1800 s, alarm 300 s, idle 600 s:
// 900+1800+300+600 = 3600.
func TestGoldenShiftStates(t *testing.T) {
	sunday, monday := []time.Weekday{time.Sunday}, []time.Weekday{time.Monday}
	tests := []struct {
		name   string
		shifts []kpi.Shift
		avail  float64 // availability of the hour; -1 = absent
	}{
		// No calendar: planned = 3600 s, running 1800 s: 1800/3600.
		{"all time planned", nil, 0.5},
		// Planned 10:20-11:00 = 2400 s; running in it 10:20-10:40 + 10:45-10:50 =
		// 1200+300 = 1500 s: 1500/2400.
		{"shift from 10:20", []kpi.Shift{{Start: "10:20", End: "12:00"}}, 0.625},
		// Sunday's night shift ends Monday 10:25: planned 10:00-10:25 = 1500 s, running
		// 10:15-10:25 = 600 s: 600/1500.
		{"night shift from sunday", []kpi.Shift{{Start: "20:00", End: "10:25", Days: sunday}}, 0.4},
		// Monday's night shift starts 20:00: nothing planned in the hour, no field.
		{"night shift from monday", []kpi.Shift{{Start: "20:00", End: "10:25", Days: monday}}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, kpi.Config{Shifts: tc.shifts}, kpi.Device{ID: "cnc1", Kind: "cnc",
				Source: "opc", Tags: cncTags, KeyProcess: true, NumericalControl: true, Digital: true,
				Signals: []string{"machinery_item_state", "operation_mode", "alarm"}})
			var out []point.Batch
			out = append(out, e.Tick(at("10:00:00")))
			e.Process(sample("cnc1", at("10:00:00"), good("machinery_item_state", 2),
				good("operation_mode", 2), good("alarm", 0)))
			e.Process(sample("cnc1", at("10:15:00"), good("operation_mode", 3), good("machinery_item_state", 3)))
			e.Process(sample("cnc1", at("10:40:00"), good("alarm", 1)))
			e.Process(sample("cnc1", at("10:45:00"), good("alarm", 0)))
			e.Process(sample("cnc1", at("10:50:00"), good("machinery_item_state", 2)))
			out = append(out, e.Tick(at("11:00:29")))
			if n := len(out[1]); n != 2*59 {
				t.Fatalf("at 11:00:29: %d points, want 118 (59 one-minute windows: 11:00 closes at 11:00:30)", n)
			}
			out = append(out, e.Tick(at("11:00:30")))
			r := collect(out...)

			hour := states(1800, 600, 900, 300, 0, 0)
			shop := map[string]float64{"equipment_total": 1, "equipment_key": 1, "equipment_cnc_key": 1,
				"cnc_rate": 1, "equipment_digital": 1, "equipment_networked": 1, "networked_rate": 1,
				"networked_rate_all": 1, "smart_equipment_in_service": 0}
			if tc.avail >= 0 {
				hour = with(hour, "availability", tc.avail)
				shop = with(shop, "availability", tc.avail)
			}
			r.expect(t, "device_kpi", "cnc1", "1h", at("10:00:00"), hour)
			r.expect(t, "workshop_kpi", "", "1h", at("10:00:00"), shop)
			if got, want := r.count("device_kpi", "1m"), 60; got != want {
				t.Errorf("%d one-minute device windows, want %d", got, want)
			}
			if got := r.count("device_kpi", "1d"); got != 0 {
				t.Errorf("%d day windows before the day ended", got)
			}
			p := r[key("device_kpi", "cnc1", "1h", at("10:00:00"))]
			wantTags := []point.Tag{{Key: "device", Value: "cnc1"}, {Key: "enterprise", Value: "e1"},
				{Key: "kind", Value: "cnc"}, {Key: "park", Value: "p1"}, {Key: "region", Value: "360100"},
				{Key: "window", Value: "1h"}, {Key: "workshop", Value: "ws1"}}
			if p != nil && !reflect.DeepEqual(p.Tags, wantTags) {
				t.Errorf("tags %v, want %v", p.Tags, wantTags)
			}
			if tc.name == "shift from 10:20" {
				// 10:15-10:16: running, nothing planned: no availability.
				r.expect(t, "device_kpi", "cnc1", "1m", at("10:15:00"), states(60, 0, 0, 0, 0, 0))
				// 10:40-10:41: alarm all planned minute: 0/60.
				r.expect(t, "device_kpi", "cnc1", "1m", at("10:40:00"),
					with(states(0, 0, 0, 60, 0, 0), "availability", 0))
			}
		})
	}
}

// Scenario 2: part counters: a UInt32 wrap, a reset, duplicates, out-of-order samples
// and a gap spanning windows.
func TestGoldenPartCounter(t *testing.T) {
	e := newEngine(t, kpi.Config{}, kpi.Device{ID: "cnc1", Kind: "cnc", Source: "opc",
		Digital: true, Signals: []string{"parts_total"}})
	var out []point.Batch
	out = append(out, e.Tick(at("10:00:00")))
	parts := func(clock string, v float64) { e.Process(sample("cnc1", at(clock), good("parts_total", v))) }
	parts("10:00:10", 4294967290) // baseline
	parts("10:00:40", 5)          // wrap: 2^32 - 4294967290 + 5 = 6 + 5 = 11
	parts("10:01:10", 9)          // +4
	parts("10:01:10", 9)          // duplicate: ignored
	parts("10:01:05", 8)          // older than 10:01:10: ignored
	parts("10:01:30", 100)        // +91
	parts("10:01:50", 7)          // reset (100 -> 7, not a wrap): counted from 0, +7
	parts("10:02:50", 20)         // +13
	parts("10:05:10", 50)         // +30, after a gap: all in the 10:05 window
	out = append(out, e.Tick(at("11:00:30")))
	r := collect(out...)
	minute := func(clock string, n float64) {
		r.expect(t, "device_kpi", "cnc1", "1m", at(clock), with(states(0, 60, 0, 0, 0, 0), "parts", n))
	}
	// 10:00-10:10 is unknown until the first sample: the device has no running signal,
	// so it is idle (online) once data arrives.
	r.expect(t, "device_kpi", "cnc1", "1m", at("10:00:00"),
		with(states(0, 50, 0, 0, 0, 10), "parts", 11))
	minute("10:01:00", 102) // 4 + 91 + 7
	minute("10:02:00", 13)
	minute("10:03:00", 0)
	minute("10:04:00", 0)
	minute("10:05:00", 30)
	// The hour: 11 + 102 + 13 + 30 = 156.
	r.expect(t, "device_kpi", "cnc1", "1h", at("10:00:00"),
		with(states(0, 3590, 0, 0, 0, 10), "parts", 156))
	st := e.Stats()
	if st.Wraps != 1 || st.Resets != 1 || st.Duplicates != 1 || st.OutOfOrder != 1 {
		t.Errorf("stats %+v, want 1 wrap, 1 reset, 1 duplicate, 1 out of order", st)
	}
}

// Scenario 3: an energy meter replaced mid-hour, and the workshop's coal equivalent.
func TestGoldenMeterReplacement(t *testing.T) {
	e := newEngine(t, kpi.Config{}, kpi.Device{ID: "em1", Kind: "energy_meter", Source: "mqtt",
		Digital: true, Signals: []string{"energy_kwh_total"}})
	var out []point.Batch
	out = append(out, e.Tick(at("10:00:00")))
	kwh := func(clock string, v float64) { e.Process(sample("em1", at(clock), good("energy_kwh_total", v))) }
	kwh("10:00:00", 1000.0) // baseline
	kwh("10:20:00", 1003.5) // +3.5
	kwh("10:35:00", 0.2)    // new meter: a reset, counted from 0: +0.2
	kwh("10:50:00", 1.7)    // +1.5
	out = append(out, e.Tick(at("11:00:30")))
	r := collect(out...)
	// 3.5 + 0.2 + 1.5 = 5.2 kWh; a meter is idle while online.
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh", 5.2))
	// 5.2 kWh × 0.1229 kgce/kWh = 0.63908 kgce. No parts: no intensities. The meter (its
	// kind ends in "meter") is in no equipment figure: no equipment, no rates.
	r.expect(t, "workshop_kpi", "", "1h", at("10:00:00"), map[string]float64{"equipment_total": 0,
		"equipment_key": 0, "equipment_cnc_key": 0, "equipment_digital": 0, "equipment_networked": 0,
		"smart_equipment_in_service": 0, "energy_kwh": 5.2, "energy_kgce": 0.63908})
	r.expect(t, "device_kpi", "em1", "1m", at("10:35:00"), with(states(0, 60, 0, 0, 0, 0), "energy_kwh", 0.2))
	if st := e.Stats(); st.Resets != 1 {
		t.Errorf("%d resets, want 1", st.Resets)
	}
}

// Scenario 4: a gateway restart in the middle of the hour yields one complete window.
func TestGoldenRestart(t *testing.T) {
	dev := kpi.Device{ID: "cnc1", Kind: "cnc", Source: "opc", KeyProcess: true, Digital: true,
		Signals: []string{"machinery_item_state", "parts_total"}}
	a := newEngine(t, kpi.Config{}, dev)
	var out []point.Batch
	out = append(out, a.Tick(at("10:00:00")))
	a.Process(sample("cnc1", at("10:00:00"), good("machinery_item_state", 3), good("parts_total", 1000)))
	a.Process(sample("cnc1", at("10:05:00"), good("parts_total", 1010)))
	out = append(out, a.Tick(at("10:10:00")))
	a.Process(sample("cnc1", at("10:15:00"), good("machinery_item_state", 2)))
	a.Process(sample("cnc1", at("10:19:00"), good("parts_total", 1020)))
	out = append(out, a.Tick(at("10:20:00")))
	var state bytes.Buffer
	if err := a.SaveState(&state, at("10:20:00")); err != nil {
		t.Fatal(err)
	}

	// Down from 10:20:00 to 10:25:00.
	b := newEngine(t, kpi.Config{}, dev)
	if err := b.LoadState(&state, at("10:25:00")); err != nil {
		t.Fatal(err)
	}
	// After reconnecting, OPC UA delivers the unchanged state with its old timestamp.
	b.Process(sample("cnc1", at("10:15:00"), good("machinery_item_state", 2)))
	b.Process(sample("cnc1", at("10:25:05"), good("parts_total", 1025)))
	b.Process(sample("cnc1", at("10:30:00"), good("machinery_item_state", 3)))
	b.Process(sample("cnc1", at("10:45:00"), good("parts_total", 1040)))
	out = append(out, b.Tick(at("11:00:30")))
	r := collect(out...) // panics on a window emitted twice

	// running 10:00-10:15 + 10:30-11:00 = 900 + 1800 = 2700 s; idle 10:15-10:20 +
	// 10:25-10:30 = 300 + 300 = 600 s; unknown (not observing) 10:20-10:25 = 300 s.
	// Parts 10 + 10 + 5 + 15 = 40. Availability 2700 / (3600 - 300).
	r.expect(t, "device_kpi", "cnc1", "1h", at("10:00:00"),
		with(states(2700, 600, 0, 0, 0, 300), "parts", 40, "availability", 2700.0/3300))
	// Minutes: 10:00-10:19 observed, 10:20-10:24 not at all (not emitted), 10:25-10:59.
	if got, want := r.count("device_kpi", "1m"), 20+35; got != want {
		t.Errorf("%d one-minute windows, want %d", got, want)
	}
	if _, ok := r[key("device_kpi", "cnc1", "1m", at("10:22:00"))]; ok {
		t.Error("a minute inside the restart gap was emitted")
	}
	r.expect(t, "device_kpi", "cnc1", "1m", at("10:19:00"),
		with(states(0, 60, 0, 0, 0, 0), "parts", 10, "availability", 0))
	r.expect(t, "device_kpi", "cnc1", "1m", at("10:25:00"),
		with(states(0, 60, 0, 0, 0, 0), "parts", 5, "availability", 0))
	if st := b.Stats(); st.Stale != 1 {
		t.Errorf("%d stale samples, want 1 (the initial value from 10:15)", st.Stale)
	}
}

// Scenario 5: a periodic meter going silent is offline after 3 intervals; a
// change-driven OPC UA device that stays quiet keeps its state; a lost session makes a
// device offline until data arrives after the session is back.
func TestGoldenOffline(t *testing.T) {
	e := newEngine(t, kpi.Config{},
		kpi.Device{ID: "wm1", Kind: "water_meter", Source: "mqtt", Digital: true, Interval: 10 * time.Second,
			Signals: []string{"water_m3_total"}},
		kpi.Device{ID: "cnc1", Kind: "cnc", Source: "opc", Digital: true, Signals: []string{"machinery_item_state"}},
		kpi.Device{ID: "cnc2", Kind: "cnc", Source: "opc2", Digital: true, Signals: []string{"machinery_item_state"}})
	var out []point.Batch
	out = append(out, e.Tick(at("10:00:00")))
	e.Process(sample("cnc1", at("10:00:00"), good("machinery_item_state", 3)))
	e.Process(sample("cnc2", at("10:00:00"), good("machinery_item_state", 3)))
	for i := 0; i <= 120; i++ { // every 10 s from 10:00:00 to 10:20:00, +0.25 m³ each
		e.Process(sample("wm1", at("10:00:00").Add(time.Duration(i)*10*time.Second),
			good("water_m3_total", 100+0.25*float64(i))))
	}
	live := e.Live(at("10:10:00"))
	if d := live.Devices[1]; d.State != kpi.StateRunning || !d.Since.Equal(at("10:00:00")) {
		t.Errorf("cnc1 quiet for 10 min: %v since %v, want running since 10:00", d.State, d.Since)
	}
	if d := live.Devices[0]; d.State != kpi.StateIdle {
		t.Errorf("wm1 at 10:10: %v, want idle", d.State)
	}
	e.SourceState("opc2", false, at("10:30:00"))
	e.SourceState("opc2", true, at("10:40:00"))
	// The first sample after the session is back: the unchanged value, stamped 10:00.
	e.Process(sample("cnc2", at("10:00:00"), good("machinery_item_state", 3)))
	if d := e.Live(at("10:35:00")).Devices[0]; d.State != kpi.StateOffline || !d.Since.Equal(at("10:20:30")) {
		t.Errorf("wm1 at 10:35: %v since %v, want offline since 10:20:30", d.State, d.Since)
	}
	out = append(out, e.Tick(at("11:00:30")))
	r := collect(out...)
	// Last sample 10:20:00; offline from 10:20:00 + 3×10 s = 10:20:30: idle 1230 s,
	// offline 3600 - 1230 = 2370 s. Water 120 × 0.25 = 30 m³.
	r.expect(t, "device_kpi", "wm1", "1h", at("10:00:00"), with(states(0, 1230, 0, 0, 2370, 0), "water_m3", 30))
	r.expect(t, "device_kpi", "wm1", "1m", at("10:20:00"), with(states(0, 30, 0, 0, 30, 0), "water_m3", 0.25))
	r.expect(t, "device_kpi", "cnc1", "1h", at("10:00:00"), with(states(3600, 0, 0, 0, 0, 0), "availability", 1))
	// Session lost 10:30-10:40: running 1800 + 1200 = 3000 s, offline 600 s.
	r.expect(t, "device_kpi", "cnc2", "1h", at("10:00:00"),
		with(states(3000, 0, 0, 0, 600, 0), "availability", 3000.0/3600))
}

// Scenario 6: a late sample inside the allowed lateness counts in its window; one after
// the window closed is counted as late and lands in the first open window.
func TestGoldenLateness(t *testing.T) {
	e := newEngine(t, kpi.Config{}, kpi.Device{ID: "cnc1", Kind: "cnc", Source: "opc", Digital: true,
		Signals: []string{"machinery_item_state", "alarm", "parts_total"}})
	var out []point.Batch
	out = append(out, e.Tick(at("10:00:00")))
	e.Process(sample("cnc1", at("10:00:00"), good("machinery_item_state", 3), good("parts_total", 100)))
	e.Process(sample("cnc1", at("10:00:50"), good("parts_total", 110)))
	if b := e.Tick(at("10:01:10")); len(b) != 0 {
		t.Fatalf("10:00-10:01 closed at 10:01:10, before end + 30 s")
	}
	// Within the lateness: counted in 10:00-10:01.
	e.Process(sample("cnc1", at("10:00:55"), good("parts_total", 115)))
	e.Process(sample("cnc1", at("10:00:58"), good("alarm", 1)))
	out = append(out, e.Tick(at("10:01:30")))
	r := collect(out...)
	// running 10:00:00-10:00:58 = 58 s, alarm 2 s; parts 115 - 100 = 15.
	r.expect(t, "device_kpi", "cnc1", "1m", at("10:00:00"),
		with(states(58, 0, 0, 2, 0, 0), "parts", 15, "availability", 58.0/60))

	// After the close: late. The alarm clears at 10:01:00, the 3 parts count in 10:01.
	e.Process(sample("cnc1", at("10:00:59"), good("parts_total", 118), good("alarm", 0)))
	// In the open window, out of order: idle at 10:01:40 arrives after running at 10:01:50.
	e.Process(sample("cnc1", at("10:01:50"), good("machinery_item_state", 3), good("parts_total", 120)))
	e.Process(sample("cnc1", at("10:01:40"), good("machinery_item_state", 2)))
	out = append(out, e.Tick(at("11:00:30")))
	r = collect(out...)
	// running 10:01:00-10:01:40 + 10:01:50-10:02:00 = 50 s, idle 10 s; parts 3 + 2 = 5.
	r.expect(t, "device_kpi", "cnc1", "1m", at("10:01:00"),
		with(states(50, 10, 0, 0, 0, 0), "parts", 5, "availability", 50.0/60))
	// The hour: parts 100 -> 120 exactly; alarm 2 s; idle 10 s.
	r.expect(t, "device_kpi", "cnc1", "1h", at("10:00:00"),
		with(states(3588, 10, 0, 2, 0, 0), "parts", 20, "availability", 3588.0/3600))
	if st := e.Stats(); st.Late != 2 || st.OutOfOrder != 1 {
		t.Errorf("stats %+v, want 2 late (parts, alarm) and 1 out of order", st)
	}
}

// Scenario 7: the workshop figures with a legacy machine that sends nothing and one
// known only by its power draw.
func TestGoldenWorkshop(t *testing.T) {
	e := newEngine(t, kpi.Config{},
		kpi.Device{ID: "cnc1", Kind: "cnc", Source: "opc", KeyProcess: true, NumericalControl: true,
			Digital: true, Smart: true, UnitValueYuan: 250, Signals: []string{"machinery_item_state", "parts_total"}},
		kpi.Device{ID: "cnc2", Kind: "cnc", Source: "opc", KeyProcess: true, NumericalControl: true,
			Digital: true, UnitValueYuan: 400, Signals: []string{"machinery_item_state", "parts_total"}},
		kpi.Device{ID: "lathe1", Kind: "machine", KeyProcess: true},
		kpi.Device{ID: "mill1", Kind: "machine", Source: "mqtt", KeyProcess: true, Digital: true,
			Interval: 5 * time.Minute, Signals: []string{"power_kw"}},
		kpi.Device{ID: "em1", Kind: "energy_meter", Source: "mqtt", Digital: true, Signals: []string{"energy_kwh_total"}},
		kpi.Device{ID: "wm1", Kind: "water_meter", Source: "mqtt", Digital: true, Signals: []string{"water_m3_total"}},
	)
	var out []point.Batch
	out = append(out, e.Tick(at("10:00:00")))
	e.Process(sample("cnc1", at("10:00:00"), good("machinery_item_state", 3), good("parts_total", 1000)))
	e.Process(sample("cnc1", at("10:59:00"), good("parts_total", 1040)))
	for i := 0; i < 12; i++ { // 6 kW from 10:00 to 10:30, 0 kW from 10:35 to 10:55
		kw := 6.0
		if i > 6 {
			kw = 0
		}
		e.Process(sample("mill1", at("10:00:00").Add(time.Duration(i)*5*time.Minute), good("power_kw", kw)))
	}
	e.Process(sample("em1", at("10:00:00"), good("energy_kwh_total", 500)))
	e.Process(sample("em1", at("10:59:00"), good("energy_kwh_total", 520.5)))
	e.Process(sample("wm1", at("10:00:00"), good("water_m3_total", 10)))
	e.Process(sample("wm1", at("10:59:00"), good("water_m3_total", 12.5)))
	out = append(out, e.Tick(at("11:00:30")))
	r := collect(out...)

	if _, ok := r[key("device_kpi", "lathe1", "1h", at("10:00:00"))]; ok {
		t.Error("device_kpi written for a machine without a source")
	}
	r.expect(t, "device_kpi", "cnc1", "1h", at("10:00:00"),
		with(states(3600, 0, 0, 0, 0, 0), "parts", 40, "availability", 1))
	// cnc2 sent nothing: unknown all hour, nothing planned, no availability.
	r.expect(t, "device_kpi", "cnc2", "1h", at("10:00:00"), with(states(0, 0, 0, 0, 0, 3600), "parts", 0))
	// Running while above 0.5 kW: 10:00-10:35 = 2100 s. Energy by trapezoids:
	// 6 × 5 min × 6 kW = 3 kWh, 10:30-10:35 (6+0)/2 kW × 5 min = 0.25 kWh: 3.25 kWh.
	r.expect(t, "device_kpi", "mill1", "1h", at("10:00:00"),
		with(states(2100, 1500, 0, 0, 0, 0), "energy_kwh", 3.25, "availability", 2100.0/3600))
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh", 20.5))
	r.expect(t, "device_kpi", "wm1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "water_m3", 2.5))

	// Inventory 6, of which em1 and wm1 are meters (kind *_meter): 4 equipment. Key 4
	// (cnc1, cnc2, lathe1, mill1), 2 of them NC: cnc_rate 2/4. Digital equipment 3 (not
	// lathe1, not the meters); networked 2 (cnc1, mill1; cnc2 silent): 2/3 and 2/4.
	// Parts 40 × 250 yuan = 10 000 yuan. Energy 3.25 + 20.5 = 23.75 kWh × 0.1229 =
	// 2.918875 kgce; per part 2.918875/40 (in float64: 0.07297187499999999); per 10k
	// yuan 2.918875/1. Water 2.5 m³, 2.5/1.
	// Availability over production machines (cnc1, cnc2, mill1):
	// (3600 + 0 + 2100) / (3600 + 0 + 3600).
	kgce := 23.75 * 0.1229
	if kgce != 2.918875 || kgce/40 != 0.07297187499999999 {
		t.Fatalf("23.75 × 0.1229 = %v, /40 = %v in float64", kgce, kgce/40)
	}
	r.expect(t, "workshop_kpi", "", "1h", at("10:00:00"), map[string]float64{
		"equipment_total": 4, "equipment_key": 4, "equipment_cnc_key": 2, "cnc_rate": 0.5,
		"equipment_digital": 3, "equipment_networked": 2, "networked_rate": 2.0 / 3,
		"networked_rate_all": 0.5, "smart_equipment_in_service": 1,
		"parts": 40, "output_value_yuan": 10000, "energy_kwh": 23.75, "energy_kgce": 2.918875,
		"water_m3": 2.5, "energy_kgce_per_part": kgce / 40, "energy_kgce_per_10k_yuan": 2.918875,
		"water_m3_per_10k_yuan": 2.5, "availability": 5700.0 / 7200})
	p := r[key("workshop_kpi", "", "1h", at("10:00:00"))]
	wantTags := []point.Tag{{Key: "enterprise", Value: "e1"}, {Key: "park", Value: "p1"},
		{Key: "region", Value: "360100"}, {Key: "window", Value: "1h"}, {Key: "workshop", Value: "ws1"}}
	if p != nil && !reflect.DeepEqual(p.Tags, wantTags) {
		t.Errorf("workshop tags %v, want %v", p.Tags, wantTags)
	}
}
