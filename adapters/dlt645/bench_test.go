package dlt645_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/adapters/dlt645"
)

// BenchmarkBusPolls measures polls per second on one bus: three meters polled in turn
// as fast as the bus allows (poll interval 10 ms), one data item each (00010000: a
// 20-byte request with its 4 wake-up bytes, a 24-byte reply), through the whole source
// (serialline.Bus, frame decoding, points), against devsim's meters on a socat pty that
// answer as late as a real line at the baud rate (SetWireSpeed, 8E1 = 11 bits a
// character). It reports polls/s, the theoretical wire rate (request + reply + the
// bus's inter-frame gap before each request) and the share of it reached.
func BenchmarkBusPolls(b *testing.B) {
	for _, baud := range []int{2400, 9600} {
		b.Run(fmt.Sprint(baud), func(b *testing.B) {
			tb := ptyTestbed(b, meterAt(b, addr1, 1, 1), meterAt(b, addr2, 1, 2), meterAt(b, addr3, 1, 3))
			tb.bus.SetWireSpeed(baud)
			line := lineOf(tb.endpoint, time.Second)
			line.BaudRate = baud
			var devs []dlt645.Device
			for i, a := range []string{addr1, addr2, addr3} {
				devs = append(devs, meterDevice(fmt.Sprintf("em%d", i+1), a, 10*time.Millisecond, "energy_kwh_total=00010000"))
			}
			rec := &adaptertest.Recorder{}
			src, err := dlt645.New(dlt645.Config{Name: "bench", Line: line, Devices: devs}, rec, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			b.ResetTimer()
			start := time.Now()
			go func() { _ = src.Run(ctx, rec.Emit); close(done) }()
			for src.Requests() < int64(b.N)+1 {
				time.Sleep(time.Millisecond)
			}
			el := time.Since(start)
			b.StopTimer()
			cancel()
			<-done
			if errs := rec.Errors(); len(errs) > 0 {
				b.Fatalf("errors: %q", errs)
			}
			l := line
			l.ApplyDefaults(dlt645.DefaultParity)
			wire := l.WireTime(20) + l.WireTime(24) + l.FrameGap()
			polls := float64(b.N) / el.Seconds()
			b.ReportMetric(polls, "polls/s")
			b.ReportMetric(1/wire.Seconds(), "wire_polls/s")
			b.ReportMetric(100*polls*wire.Seconds(), "%_of_wire")
		})
	}
}
