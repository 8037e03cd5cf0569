package kpi_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// TestGoldenRoles: fields named otherwise carry their KPI through Roles, and a counter
// role counts deltas with the wrap and reset rules whatever the field's name.
//
//	state (machinery_item_state) 10:00 Executing, 10:30 NotExecuting: running 1800 s, idle 1800 s
//	pcs (parts_total) 10:00 4294967290, 10:20 40 (UInt32 wrap: +46), 10:40 2 (below 10 % of 40: a replacement, +2): 48 parts
//	kwh (energy_kwh_total) 10:00 100, 10:59 112.5: 12.5 kWh
//	pulses (counter, no role) 10:00 1, 10:59 9999: no KPI, proves the meter online
func TestGoldenRoles(t *testing.T) {
	e := newEngine(t, kpi.Config{},
		kpi.Device{ID: "m7", Kind: "machine", Source: "opc", KeyProcess: true, Digital: true, UnitValueYuan: 100,
			Signals: []string{"state", "pcs"}, Counters: []string{"pcs"},
			Roles: map[string]string{"state": "machinery_item_state", "pcs": "parts_total"}},
		kpi.Device{ID: "em1", Kind: "power", Class: schema.ClassMeter, Source: "mqtt", Digital: true,
			Signals: []string{"kwh", "pulses"}, Counters: []string{"kwh", "pulses"},
			Roles: map[string]string{"kwh": "energy_kwh_total"}})
	var out []point.Batch
	out = append(out, e.Tick(at("10:00:00")))
	e.Process(sample("m7", at("10:00:00"), good("state", 3), good("pcs", 4294967290)))
	e.Process(sample("m7", at("10:20:00"), good("pcs", 40)))
	e.Process(sample("m7", at("10:30:00"), good("state", 2)))
	e.Process(sample("m7", at("10:40:00"), good("pcs", 2)))
	e.Process(sample("em1", at("10:00:00"), good("kwh", 100), good("pulses", 1)))
	e.Process(sample("em1", at("10:59:00"), good("kwh", 112.5), good("pulses", 9999)))
	out = append(out, e.Tick(at("11:00:30")))
	r := collect(out...)
	r.expect(t, "device_kpi", "m7", "1h", at("10:00:00"),
		with(states(1800, 1800, 0, 0, 0, 0), "parts", 48, "availability", 0.5))
	r.expect(t, "device_kpi", "em1", "1h", at("10:00:00"), with(states(0, 3600, 0, 0, 0, 0), "energy_kwh", 12.5))
	// One piece of equipment (the meter is in no figure): networked 1/1. Energy 12.5 kWh ×
	// 0.1229 = 1.53625 kgce over 48 parts and 4 800 yuan.
	kgce := 12.5 * 0.1229
	r.expect(t, "workshop_kpi", "", "1h", at("10:00:00"), map[string]float64{
		"equipment_total": 1, "equipment_key": 1, "equipment_cnc_key": 0, "cnc_rate": 0,
		"equipment_digital": 1, "equipment_networked": 1, "networked_rate": 1, "networked_rate_all": 1,
		"smart_equipment_in_service": 0, "parts": 48, "output_value_yuan": 4800,
		"energy_kwh": 12.5, "energy_kgce": kgce, "energy_kgce_per_part": kgce / 48,
		"energy_kgce_per_10k_yuan": kgce / 0.48, "availability": 0.5})
	if st := e.Stats(); st.Wraps != 1 || st.Resets != 1 {
		t.Errorf("stats %+v, want 1 wrap and 1 reset", st)
	}
}

