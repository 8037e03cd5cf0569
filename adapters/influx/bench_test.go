package influx

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/ganlink/ganlink/gateway/point"
)

// meterBatch is n energy meter points with three good fields and the full identity tag
// set, as one poll of a workshop's meters produces.
func meterBatch(n int) point.Batch {
	b := make(point.Batch, n)
	for i := range b {
		dev := fmt.Sprintf("em-%04d", i)
		b[i] = point.Point{
			Measurement: "energy_meter",
			Device:      dev,
			Tags: []point.Tag{
				{Key: "device", Value: dev},
				{Key: "enterprise", Value: "acme-precision"},
				{Key: "kind", Value: "energy_meter"},
				{Key: "park", Value: "xiaolan"},
				{Key: "region", Value: "360100"},
				{Key: "workshop", Value: "ws-01"},
			},
			Fields: []point.Field{
				{Key: "energy_kwh_total", Value: 123456.78 + float64(i)},
				{Key: "power_kw", Value: 17.25 + float64(i%7)},
				{Key: "voltage_v", Value: 230.4},
			},
			Time: t0 + int64(i),
		}
	}
	return b
}

// BenchmarkEncodeBatch encodes a 1000-point batch of 3-field meter points into a
// reused buffer, as the pipeline does before queueing.
func BenchmarkEncodeBatch(b *testing.B) {
	batch := meterBatch(1000)
	buf, _ := point.AppendBatch(nil, batch)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = point.AppendBatch(buf[:0], batch)
	}
}

// BenchmarkCompress gzips the same block as Write does (a kept writer, BestSpeed).
func BenchmarkCompress(b *testing.B) {
	block, _ := point.AppendBatch(nil, meterBatch(1000))
	b.SetBytes(int64(len(block)))
	b.ReportAllocs()
	var n int
	var comps compressors
	for b.Loop() {
		c := comps.get()
		n = len(c.compress(block))
		comps.put(c)
	}
	b.ReportMetric(float64(n)/float64(len(block)), "ratio")
}

// TestCompressorsSurviveCollections: a sink's idle gzip writers are kept across garbage
// collections (a sync.Pool dropped them, and every flush after a collection allocated a
// new megabyte), at most keepCompressors of them.
func TestCompressorsSurviveCollections(t *testing.T) {
	var comps compressors
	a, b, c := comps.get(), comps.get(), comps.get()
	comps.put(a)
	comps.put(b)
	comps.put(c) // beyond keepCompressors: left to the collector
	runtime.GC()
	runtime.GC()
	got := []*compressor{comps.get(), comps.get()}
	if !(got[0] == b && got[1] == a) {
		t.Fatalf("after two collections got %p %p, want the kept %p %p", got[0], got[1], b, a)
	}
	if d := comps.get(); d == a || d == b || d == c {
		t.Fatal("a third writer was kept")
	}
}
