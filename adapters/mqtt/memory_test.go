package mqtt

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/ganlink/ganlink/gateway/point"
)

// BenchmarkDecoderMemory reports the heap a decoder keeps for 1 000 meter bindings of
// one model (three JSON fields and a timestamp each), per binding.
func BenchmarkDecoderMemory(b *testing.B) {
	cfg := Config{Name: "meters", MaxPayloadBytes: DefaultMaxPayloadBytes}
	for i := range 1000 {
		cfg.Bindings = append(cfg.Bindings, Binding{
			Device: fmt.Sprintf("meter%d", i), Measurement: "energy_meter", Topic: fmt.Sprintf("plant/ws1/meter/%d", i),
			TimestampPath: "ts", TimestampFormat: "epoch_ms",
			Fields: []FieldBinding{{Path: "kwh", Field: "energy_kwh_total"}, {Path: "kw", Field: "power_kw"}, {Path: "m3", Field: "water_m3_total"}},
		})
	}
	var keep *decoder
	var before, after runtime.MemStats
	for b.Loop() {
		keep = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		keep = newDecoder(&cfg, point.NopObserver{})
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	runtime.KeepAlive(keep)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1000, "B/binding")
}