// TestGoldenClasses: the same workshop counted with each device's class; meters feed
// energy and water but no equipment figure, whatever their kind.
func TestGoldenClasses(t *testing.T) {
	devs := func(meterClass, millClass string) []kpi.Device {
		return []kpi.Device{
			{ID: "cnc1", Kind: "cnc", Source: "opc", KeyProcess: true, NumericalControl: true, Digital: true,
				Smart: true, Signals: []string{"machinery_item_state"}},
			{ID: "lathe1", Kind: "machine", KeyProcess: true},
			{ID: "mill1", Kind: "machine", Class: millClass, Source: "mqtt", Digital: true, Signals: []string{"power_kw"}},
			{ID: "em1", Kind: "energy_meter", Class: meterClass, Source: "mqtt", Digital: true,
				Signals: []string{"energy_kwh_total"}},
			{ID: "wm1", Kind: "water_meter", Class: meterClass, Source: "mqtt", Digital: true,
				Signals: []string{"water_m3_total"}},
		}
	}
	tests := []struct {
		name                  string
		meterClass, millClass string
		// equipment total, digital, networked, smart in service; mill1 running seconds
		total, digital, networked, smart, millRun float64
		availability                              float64
	}{
		// The kinds ending in "meter" make em1 and wm1 meters: 3 equipment (cnc1, lathe1,
		// mill1), 2 digital and networked. Availability (3600 + 1800)/(3600 + 3600).
		{"meters by kind", "", "", 3, 2, 2, 1, 1800, 5400.0 / 7200},
		{"class meter", schema.ClassMeter, schema.ClassEquipment, 3, 2, 2, 1, 1800, 5400.0 / 7200},
		// class equipment overrides the kind: 5 equipment, 4 digital and networked.
		{"meters as equipment", schema.ClassEquipment, "", 5, 4, 4, 1, 1800, 5400.0 / 7200},
		// mill1 as a meter: never running, no availability, out of the figures; its
		// power still integrates into energy.
		{"power-only machine as meter", "", schema.ClassMeter, 2, 1, 1, 1, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, kpi.Config{}, devs(tc.meterClass, tc.millClass)...)
			var out []point.Batch
			out = append(out, e.Tick(at("10:00:00")))
			e.Process(sample("cnc1", at("10:00:00"), good("machinery_item_state", 3)))
			for i := 0; i < 12; i++ { // 6 kW from 10:00 to 10:25, 0 kW from 10:30 to 10:55
				kw := 6.0
				if i > 5 {
					kw = 0
				}
				e.Process(sample("mill1", at("10:00:00").Add(time.Duration(i)*5*time.Minute), good("power_kw", kw)))
			}
			e.Process(sample("em1", at("10:00:00"), good("energy_kwh_total", 10)))
			e.Process(sample("em1", at("10:59:00"), good("energy_kwh_total", 30)))
			e.Process(sample("wm1", at("10:00:00"), good("water_m3_total", 1)))
			e.Process(sample("wm1", at("10:59:00"), good("water_m3_total", 3)))
			out = append(out, e.Tick(at("11:00:30")))
			r := collect(out...)
			// mill1 runs while above 0.5 kW: 10:00-10:30 = 1800 s. Energy by trapezoids:
			// 5 × 5 min × 6 kW = 2.5 kWh, 10:25-10:30 (6+0)/2 kW × 5 min = 0.25 kWh: 2.75 kWh.
			mill := fieldMap(r[key("device_kpi", "mill1", "1h", at("10:00:00"))])
			if mill["running_s"] != tc.millRun {
				t.Errorf("mill1 running_s = %v, want %v", mill["running_s"], tc.millRun)
			}
			if _, ok := mill["availability"]; ok != (tc.millRun > 0) {
				t.Errorf("mill1 availability present = %v, want %v", ok, tc.millRun > 0)
			}
			if mill["energy_kwh"] != 2.75 {
				t.Errorf("mill1 energy_kwh = %v, want 2.75", mill["energy_kwh"])
			}
			rate := func(n, d float64) float64 { return n / d }
			r.expect(t, "workshop_kpi", "", "1h", at("10:00:00"), map[string]float64{
				"equipment_total": tc.total, "equipment_key": 2, "equipment_cnc_key": 1, "cnc_rate": 0.5,
				"equipment_digital": tc.digital, "equipment_networked": tc.networked,
				"networked_rate": rate(tc.networked, tc.digital), "networked_rate_all": rate(tc.networked, tc.total),
				"smart_equipment_in_service": tc.smart, "energy_kwh": 22.75, "energy_kgce": 22.75 * 0.1229,
				"water_m3": 2, "availability": tc.availability})
		})
	}
}

