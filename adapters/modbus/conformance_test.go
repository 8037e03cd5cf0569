package modbus

import (
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
)

// TestConformance runs the source contract against the Modbus TCP test server. The bad
// value is an exception: the register is unmapped, so the server answers exception 2
// (illegal data address).
func TestConformance(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0)
	ts := startServer(t, b)
	dev := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 50 * time.Millisecond,
		Signals: []Signal{{Field: "v", Area: "holding", Address: 0}}}
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
			b.setRegs(1, "holding", 0, n)
			return adaptertest.FieldIs("em1", "v", float64(n))
		},
		Bad: func(*testing.T) adaptertest.Report {
			b.mu.Lock()
			delete(b.holding, key(1, 0))
			b.mu.Unlock()
			return adaptertest.Report{Device: "em1", Signal: "v", Reason: "modbus_exception"}
		},
		Stop:   func(*testing.T) { ts.stop() },
		Start:  func(*testing.T) { ts.start() },
		Frames: []string{"ganlink/adapters/modbus.", "modbus.(*ModbusClient)"},
	})
}
