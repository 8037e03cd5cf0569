package modbus

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// BenchmarkRTUBus measures polls per second on one bus: three meters polled in turn,
// one read of 10 holding registers each (an 8-byte request, a 25-byte reply), through
// the client and serialline.Bus, against devsim's slave on a socat pty that answers as
// late as a real line at the baud rate (SetWireSpeed). It reports polls/s, the
// theoretical wire rate (request + 3.5-character gap + reply + gap) and the share of it
// reached, by the mean and by the median poll.
func BenchmarkRTUBus(b *testing.B) {
	for _, baud := range []int{9600, 115200} {
		b.Run(fmt.Sprint(baud), func(b *testing.B) {
			bk := newBank()
			units := map[byte]devsim.RTUUnit{}
			for u := uint8(1); u <= 3; u++ {
				bk.setRegs(u, "holding", 0, make([]uint16, 10)...)
				units[u] = bankUnit{bk, u}
			}
			pp := testsrv.StartPtyPair(b)
			sl := devsim.NewRTUSlave(units)
			sl.SetWireSpeed(baud)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { sl.ServePort(ctx, pp.B); close(done) }()
			b.Cleanup(func() { cancel(); <-done })
			l := serialline.Line{Endpoint: "serial://" + pp.A, BaudRate: baud, ResponseTimeout: time.Second}
			l.ApplyDefaults("none")
			l.Check(func(f, format string, a ...any) { b.Fatalf(f+": "+format, a...) })
			bus := serialline.NewBus(l)
			defer bus.Close()
			c := &rtuClient{bus: bus, ctx: ctx}
			ops := make([]time.Duration, b.N)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				c.SetUnitId(uint8(i%3 + 1))
				t0 := time.Now()
				if _, err := c.ReadRawBytes(0, 20, mb.HOLDING_REGISTER); err != nil {
					b.Fatal(err)
				}
				ops[i] = time.Since(t0)
			}
			el := time.Since(start)
			b.StopTimer()
			wire := l.WireTime(8) + l.FrameGap() + l.WireTime(25) + l.FrameGap()
			polls := float64(b.N) / el.Seconds()
			slices.Sort(ops)
			b.ReportMetric(polls, "polls/s")
			b.ReportMetric(1/wire.Seconds(), "wire_polls/s")
			b.ReportMetric(100*polls*wire.Seconds(), "%_of_wire")
			// The median poll, robust against the scheduler's stalls on a busy machine.
			b.ReportMetric(100*wire.Seconds()/ops[len(ops)/2].Seconds(), "median_%_of_wire")
		})
	}
}
