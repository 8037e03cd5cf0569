package opcua

import (
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// opcuaFrames are the stack frames of a Source and of gopcua's client.
var opcuaFrames = []string{"adapters/opcua.(*Source)", "adapters/opcua.(*session)", "gopcua/opcua.(*Client)", "uasc.(*SecureChannel).dispatcher"}

// newConformanceSource builds a source that notices a silent server within a second.
func newConformanceSource(t *testing.T, cfg Config, obs point.Observer) adaptertest.Source {
	t.Helper()
	src, err := New(cfg, obs, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	src.keepAliveTarget = 300 * time.Millisecond
	src.closeTimeout = 300 * time.Millisecond
	return src
}

// TestConformance runs the source contract against gopcua's in-process server; the bad
// inputs are a String where the field wants a number and a bad status.
func TestConformance(t *testing.T) {
	ts := startTestServer(t, 0, "speed")
	port := ts.port
	cfg := testConfig(ts.url, ts, "speed")
	n := 0.0
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, obs point.Observer) adaptertest.Source { return newConformanceSource(t, cfg, obs) },
		Good: func(*testing.T) adaptertest.Match {
			n++
			ts.set("speed", dv(n, ua.StatusOK, time.Now(), time.Time{}))
			return adaptertest.FieldIs("m1", "speed", n)
		},
		Bad: []adaptertest.BadInput{
			{Name: "wrong_type", Inject: func(*testing.T) adaptertest.Report {
				ts.set("speed", dv("fast", ua.StatusOK, time.Now(), time.Time{}))
				return adaptertest.Report{Device: "m1", Signal: "speed", Reason: "type"}
			}},
			{Name: "bad_status", Inject: func(*testing.T) adaptertest.Report {
				ts.set("speed", dv(7.0, ua.StatusBadSensorFailure, time.Now(), time.Time{}))
				return adaptertest.Report{Device: "m1", Signal: "speed"}
			}},
		},
		Stop: func(*testing.T) { ts.kill() },
		// The new server lives until the whole test ends, like the first.
		Start:  func(*testing.T) { ts = startTestServer(t, port, "speed") },
		Frames: opcuaFrames,
	})
}

// TestConformanceNodeOPCUA runs the source contract against node-opcua's 40501-shaped
// server. Its values are constant while it runs: each start serves a new
// PartsProducedInLifetime. Its bad inputs are always there: the LocalizedText
// Manufacturer, which the source is configured to read as a number, and a variable with
// an Uncertain status and no value (MachineToolOptions.Hostile).
func TestConformanceNodeOPCUA(t *testing.T) {
	parts := uint64(100)
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{Parts: parts, Hostile: true})
	cfg := Config{
		Name:               "cnc",
		Endpoint:           srv.URL,
		PublishingInterval: 50 * time.Millisecond,
		ConnectTimeout:     2 * time.Second,
		ReconnectMin:       50 * time.Millisecond,
		ReconnectMax:       500 * time.Millisecond,
		Items: []Item{
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "parts",
				NodeID: "nsu=http://opcfoundation.org/UA/MachineTool/;s=M1.PartsProducedInLifetime"},
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "manufacturer",
				NodeID: "nsu=http://opcfoundation.org/UA/DI/;s=M1.Manufacturer"},
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "temp",
				NodeID: "nsu=urn:ganlink:testsrv:evil%3Bs=M1;s=Panel.UncertainNull"},
		},
	}
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, obs point.Observer) adaptertest.Source { return newConformanceSource(t, cfg, obs) },
		Good: func(*testing.T) adaptertest.Match {
			return adaptertest.FieldIs("m1", "parts", float64(parts))
		},
		Bad: []adaptertest.BadInput{
			{Name: "wrong_type", Inject: func(*testing.T) adaptertest.Report {
				return adaptertest.Report{Device: "m1", Signal: "manufacturer", Reason: "type"}
			}},
			{Name: "bad_status", Inject: func(*testing.T) adaptertest.Report {
				return adaptertest.Report{Device: "m1", Signal: "temp"}
			}},
		},
		Stop: func(*testing.T) { srv.Stop() },
		Start: func(*testing.T) {
			parts++
			srv.StartWith(testsrv.MachineToolOptions{Parts: parts, Hostile: true})
		},
		Frames: opcuaFrames,
	})
}
