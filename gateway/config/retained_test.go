package config_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/config"
)

// opcuaDevices is a configuration of n OPC UA devices of 10 signals each, like the
// load harness's.
func opcuaDevices(n int) []byte {
	var b strings.Builder
	b.WriteString(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
sources:
  opcua:
    - {name: plc, endpoint: "opc.tcp://127.0.0.1:4840", security_policy: None, security_mode: None}
sinks:
  influx:
    - {name: tsdb, url: "http://127.0.0.1:8428", bucket: b}
devices:
`)
	for d := 1; d <= n; d++ {
		fmt.Fprintf(&b, "  - id: plc%d\n    kind: machine\n    source: plc\n    signals:\n", d)
		for k := 1; k <= 10; k++ {
			fmt.Fprintf(&b, "      value_%02d: {node: \"nsu=urn:ganlink:loadgen;s=V%d\", sampling_interval: 1s}\n", k, (d-1)*10+k)
		}
	}
	return []byte(b.String())
}

// TestLocateAfterLoad: problems found after loading (by the adapters, at build time)
// still get the line of their path, or of its closest ancestor, although the loaded
// configuration no longer keeps the YAML node tree or the path map of loading.
func TestLocateAfterLoad(t *testing.T) {
	cfg, err := load(opcuaDevices(3), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Locate(config.Errors{
		{Path: "devices[1].signals.value_02.node", Msg: "a"},
		{Path: "devices[2].signals.value_10.nope", Msg: "b"},
		{Path: "sinks.influx[0].url", Msg: "c"},
		{Path: "devices[1].signals.value_03", Msg: "d", Line: 99},
	})
	// Devices start on line 9 and take 14 lines: device 2 (devices[1]) has value_02 on
	// line 28, device 3 value_10 on line 50.
	want := map[string]int{"a": 28, "b": 50, "c": 7, "d": 99}
	for _, p := range got {
		if p.Line != want[p.Msg] {
			t.Errorf("%s (%s): line %d, want %d", p.Path, p.Msg, p.Line, want[p.Msg])
		}
	}
}

// BenchmarkLoadRetained loads a configuration of 1 000 OPC UA devices of 10 signals
// and reports the heap the loaded configuration keeps alive per signal (after a
// collection, with the configuration still referenced) and the load's cost.
func BenchmarkLoadRetained(b *testing.B) {
	data := opcuaDevices(1000)
	var before, after runtime.MemStats
	var keep []*config.Config
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		cfg, err := load(data, noEnv)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		keep = append(keep[:0], cfg)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/10000, "retained-B/signal")
	runtime.KeepAlive(keep)
}
