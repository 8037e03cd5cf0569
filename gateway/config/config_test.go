package config_test

import (
	"github.com/ganlink/ganlink/adapters/modbus"
	"github.com/ganlink/ganlink/adapters/opcua"
	"github.com/ganlink/ganlink/gateway/config"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const base = `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  opcua:
    - {name: cnc, endpoint: "opc.tcp://127.0.0.1:4840"}
  mqtt:
    - {name: meters, broker: "tcp://127.0.0.1:1883"}
sinks:
  influx:
    - {name: tsdb, url: "http://127.0.0.1:8428", bucket: b}
devices:
  - id: m1
    kind: cnc
    source: cnc
    signals:
      state: {node: "ns=2;s=M1.State"}
`

func noEnv(string) (string, bool) { return "", false }

func TestExampleConfigIsValid(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "gateway.example.yaml")
	cfg, err := loadFile(path)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if cfg.Workshop.ID != "ws1" || len(cfg.Devices) != 4 || *cfg.Devices[3].Binding.(*modbus.DeviceSpec).UnitID != 1 ||
		cfg.Devices[3].Signals["power_kw"].Binding.(*modbus.SignalSpec).Register.Address != 0x34 || !cfg.Devices[0].IsDigital() || cfg.Devices[2].IsDigital() {
		t.Fatalf("unexpected decode: %+v", cfg)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := load([]byte(base), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.Listen != "127.0.0.1:9273" || cfg.Queue.Fsync != "" || cfg.Queue.MaxBytes.Set() ||
		cfg.Workshop.Timezone != "Asia/Shanghai" || *mqttSource(cfg).QoS != 1 ||
		mqttSource(cfg).ClientID != "ganlink-ws1-meters" || cfg.Sinks.Influx[0].Gzip != nil ||
		cfg.Sinks.Influx[0].FlushInterval.Set() || !cfg.Devices[0].IsDigital() {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unknown key", strings.Replace(base, "    source: cnc\n", "    source: cnc\n    sorce: x\n", 1),
			"line 14: devices[0].sorce: unknown key; did you mean \"source\"?"},
		{"bad node id", strings.Replace(base, `ns=2;s=M1.State`, `ns=2;x=1`, 1),
			`line 15: devices[0].signals.state.node: invalid node id "ns=2;x=1"`},
		{"bad namespace index", strings.Replace(base, `ns=2;s=M1.State`, `ns=70000;s=a`, 1),
			`line 15: devices[0].signals.state.node: invalid node id "ns=70000;s=a": namespace index "70000" is not 0..65535`},
		{"missing device source", strings.Replace(base, "    source: cnc\n", "", 1),
			"line 11: devices[0].source: required: the device has signals"},
		{"unknown device source", strings.Replace(base, "    source: cnc\n", "    source: plc\n", 1),
			`line 13: devices[0].source: unknown source "plc"`},
		{"duplicate device id", base + "  - {id: m1, kind: machine}\n",
			`line 16: devices[1].id: duplicate device id "m1" (also devices[0])`},
		{"bad duration", strings.Replace(base, `endpoint: "opc.tcp://127.0.0.1:4840"}`, `endpoint: "opc.tcp://127.0.0.1:4840", publishing_interval: 5x}`, 1),
			`line 4: sources.opcua[0].publishing_interval: invalid duration "5x": want e.g. "500ms", "1s", "5m"`},
		{"bad region", strings.Replace(base, `"360100"`, `"3601"`, 1),
			`line 1: workshop.region: invalid region code "3601": want a 6-digit GB/T 2260 code such as "360100"`},
		{"bad qos", strings.Replace(base, `broker: "tcp://127.0.0.1:1883"}`, `broker: "tcp://127.0.0.1:1883", qos: 2}`, 1),
			"line 6: sources.mqtt[0].qos: invalid qos 2: want 0 or 1"},
		{"wrong type", strings.Replace(base, "    kind: cnc\n", "    kind: cnc\n    key_process: maybe\n", 1),
			"line 13: devices[0].key_process: invalid value \"maybe\": want true or false"},
		{"unset env", strings.Replace(base, "bucket: b", `bucket: "${GANLINK_BUCKET}"`, 1),
			`line 9: sinks.influx[0].bucket: environment variable "GANLINK_BUCKET" is not set`},
		{"bad fsync", base + "queue: {fsync: sometimes}\n",
			`line 16: queue.fsync: invalid value "sometimes": want "always" or a duration such as "1s"`},
		{"mqtt signal without path", base + "  - {id: em1, kind: energy_meter, source: meters, topic: a/b, signals: {power_kw: {unit: kW}}}\n",
			"line 16: devices[1].signals.power_kw.path: required"},
		{"bad topic", base + "  - {id: em1, kind: energy_meter, source: meters, topic: a/#/b, signals: {power_kw: {path: kw}}}\n",
			`line 16: devices[1].topic: invalid topic "a/#/b": '+' and '#' must fill a whole level, '#' only last`},
		{"syntax", "workshop: [", "line 1: did not find expected node content"},
		{"modbus bad area", strings.Replace(base, "sinks:", "  modbus:\n    - {name: rs485, endpoint: \"tcp://10.0.0.5\"}\nsinks:", 1) +
			"  - {id: em9, kind: energy_meter, source: rs485, signals: {kwh: {register: {area: holdings, address: 72, type: float32}}}}\n",
			`line 18: devices[1].signals.kwh.register.area: invalid area "holdings": want holding, input, coil or discrete`},
		{"modbus coil type", strings.Replace(base, "sinks:", "  modbus:\n    - {name: rs485, endpoint: \"tcp://10.0.0.5\"}\nsinks:", 1) +
			"  - {id: em9, kind: energy_meter, source: rs485, unit_id: 300, signals: {on: {register: {area: coil, address: 1, type: float32}}}}\n",
			"line 18: devices[1].unit_id: invalid unit id 300: want 0..255\nline 18: devices[1].signals.on.register.type: invalid type \"float32\" for area \"coil\": want bool"},
		{"retry_max below retry_min", strings.Replace(base, "bucket: b}", "bucket: b, retry_min: 2s, retry_max: 300ms}", 1),
			`line 9: sinks.influx[0].retry_max: invalid value "300ms": must not be below retry_min (2s)`},
		{"max_time_ahead too small", strings.Replace(base, "sources:\n", "sources:\n  max_time_ahead: 500ms\n", 1),
			`line 3: sources.max_time_ahead: invalid value "500ms": want at least 1s`},
		{"dead letters keep", base + "dead_letters: {keep: -1}\n",
			`line 16: dead_letters.keep: invalid value -1: want 1 to 1000`},
		{"dead letters payload", base + "dead_letters: {keep: 1001, max_payload_bytes: 2MiB}\n",
			"line 16: dead_letters.keep: invalid value 1001: want 1 to 1000\nline 16: dead_letters.max_payload_bytes: invalid size \"2MiB\": want 1 byte to 1MiB"},
		{"reconnect_max too small", strings.Replace(base, `endpoint: "opc.tcp://127.0.0.1:4840"}`, `endpoint: "opc.tcp://127.0.0.1:4840", reconnect_max: 100ms}`, 1),
			`line 4: sources.opcua[0].reconnect_max: invalid value "100ms": want at least 500ms`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load([]byte(tc.yaml), noEnv)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Fatalf("got  %q\nwant %q", err.Error(), tc.want)
			}
		})
	}
}

