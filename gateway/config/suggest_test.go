package config_test

import (
	"strings"
	"testing"
)

// TestUnknownKeySuggestions: an unknown key names the nearest key accepted at its
// place, common or adapter-owned (the set the decoder itself accepts), when it is
// within the typo threshold, and nothing otherwise.
func TestUnknownKeySuggestions(t *testing.T) {
	for _, c := range []struct{ name, old, new, want string }{
		{"source key of an adapter", `broker: "tcp://127.0.0.1:1883"}`, `brokr: "tcp://127.0.0.1:1883"}`,
			"line 6: sources.mqtt[0].brokr: unknown key; did you mean \"broker\"?\nline 6: sources.mqtt[0].broker: required"},
		{"source kind", "  mqtt:\n", "  mqt:\n", "line 5: sources.mqt: unknown key; did you mean \"mqtt\"?"},
		{"top-level section", "devices:\n", "devics:\n", "line 10: devics: unknown key; did you mean \"devices\"?\ndevices: empty inventory: list the workshop's equipment and meters, including machines without a network connection"},
		{"common device key", "    kind: cnc\n", "    knd: cnc\n    kind: cnc\n", "line 12: devices[0].knd: unknown key; did you mean \"kind\"?"},
		{"adapter signal key", `state: {node: "ns=2;s=M1.State"}`, `state: {node: "ns=2;s=M1.State", sampling_intervall: 1s}`,
			"line 15: devices[0].signals.state.sampling_intervall: unknown key; did you mean \"sampling_interval\"?"},
		{"swapped letters", "    kind: cnc\n", "    kind: cnc\n    calss: equipment\n", "line 13: devices[0].calss: unknown key; did you mean \"class\"?"},
		{"sink key", "bucket: b}", "buckt: b}", "line 9: sinks.influx[0].buckt: unknown key; did you mean \"bucket\"?\nline 9: sinks.influx[0].bucket: required"},
		{"too far for a suggestion", "    kind: cnc\n", "    kind: cnc\n    colour: red\n", "line 13: devices[0].colour: unknown key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("%q not in base", c.old)
			}
			_, err := load([]byte(strings.Replace(base, c.old, c.new, 1)), noEnv)
			if err == nil || err.Error() != c.want {
				t.Fatalf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}
