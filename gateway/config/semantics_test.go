package config_test

import (
	"github.com/ganlink/ganlink/gateway/config"
	"reflect"
	"strings"
	"testing"
)

// semBase has one OPC UA machine and one MQTT meter; the cases replace the marked lines.
const semBase = `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  opcua:
    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:4840"}
  mqtt:
    - {name: meters, broker: "tcp://127.0.0.1:1883"}
devices:
  - id: m7
    kind: machine
    source: cnc
    signals:
      st: {node: "ns=2;s=St", role: machinery_item_state}
      pcs: {node: "ns=2;s=Pcs", role: parts_total, counter: true}
  - id: em1
    kind: power
    class: meter
    source: meters
    topic: m/em1
    signals:
      kwh: {path: kwh, role: energy_kwh_total, counter: true}
`

func TestSemanticsErrors(t *testing.T) {
	rep := func(old, new string) string {
		if !strings.Contains(semBase, old) {
			panic(old)
		}
		return strings.Replace(semBase, old, new, 1)
	}
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown role", rep("role: machinery_item_state", "role: state"),
			[]string{`line 12: devices[0].signals.st.role: unknown role "state": want one of machinery_item_state, operation_mode, channel_state, program_state, alarm, spindle_speed_rpm, parts_total, energy_kwh_total, power_kw, water_m3_total`}},
		{"long unknown role is truncated", rep("role: machinery_item_state", "role: "+strings.Repeat("x", 100)),
			[]string{`line 12: devices[0].signals.st.role: unknown role "` + strings.Repeat("x", 64) + `…": want one of machinery_item_state, operation_mode, channel_state, program_state, alarm, spindle_speed_rpm, parts_total, energy_kwh_total, power_kw, water_m3_total`}},
		{"two signals one role", rep("role: machinery_item_state", "role: parts_total"),
			[]string{`line 12: devices[0].signals.st.role: role "parts_total" is also held by signal "pcs": each role names one signal of a device`}},
		{"role and a field named like it", rep("st: {", "parts_total: {node: \"ns=2;s=P\"}\n      st: {"),
			[]string{`line 14: devices[0].signals.pcs.role: role "parts_total" is also held by signal "parts_total": each role names one signal of a device`}},
		{"counter false on a counter role", rep("role: parts_total, counter: true", "role: parts_total, counter: false"),
			[]string{`line 13: devices[0].signals.pcs.counter: false, but role "parts_total" is a cumulative counter: remove counter or give the signal another role`}},
		{"counter false on a counter field name", rep("st: {", "water_m3_total: {node: \"ns=2;s=W\", counter: false}\n      st: {"),
			[]string{`line 12: devices[0].signals.water_m3_total.counter: false, but role "water_m3_total" is a cumulative counter: remove counter or give the signal another role`}},
		{"counter on a state role", rep("role: machinery_item_state}", "role: power_kw, counter: true}"),
			[]string{`line 12: devices[0].signals.st.counter: true, but role "power_kw" is not a counter (counter roles: parts_total, energy_kwh_total, water_m3_total)`}},
		{"max_rate zero", rep("role: energy_kwh_total, counter: true}", "role: energy_kwh_total, counter: true, max_rate: 0}"),
			[]string{`line 20: devices[1].signals.kwh.max_rate: invalid value 0: want a finite number > 0 (the counter's unit per hour)`}},
		{"max_rate negative", rep("role: energy_kwh_total, counter: true}", "role: energy_kwh_total, counter: true, max_rate: -5}"),
			[]string{`line 20: devices[1].signals.kwh.max_rate: invalid value -5: want a finite number > 0 (the counter's unit per hour)`}},
		{"max_rate infinite", rep("role: energy_kwh_total, counter: true}", "role: energy_kwh_total, counter: true, max_rate: .inf}"),
			[]string{`line 20: devices[1].signals.kwh.max_rate: invalid value +Inf: want a finite number > 0 (the counter's unit per hour)`}},
		{"max_rate on a state role", rep("role: machinery_item_state}", "role: machinery_item_state, max_rate: 60}"),
			[]string{`line 12: devices[0].signals.st.max_rate: applies to counter roles only (parts_total, energy_kwh_total, water_m3_total); the signal's role is "machinery_item_state"`}},
		{"bad class", rep("class: meter", "class: instrument"),
			[]string{`line 16: devices[1].class: invalid value "instrument": want one of equipment, meter`}},
		{"long bad class is truncated", rep("class: meter", "class: \"仪"+strings.Repeat("x", 70)+"\""),
			[]string{`line 16: devices[1].class: invalid value "仪` + strings.Repeat("x", 61) + `…": want one of equipment, meter`}},
		{"key process meter", rep("class: meter", "class: meter\n    key_process: true\n    smart: true"),
			[]string{`line 17: devices[1].key_process: a meter is not production equipment (class meter): key_process applies to class equipment only`,
				`line 18: devices[1].smart: a meter is not production equipment (class meter): smart applies to class equipment only`}},
		{"numerically controlled meter by kind", rep("kind: power\n    class: meter", "kind: energy_meter\n    numerical_control: true"),
			[]string{`line 16: devices[1].numerical_control: a meter is not production equipment (class meter by its kind "energy_meter"; set class: equipment if it is production equipment): numerical_control applies to class equipment only`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load([]byte(tc.yaml), noEnv)
			if err == nil {
				t.Fatal("loaded")
			}
			var got []string
			for _, p := range err.(config.Errors) {
				got = append(got, p.Error())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestSemanticsAccessors(t *testing.T) {
	cfg, err := load([]byte(strings.Replace(semBase, "    signals:\n      st:",
		"    signals:\n      alarm: {node: \"ns=2;s=A\"}\n      temp: {node: \"ns=2;s=T\", counter: true}\n      spindle_speed_rpm: {node: \"ns=2;s=S\", role: spindle_speed_rpm, counter: false}\n      st:", 1)), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	m7, em1 := &cfg.Devices[0], &cfg.Devices[1]
	if got, want := m7.Roles(), map[string]string{"st": "machinery_item_state", "pcs": "parts_total"}; !reflect.DeepEqual(got, want) {
		t.Errorf("m7 roles %v, want %v", got, want)
	}
	if got, want := m7.Counters(), []string{"pcs", "temp"}; !reflect.DeepEqual(got, want) {
		t.Errorf("m7 counters %v, want %v", got, want)
	}
	for field, want := range map[string]string{"alarm": "alarm", "temp": "", "st": "machinery_item_state", "spindle_speed_rpm": "spindle_speed_rpm"} {
		s := m7.Signals[field]
		if got := s.RoleOf(field); got != want {
			t.Errorf("RoleOf(%q) = %q, want %q", field, got, want)
		}
	}
	if got, want := em1.Roles(), map[string]string{"kwh": "energy_kwh_total"}; !reflect.DeepEqual(got, want) {
		t.Errorf("em1 roles %v, want %v", got, want)
	}
}
