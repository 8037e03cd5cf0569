package config

import (
	"strings"
	"testing"
)

func TestValidateBrowsePath(t *testing.T) {
	tests := []struct{ path, err string }{
		{"Objects", ""},
		{"Objects/nsu=http://opcfoundation.org/UA/Machinery/;Machines/nsu=urn:v;M1/0:CurrentState/Number", ""},
		{"2:OperationMode", ""},
		{"a&/b/c&&d/2&:x/x:y/&nsu=z/工件", ""},
		{"", `invalid browse path "": empty`},
		{"/a", `invalid browse path "/a": element 1: empty name`},
		{"a/", `invalid browse path "a/": element 2: empty name`},
		{"a//b", `invalid browse path "a//b": element 2: empty name`},
		{"a/nsu=urn:x", `invalid browse path "a/nsu=urn:x": element 2: missing ";" after the namespace uri`},
		{"nsu=;a", `invalid browse path "nsu=;a": element 1: empty namespace uri`},
		{"nsu=urn:x;", `invalid browse path "nsu=urn:x;": element 1: empty name`},
		{"a/70000:b", `invalid browse path "a/70000:b": element 2: namespace index "70000" is not 0..65535`},
		{"2:", `invalid browse path "2:": element 1: empty name`},
		{"a&", `invalid browse path "a&": element 1: "&" at the end escapes nothing`},
	}
	for _, tt := range tests {
		err := ValidateBrowsePath(tt.path)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.err {
			t.Errorf("ValidateBrowsePath(%q) = %q, want %q", tt.path, got, tt.err)
		}
	}
}

// An OPC UA signal names its node by node id or by browse path, exactly one of them;
// browse_start needs a browse path; MQTT and Modbus signals have neither.
func TestBrowsePathSignals(t *testing.T) {
	const sig = `      state: {node: "ns=2;s=M1.State"}` + "\n"
	withModbus := strings.Replace(base, "sinks:", "  modbus:\n    - {name: rs485, endpoint: \"tcp://10.0.0.5\"}\nsinks:", 1)
	tests := []struct {
		name, yaml, want string
	}{
		{"browse path", strings.Replace(base, sig,
			"      state: {browse_path: \"Objects/nsu=urn:v;M1/State\"}\n      mode: {browse_path: \"2:Mode\", browse_start: \"nsu=urn:v;s=M1\"}\n", 1), ""},
		{"neither", strings.Replace(base, sig, "      state: {sampling_interval: 1s}\n", 1),
			"line 15: devices[0].signals.state.node: required: set node or browse_path"},
		{"both", strings.Replace(base, sig, "      state: {node: \"ns=2;s=M1.State\", browse_path: \"Objects/M1\"}\n", 1),
			"line 15: devices[0].signals.state.browse_path: not allowed together with node: set one of them"},
		{"start without path", strings.Replace(base, sig, "      state: {node: \"ns=2;s=M1.State\", browse_start: \"i=85\"}\n", 1),
			"line 15: devices[0].signals.state.browse_start: set without browse_path"},
		{"bad path", strings.Replace(base, sig, "      state: {browse_path: \"Objects//M1\"}\n", 1),
			`line 15: devices[0].signals.state.browse_path: invalid browse path "Objects//M1": element 2: empty name`},
		{"bad start", strings.Replace(base, sig, "      state: {browse_path: \"M1\", browse_start: \"ns=2;x=1\"}\n", 1),
			`line 15: devices[0].signals.state.browse_start: invalid node id "ns=2;x=1"`},
		{"mqtt", base + "  - {id: em1, kind: energy_meter, source: meters, topic: a/b, signals: {power_kw: {path: kw, browse_path: A}}}\n",
			"line 16: devices[1].signals.power_kw.browse_path: browse_path and browse_start are OPC UA keys; MQTT signals use topic and path"},
		{"modbus", withModbus + "  - {id: em9, kind: energy_meter, source: rs485, signals: {kwh: {browse_start: i=85, register: {area: holding, address: 72, type: float32}}}}\n",
			"line 18: devices[1].signals.kwh.browse_path: browse_path and browse_start are OPC UA keys; Modbus signals use register"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load([]byte(tc.yaml), noEnv)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("Load:\n got %s\nwant %s", got, tc.want)
			}
			if err == nil && tc.name == "browse path" {
				s := cfg.Devices[0].Signals["mode"]
				if s.BrowsePath != "2:Mode" || s.BrowseStart != "nsu=urn:v;s=M1" || s.Node != "" {
					t.Fatalf("decoded signal %+v", s)
				}
			}
		})
	}
}
