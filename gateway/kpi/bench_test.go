package kpi_test

import (
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// BenchmarkProcess measures Process per point in steady state: one device reporting
// every 100 ms, with Tick every 10 s of sample time (outside the timer).
func BenchmarkProcess(b *testing.B) {
	cases := []struct {
		name   string
		dev    kpi.Device
		fields func(i int, fs []point.Field)
		n      int
	}{
		{"meter_3_fields", kpi.Device{ID: "em1", Kind: "energy_meter", Source: "mqtt", Digital: true,
			Interval: time.Second, Signals: []string{"energy_kwh_total", "power_kw", "current_a"}},
			func(i int, fs []point.Field) {
				fs[0] = good("energy_kwh_total", 1000+float64(i)*0.001)
				fs[1] = good("power_kw", 30+float64(i%7))
				fs[2] = good("current_a", 50+float64(i%5))
			}, 3},
		{"cnc_1_field", kpi.Device{ID: "cnc1", Kind: "cnc", Source: "opc", Digital: true,
			Signals: []string{"machinery_item_state", "spindle_speed_rpm"}},
			func(i int, fs []point.Field) { fs[0] = good("spindle_speed_rpm", 1000+float64(i%2)*200) }, 1},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			others := make([]kpi.Device, 0, 50)
			for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
				others = append(others, kpi.Device{ID: id, Kind: "cnc", Source: "opc"})
			}
			e := newEngine(b, kpi.Config{}, append(others, bc.dev)...)
			t0 := at("10:00:00")
			e.Tick(t0)
			batch := point.Batch{{Measurement: bc.dev.Kind, Device: bc.dev.ID, Fields: make([]point.Field, bc.n)}}
			const step = 100 * time.Millisecond
			i := 0
			next := func() {
				ts := t0.Add(time.Duration(i) * step)
				batch[0].Time = ts.UnixNano()
				bc.fields(i, batch[0].Fields)
				e.Process(batch)
				i++
				if i%100 == 0 {
					e.Tick(ts)
				}
			}
			for range 3 * 36000 { // warm up for 3 simulated hours
				next()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ts := t0.Add(time.Duration(i) * step)
				batch[0].Time = ts.UnixNano()
				bc.fields(i, batch[0].Fields)
				e.Process(batch)
				i++
				if i%100 == 0 {
					b.StopTimer()
					e.Tick(ts)
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkTick measures closing one minute of a 50-device workshop (one Tick at a
// minute boundary, after 60 s of samples every second from each device).
func BenchmarkTick(b *testing.B) {
	var devs []kpi.Device
	for i := range 50 {
		devs = append(devs, kpi.Device{ID: string(rune('A'+i%26)) + string(rune('a'+i/26)), Kind: "cnc",
			Source: "opc", Digital: true, Signals: []string{"machinery_item_state", "parts_total", "power_kw"}})
	}
	e := newEngine(b, kpi.Config{}, devs...)
	t0 := at("10:00:00")
	e.Tick(t0)
	batch := make(point.Batch, len(devs))
	for i := range batch {
		batch[i] = point.Point{Device: devs[i].ID, Fields: make([]point.Field, 3)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		for s := range 60 {
			ts := t0.Add(time.Duration(n*60+s) * time.Second)
			for i := range batch {
				batch[i].Time = ts.UnixNano()
				batch[i].Fields[0] = good("machinery_item_state", float64(3-(s/20)%2))
				batch[i].Fields[1] = good("parts_total", float64(n*60+s))
				batch[i].Fields[2] = good("power_kw", float64(5+s%3))
			}
			e.Process(batch)
		}
		b.StartTimer()
		e.Tick(t0.Add(time.Duration(n*60+60)*time.Second + 30*time.Second))
	}
}
