package lastvalue

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
)

// benchConfig is 1 000 devices of 10 signals (value_01..value_10, unit "m").
func benchConfig() *config.Config {
	cfg := &config.Config{}
	for d := 1; d <= 1000; d++ {
		sigs := map[string]config.Signal{}
		for k := 1; k <= 10; k++ {
			sigs[fmt.Sprintf("value_%02d", k)] = config.Signal{Unit: "m"}
		}
		cfg.Devices = append(cfg.Devices, config.Device{ID: fmt.Sprintf("plc%d", d), Kind: "machine", Source: "plc", Signals: sigs})
	}
	return cfg
}

// BenchmarkProcess: one op is a batch of 100 points of 10 fields, for 100 of the
// 1 000 devices.
func BenchmarkProcess(b *testing.B) {
	cfg := benchConfig()
	lv := New(cfg)
	batch := make(point.Batch, 100)
	for i := range batch {
		fs := make([]point.Field, 10)
		for k := range fs {
			fs[k] = point.Field{Key: fmt.Sprintf("value_%02d", k+1), Value: float64(k)}
		}
		batch[i] = point.Point{Measurement: "machine", Device: cfg.Devices[i*10].ID, Fields: fs}
	}
	b.ReportAllocs()
	ts := int64(0)
	for b.Loop() {
		ts++
		for i := range batch {
			batch[i].Time = ts
		}
		lv.Process(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/field")
}

// BenchmarkMemory reports the heap a store for 10 000 signals keeps, per signal.
func BenchmarkMemory(b *testing.B) {
	cfg := benchConfig()
	var before, after runtime.MemStats
	var keep *Store
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		keep = New(cfg)
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/10000, "retained-B/signal")
	runtime.KeepAlive(keep)
}
