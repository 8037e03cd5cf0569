package modbus

import (
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
)

// TestConformance runs the source contract against the Modbus TCP test server. The bad
// inputs are an exception (the registers are unmapped, so the server answers exception
// 2, illegal data address) and a float32 NaN. (The server cannot send a short answer:
// the library turns one into exception 4; TestShortAnswerIsAProtocolError covers it.)
func TestConformance(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0, 0, 0)
	ts := startServer(t, b)
	dev := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 50 * time.Millisecond,
		Signals: []Signal{{Field: "v", Area: "holding", Address: 0}, {Field: "f", Area: "holding", Address: 1, Type: "float32"}}}
	var n uint16
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, obs point.Observer) adaptertest.Source {
			src, err := New(fastConfig(ts.url, dev), obs, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return src
		},
		Good: func(*testing.T) adaptertest.Match {
			n++
			b.setRegs(1, "holding", 0, n, 0, 0)
			return adaptertest.FieldIs("em1", "v", float64(n))
		},
		Bad: []adaptertest.BadInput{
			{Name: "exception", Inject: func(*testing.T) adaptertest.Report {
				b.mu.Lock()
				delete(b.holding, key(1, 0))
				b.mu.Unlock()
				return adaptertest.Report{Device: "em1", Signal: "v", Reason: "modbus_exception"}
			}},
			{Name: "not_finite", Inject: func(*testing.T) adaptertest.Report {
				b.setRegs(1, "holding", 1, 0x7FC0, 0x0000)
				return adaptertest.Report{Device: "em1", Signal: "f", Reason: "nan"}
			}},
		},
		Stop:   func(*testing.T) { ts.stop() },
		Start:  func(*testing.T) { ts.start() },
		Frames: []string{"ganlink/adapters/modbus.", "modbus.(*ModbusClient)"},
	})
}