func TestNewRefusesRoleConflicts(t *testing.T) {
	tests := []struct {
		name string
		dev  kpi.Device
		want string
	}{
		{"two fields one role", kpi.Device{ID: "d", Signals: []string{"parts_total", "pcs"},
			Roles: map[string]string{"pcs": "parts_total"}},
			`new kpi engine: devices[0]: fields "parts_total" and "pcs" both have role "parts_total"`},
		{"counter on a state role", kpi.Device{ID: "d", Signals: []string{"power_kw"}, Counters: []string{"power_kw"}},
			`new kpi engine: devices[0].counters: field "power_kw" has role "power_kw", which is not a counter`},
		{"bad class", kpi.Device{ID: "d", Class: "gauge"},
			`new kpi engine: devices[0].class: invalid "gauge": want equipment or meter`},
		{"unknown role", kpi.Device{ID: "d", Roles: map[string]string{"x": "speed"}},
			`new kpi engine: devices[0].roles["x"]: unknown role "speed"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kpi.New(kpi.Config{}, []kpi.Device{tc.dev})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %s", err, tc.want)
			}
		})
	}
}

func TestPlanOf(t *testing.T) {
	tests := []struct {
		name string
		dev  kpi.Device
		line string
		warn []string
	}{
		{"cnc by field names", kpi.Device{ID: "m1", Kind: "cnc", Source: "opc",
			Signals: []string{"machinery_item_state", "operation_mode", "parts_total", "alarm"}},
			"m1 equipment: state ✓ (machinery_item_state, operation_mode, alarm) parts ✓ (parts_total) " +
				"energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)", nil},
		{"renamed fields", kpi.Device{ID: "m7", Kind: "machine", Source: "opc", Signals: []string{"mode", "st", "pcs"},
			Roles: map[string]string{"st": "machinery_item_state", "mode": "operation_mode", "pcs": "parts_total"}},
			"m7 equipment: state ✓ (machinery_item_state=st, operation_mode=mode) parts ✓ (parts_total=pcs) " +
				"energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)", nil},
		{"power only", kpi.Device{ID: "mill1", Kind: "machine", Source: "mqtt", Signals: []string{"power_kw"}},
			"mill1 equipment: state ✓ (power_kw) parts – (no parts_total role) energy ✓ (power_kw, integrated) " +
				"water – (no water_m3_total role)",
			[]string{"only meter roles (power_kw) and no class: counted as production equipment; write class: meter if it is a meter, or class: equipment"}},
		{"power only, class equipment", kpi.Device{ID: "mill1", Kind: "machine", Class: schema.ClassEquipment,
			Source: "mqtt", Signals: []string{"power_kw"}},
			"mill1 equipment: state ✓ (power_kw) parts – (no parts_total role) energy ✓ (power_kw, integrated) " +
				"water – (no water_m3_total role)", nil},
		{"meter by kind", kpi.Device{ID: "em1", Kind: "energy_meter", Source: "mqtt", Signals: []string{"energy_kwh_total", "power_kw"}},
			"em1 meter: state – (a meter: online/offline only) energy ✓ (energy_kwh_total) " +
				"water – (no water_m3_total role)",
			[]string{`kind "energy_meter" makes it a meter (in no equipment figure): write class: meter to say so, or class: equipment to count it`}},
		{"counter without role", kpi.Device{ID: "em2", Kind: "power", Class: schema.ClassMeter, Source: "mqtt",
			Signals: []string{"kwh", "x", "water_m3_total", "m3_fresh"}, Counters: []string{"x", "kwh", "m3_fresh"}},
			"em2 meter: state – (a meter: online/offline only) " +
				"energy – (no energy_kwh_total or power_kw role) water ✓ (water_m3_total)",
			[]string{`signal "kwh": a counter without a role feeds no KPI; set role: energy_kwh_total`,
				`signal "m3_fresh": a counter without a role feeds no KPI (role water_m3_total is signal "water_m3_total")`,
				`signal "x": a counter without a role feeds no KPI; set role: parts_total, energy_kwh_total or water_m3_total`}},
		{"no signals", kpi.Device{ID: "m2", Kind: "cnc", Source: "opc"},
			"m2 equipment: state – (no machinery_item_state, channel_state, spindle_speed_rpm or power_kw role: online/offline only) " +
				"parts – (no parts_total role) energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)", nil},
		{"inventory only", kpi.Device{ID: "legacy1", Kind: "machine"},
			"legacy1 equipment: inventory only (no source): counted in the equipment figures, no device_kpi", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := kpi.PlanOf(tc.dev)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tc.line {
				t.Errorf("plan\n%s\nwant\n%s", got, tc.line)
			}
			if !reflect.DeepEqual(p.Warnings, tc.warn) {
				t.Errorf("warnings %q, want %q", p.Warnings, tc.warn)
			}
		})
	}
}

func TestPlansNoKPI(t *testing.T) {
	_, warn, err := kpi.Plans([]kpi.Device{{ID: "a", Kind: "machine", Source: "s", Signals: []string{"temp"}},
		{ID: "b", Kind: "machine"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"no device produces a KPI (state, parts, energy or water): give signals a role (docs/configuration.md)"}
	if !reflect.DeepEqual(warn, want) {
		t.Errorf("warnings %q, want %q", warn, want)
	}
	_, warn, _ = kpi.Plans([]kpi.Device{{ID: "a", Kind: "machine", Source: "s", Signals: []string{"parts_total"}}})
	if len(warn) != 0 {
		t.Errorf("warnings %q for a device with parts", warn)
	}
	if _, _, err := kpi.Plans([]kpi.Device{{ID: "a"}, {ID: "b", Class: "x"}}); err == nil ||
		!strings.HasPrefix(err.Error(), "devices[1].class:") {
		t.Errorf("error %v, want devices[1].class", err)
	}
}

func TestRoleVocabulary(t *testing.T) {
	want := []string{"machinery_item_state", "operation_mode", "channel_state", "program_state", "alarm",
		"spindle_speed_rpm", "parts_total", "energy_kwh_total", "power_kw", "water_m3_total"}
	if got := schema.RoleNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("RoleNames %q, want %q", got, want)
	}
	var counters, meters []string
	for _, r := range want {
		if schema.IsCounterRole(r) {
			counters = append(counters, r)
		}
		if schema.IsMeterRole(r) {
			meters = append(meters, r)
		}
		if !schema.IsRole(r) {
			t.Errorf("IsRole(%q) false", r)
		}
	}
	if !reflect.DeepEqual(counters, []string{"parts_total", "energy_kwh_total", "water_m3_total"}) {
		t.Errorf("counter roles %q", counters)
	}
	if !reflect.DeepEqual(meters, []string{"energy_kwh_total", "power_kw", "water_m3_total"}) {
		t.Errorf("meter roles %q", meters)
	}
	for _, s := range []string{"", "other", "kwh"} {
		if schema.IsRole(s) || schema.IsCounterRole(s) || schema.IsMeterRole(s) {
			t.Errorf("%q taken for a role", s)
		}
	}
	for _, c := range []struct{ class, kind, want string }{{"", "energy_meter", "meter"}, {"", "Water_Meter", "meter"},
		{"", "cnc", "equipment"}, {"equipment", "energy_meter", "equipment"}, {"meter", "cnc", "meter"}} {
		if got := schema.ClassOf(c.class, c.kind); got != c.want {
			t.Errorf("ClassOf(%q, %q) = %q, want %q", c.class, c.kind, got, c.want)
		}
	}
}
