package opcua

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// Values from node-opcua: a 1 MiB string that is not in the signal's map is a type
// error whose text is bounded (it goes to last_signal_error and the log); an Uncertain
// status with a null value is a bad field, not an error; a good value next to them
// flows.
func TestHostileValues(t *testing.T) {
	srv := testsrv.StartMachineTool(t, testsrv.MachineToolOptions{Hostile: true})
	const evil = "nsu=urn:ganlink:testsrv:evil%3Bs=M1;"
	cfg := Config{
		Name: "cnc", Endpoint: srv.URL, PublishingInterval: 100 * time.Millisecond, ConnectTimeout: 10 * time.Second,
		Items: []Item{
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "mode", NodeID: evil + "s=Panel.Big", Conv: point.Conv{Map: map[string]float64{"AUTO": 1}}},
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "speed", NodeID: "nsu=urn:ganlink:testsrv:machines;s=M1.Spindle.ActSpeed"},
			{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "temp", NodeID: evil + "s=Panel.UncertainNull"},
		},
	}
	rec := &adaptertest.Recorder{}
	runtime.GC()
	watch := testsrv.WatchHeap()
	runSource(t, cfg, rec, nil)
	testutil.WaitFor(t, 30*time.Second, "speed, temp and the error for mode", func() bool {
		_, speed := rec.LastField("m1", "speed")
		_, temp := rec.LastField("m1", "temp")
		return speed && temp && len(rec.Signals()) > 0
	})
	peak := watch()
	t.Logf("peak heap in use %.1f MiB", float64(peak)/(1<<20))

	if p, _ := rec.LastField("m1", "speed"); p.Fields[0].Value != 1200.5 || p.Fields[0].Quality != point.Good {
		t.Errorf("speed %+v, want 1200.5 good", p.Fields[0])
	}
	if p, _ := rec.LastField("m1", "temp"); p.Fields[0].Value != 0 || p.Fields[0].Quality != point.Bad {
		t.Errorf("temp %+v, want a bad field without value", p.Fields[0])
	}
	if ps := rec.FieldPoints("m1", "mode"); len(ps) != 0 {
		t.Errorf("mode points %+v, want none", ps)
	}
	for _, s := range rec.Signals() {
		if s.Signal != "mode" || s.Reason != "type" || !errors.Is(s.Err, point.ErrType) {
			t.Errorf("signal error %+v, want only type errors of mode", s)
			continue
		}
		want := fmt.Sprintf(`convert String value of device "m1" field "mode" (node %q): value "%s…" not in map: unsupported value type`,
			evil+"s=Panel.Big", strings.Repeat("x", 64))
		if msg := s.Err.Error(); msg != want {
			t.Errorf("error of %d bytes: %.200s; want %s", len(msg), msg, want)
		}
	}
}
