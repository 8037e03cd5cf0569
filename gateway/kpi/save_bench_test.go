package kpi_test

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// meterFleet is n energy meters reporting 3 fields.
func meterFleet(n int) []kpi.Device {
	devs := make([]kpi.Device, n)
	for i := range devs {
		devs[i] = kpi.Device{ID: fmt.Sprintf("em%03d", i), Kind: "energy_meter", Source: "mqtt",
			Digital: true, Interval: time.Second,
			Signals: []string{"energy_kwh_total", "power_kw", "current_a"}}
	}
	return devs
}

// feedMeters sends every device one point of 3 fields per step from t0 for d, with Tick
// every second of sample time; it returns the time after the last step.
func feedMeters(e *kpi.Engine, devs []kpi.Device, t0 time.Time, d, step time.Duration) time.Time {
	batch := make(point.Batch, len(devs))
	for i := range batch {
		batch[i] = point.Point{Measurement: "energy_meter", Device: devs[i].ID, Fields: make([]point.Field, 3)}
	}
	n := int(d / step)
	perTick := max(1, int(time.Second/step))
	for s := range n {
		ts := t0.Add(time.Duration(s) * step)
		for i := range batch {
			batch[i].Time = ts.UnixNano()
			batch[i].Fields[0] = good("energy_kwh_total", 1000+float64(s)*0.001)
			batch[i].Fields[1] = good("power_kw", 30+float64((s+i)%7))
			batch[i].Fields[2] = good("current_a", 50+float64((s+i)%5))
		}
		e.Process(batch)
		if s%perTick == perTick-1 {
			e.Tick(ts)
		}
	}
	return t0.Add(time.Duration(n) * step)
}

// BenchmarkSave measures SaveState of an engine holding ~90 s of buffered samples (100
// meters, 3 fields every 100 ms: 270 000 field values), while a goroutine keeps calling
// Process; stall-µs is the longest single Process call seen during the saves.
func BenchmarkSave(b *testing.B) {
	devs := meterFleet(100)
	e := newEngine(b, kpi.Config{}, devs...)
	t0 := at("10:00:00")
	e.Tick(t0)
	// At 10:01:29.9 the windows 10:00 and 10:01 are still open (closed at end + 30 s).
	end := feedMeters(e, devs, t0, 90*time.Second, 100*time.Millisecond)
	var stall atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		p := point.Batch{{Measurement: "energy_meter", Device: devs[0].ID, Time: end.UnixNano(),
			Fields: []point.Field{good("current_a", 1)}}}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p[0].Fields[0].Value = float64(i % 2)
			s := time.Now()
			e.Process(p)
			if d := int64(time.Since(s)); d > stall.Load() {
				stall.Store(d)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := e.SaveState(io.Discard, end); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(stall.Load())/1e3, "stall-µs")
}

// BenchmarkMemory reports the live heap an engine holds per device in steady state:
// meters reporting 3 fields every second, Tick every second, after 10 minutes.
func BenchmarkMemory(b *testing.B) {
	const n = 200
	devs := meterFleet(n)
	var live float64
	for range b.N {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		e := newEngine(b, kpi.Config{}, devs...)
		t0 := at("10:00:00")
		e.Tick(t0)
		feedMeters(e, devs, t0, 10*time.Minute+45*time.Second, time.Second)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		live = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n
		runtime.KeepAlive(e)
	}
	b.ReportMetric(live, "live-B/device")
}
