package dlt645_test

import (
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/adapters/dlt645"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/devsim"
)

// TestConformance runs the source contract against simulated meters on a socat pty
// pair. The bad inputs are a reply with a bad checksum and an exception reply; Stop
// and Start stop socat (the serial port vanishes) and start it again.
func TestConformance(t *testing.T) {
	m := meterAt(t, addr1, 3.3, 100)
	tb := ptyTestbed(t, m)
	kwh := 100.0
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, obs point.Observer) adaptertest.Source {
			return newSource(t, dlt645.Config{Line: lineOf(tb.endpoint, 500*time.Millisecond),
				Devices: []dlt645.Device{meterDevice("em1", addr1, 50*time.Millisecond, "energy_kwh_total=00010000")}}, obs)
		},
		Good: func(*testing.T) adaptertest.Match {
			kwh += 1.25
			m.Inject(devsim.DLT645FaultNone, 0)
			m.Set(0x00010000, kwh)
			return adaptertest.FieldIs("em1", "energy_kwh_total", kwh)
		},
		Bad: []adaptertest.BadInput{
			{Name: "checksum", Inject: func(*testing.T) adaptertest.Report {
				m.Inject(devsim.DLT645FaultChecksum, -1)
				return adaptertest.Report{Device: "em1", Signal: "energy_kwh_total", Reason: dlt645.ReasonChecksum}
			}},
			{Name: "exception", Inject: func(*testing.T) adaptertest.Report {
				m.Inject(devsim.DLT645FaultException, -1)
				return adaptertest.Report{Device: "em1", Signal: "energy_kwh_total", Reason: dlt645.ReasonException}
			}},
		},
		Stop:   func(*testing.T) { tb.stop() },
		Start:  func(*testing.T) { tb.start() },
		Frames: []string{"ganlink/adapters/dlt645.", "ganlink/adapters/internal/serialline."},
	})
}
