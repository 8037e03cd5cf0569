package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidatePlanExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "gateway.example.yaml")
	var out, errb bytes.Buffer
	if code := run([]string{"validate", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := path + `: ok
KPI plan:
  m1 equipment: state ✓ (machinery_item_state, operation_mode, spindle_speed_rpm) parts ✓ (parts_total) energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)
  em1 meter: state – (a meter: online/offline only) energy ✓ (energy_kwh_total=kwh) water – (no water_m3_total role)
  legacy1 equipment: inventory only (no source): counted in the equipment figures, no device_kpi
  em2 meter: state – (a meter: online/offline only) energy ✓ (energy_kwh_total) water – (no water_m3_total role)
`
	if out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr %q", errb.String())
	}
}

func TestValidatePlanWarnings(t *testing.T) {
	dir := t.TempDir()
	head := `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  mqtt:
    - {name: meters, broker: "tcp://127.0.0.1:1883"}
devices:
`
	tests := []struct {
		name, devices  string
		stdout, stderr string
	}{
		{"meter by kind, counter without role",
			"  - {id: em1, kind: energy_meter, source: meters, topic: m/em1, signals: {kwh: {path: kwh, counter: true}, power_kw: {path: kw}}}\n",
			"  em1 meter: state – (a meter: online/offline only) energy ✓ (power_kw, integrated) water – (no water_m3_total role)\n",
			`F: warning: device "em1": signal "kwh": a counter without a role feeds no KPI; set role: energy_kwh_total
F: warning: device "em1": kind "energy_meter" makes it a meter (in no equipment figure): write class: meter to say so, or class: equipment to count it
`},
		{"meter roles without class",
			"  - {id: wm1, kind: flow, source: meters, topic: m/wm1, signals: {water_m3_total: {path: m3}}}\n",
			"  wm1 equipment: state – (no machinery_item_state, channel_state, spindle_speed_rpm or power_kw role: online/offline only) parts – (no parts_total role) energy – (no energy_kwh_total or power_kw role) water ✓ (water_m3_total)\n",
			`F: warning: device "wm1": only meter roles (water_m3_total) and no class: counted as production equipment; write class: meter if it is a meter, or class: equipment
`},
		{"no KPI at all",
			"  - {id: m1, kind: machine, source: meters, topic: m/m1, signals: {temp: {path: t}}}\n  - {id: m2, kind: machine}\n",
			"  m1 equipment: state – (no machinery_item_state, channel_state, spindle_speed_rpm or power_kw role: online/offline only) parts – (no parts_total role) energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)\n" +
				"  m2 equipment: inventory only (no source): counted in the equipment figures, no device_kpi\n",
			"F: warning: no device produces a KPI (state, parts, energy or water): give signals a role (docs/configuration.md)\n"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.Repeat("x", i+1)+".yaml")
			if err := os.WriteFile(path, []byte(head+tc.devices), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := run([]string{"validate", path}, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if want := path + ": ok\nKPI plan:\n" + tc.stdout; out.String() != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
			}
			if want := strings.ReplaceAll(tc.stderr, "F:", path+":"); errb.String() != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), want)
			}
			out.Reset()
			errb.Reset()
			if code := run([]string{"validate", "-q", path}, &out, &errb); code != 0 || out.Len() != 0 || errb.Len() != 0 {
				t.Errorf("-q: exit %d, stdout %q, stderr %q; want 0 and nothing", code, out.String(), errb.String())
			}
		})
	}
}

func TestValidateQuietErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	cfg := `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  mqtt:
    - {name: meters, broker: "tcp://127.0.0.1:1883"}
devices:
  - {id: em1, kind: power, class: meter, key_process: true, source: meters, topic: m/em1, signals: {kwh: {path: kwh, role: energy_kwh_total, counter: false}}}
`
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	want := path + `:6: devices[0].key_process: a meter is not production equipment (class meter): key_process applies to class equipment only
` + path + `:6: devices[0].signals.kwh.counter: false, but role "energy_kwh_total" is a cumulative counter: remove counter or give the signal another role
2 error(s)
`
	for _, args := range [][]string{{"validate", path}, {"validate", "-q", path}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 1 {
			t.Fatalf("%q: exit %d, want 1", args, code)
		}
		if out.Len() != 0 || errb.String() != want {
			t.Errorf("%q: stdout %q, stderr:\n%s\nwant:\n%s", args, out.String(), errb.String(), want)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"validate", "-x", path}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: gateway validate [-q] FILE") {
		t.Errorf("-x: exit %d, stderr %q", code, errb.String())
	}
}