func TestEveryErrorReported(t *testing.T) {
	y := strings.Replace(base, `"360100"`, `"x"`, 1) + "  - {id: m1, kind: Bad}\n"
	_, err := load([]byte(y), noEnv)
	errs, ok := err.(config.Errors)
	if !ok || len(errs) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
}

func TestEnvAndSecretFile(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(base, "bucket: b", `bucket: "${BUCKET}", token_file: `+tokenFile, 1)
	cfg, err := load([]byte(y), func(k string) (string, bool) {
		if k == "BUCKET" {
			return "prod", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sinks.Influx[0]
	if s.Bucket != "prod" || s.Token.Reveal() != "s3cret" {
		t.Fatalf("got bucket %q token %q", s.Bucket, s.Token.Reveal())
	}
	if got := s.Token.String(); got != "******" {
		t.Fatalf("secret printed as %q", got)
	}
}

// TestAnchoredBindings: a signal (or a whole signals mapping) written once with an
// anchor and used again through an alias gives each device its binding, decoded by
// the kind of that device's source; a key of the wrong kind is reported at the line of
// the alias, where the device uses it.
func TestAnchoredBindings(t *testing.T) {
	y := base + `  - id: m2
    kind: cnc
    source: cnc
    signals:
      state: *st
  - id: m3
    kind: cnc
    source: cnc
    signals: *sigs
`
	y = strings.Replace(y, "    signals:\n      state: {node", "    signals: &sigs\n      state: &st {node", 1)
	cfg, err := load([]byte(y), noEnv)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	for _, d := range cfg.Devices {
		b, ok := d.Signals["state"].Binding.(*opcua.SignalSpec)
		if !ok || b.Node != "ns=2;s=M1.State" {
			t.Fatalf("device %s: binding %#v", d.ID, d.Signals["state"].Binding)
		}
	}
	y += `  - id: em1
    kind: energy_meter
    source: meters
    topic: a/b
    signals: *sigs
`
	_, err = load([]byte(y), noEnv)
	want := `line 29: devices[3].signals.state.node: a key of opcua signals, not of mqtt signals (source "meters")` + "\n" +
		`line 29: devices[3].signals.state.path: required`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}
