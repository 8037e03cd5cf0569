package app

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/ganlink/ganlink/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// TestKPICounterSteps: the signal's max_rate reaches the engine from the YAML, every
// counter step that is not a plain increase is counted in
// ganlink_kpi_cumulative_steps_total by device, signal and class, and the warnings are
// throttled to one a minute per device, signal and class.
func TestKPICounterSteps(t *testing.T) {
	cfg, err := config.Load([]byte(fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %s}
kpi: {state_file: %s}
sources:
  mqtt:
    - {name: meters, broker: "tcp://127.0.0.1:1883"}
devices:
  - id: em1
    kind: energy_meter
    source: meters
    topic: m/em1
    signals:
      kwh: {path: kwh, role: energy_kwh_total, max_rate: 30}
`, filepath.Join(t.TempDir(), "queue"), filepath.Join(t.TempDir(), "kpi.json"))), nil, Kinds())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	now := t0
	reg := prometheus.NewRegistry()
	var logs testutil.LogBuffer
	a, err := Build(cfg, slog.New(slog.NewTextHandler(&logs, nil)), Options{Registry: reg, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	kwh := func(min int, v float64) {
		a.kpi.Process(point.Batch{{Device: "em1", Time: t0.Add(time.Duration(min) * time.Minute).UnixNano(),
			Fields: []point.Field{{Key: "kwh", Value: v}}}})
	}
	a.kpi.Tick(t0)
	kwh(0, 1000)
	kwh(1, 1000.5) // +0.5 kWh in a minute: 30 kW, at max_rate
	kwh(2, 1025.5) // +25 kWh in a minute: 50 × max_rate, implausible
	kwh(3, 1000)   // a glitch (above 10 % of 1025.5)
	kwh(4, 1010)   // still held below 1025.5: no new step
	kwh(5, 0.3)    // a replacement (below 102.55): 0.3 kWh booked
	kwh(6, 0.2)    // a second glitch in the same minute: counted, not logged
	now = now.Add(2 * time.Minute)
	kwh(7, 0.5)  // passes 0.3: +0.2 booked
	kwh(8, 0.45) // a third glitch after the throttle: logged with 1 suppressed
	out := a.kpi.Tick(t0.Add(time.Hour + 30*time.Second))
	want := `# HELP ganlink_kpi_cumulative_steps_total Steps of cumulative signals (counters) that were not a plain increase, by device, signal and class (wrap, replacement: booked; glitch, implausible: not booked, the window is marked suspect). docs/metrics.md "Counter steps".
# TYPE ganlink_kpi_cumulative_steps_total counter
ganlink_kpi_cumulative_steps_total{class="glitch",device="em1",signal="kwh"} 3
ganlink_kpi_cumulative_steps_total{class="implausible",device="em1",signal="kwh"} 1
ganlink_kpi_cumulative_steps_total{class="replacement",device="em1",signal="kwh"} 1
ganlink_kpi_cumulative_steps_total{class="wrap",device="em1",signal="kwh"} 0
`
	if err := promtest.GatherAndCompare(reg, strings.NewReader(want), "ganlink_kpi_cumulative_steps_total"); err != nil {
		t.Error(err)
	}
	// The hour books 0.5 + 0.3 + 0.2 and counts 4 steps not booked (1 implausible, 3
	// glitches).
	lo, hi := 0.3, 0.5
	wantKWh := 0.5
	wantKWh += lo
	wantKWh += hi - lo
	var hour map[string]float64
	for _, p := range out {
		if p.Measurement == schema.DeviceKPI && p.Time == t0.UnixNano() && hasWindow(p, schema.Window1h) {
			hour = map[string]float64{}
			for _, f := range p.Fields {
				hour[f.Key] = f.Value
			}
		}
	}
	if hour[schema.FieldEnergyKWh] != wantKWh || hour[schema.FieldSuspect] != 4 {
		t.Errorf("hour energy_kwh %v suspect %v, want %v and 4", hour[schema.FieldEnergyKWh], hour[schema.FieldSuspect], wantKWh)
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "kpi counter step") {
			lines = append(lines, l[strings.Index(l, "msg="):])
		}
	}
	wantLines := []string{
		`msg="kpi counter step not booked; window marked suspect" device=em1 signal=kwh class=implausible from=1000.5 to=1025.5 booked=0 at=2026-03-04T10:02:00Z suppressed_warnings=0`,
		`msg="kpi counter step not booked; window marked suspect" device=em1 signal=kwh class=glitch from=1025.5 to=1000 booked=0 at=2026-03-04T10:03:00Z suppressed_warnings=0`,
		`msg="kpi counter step booked" device=em1 signal=kwh class=replacement from=1025.5 to=0.3 booked=0.3 at=2026-03-04T10:05:00Z suppressed_warnings=0`,
		`msg="kpi counter step not booked; window marked suspect" device=em1 signal=kwh class=glitch from=0.5 to=0.45 booked=0 at=2026-03-04T10:08:00Z suppressed_warnings=1`,
	}
	if strings.Join(lines, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("log\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(wantLines, "\n"))
	}
}

func hasWindow(p point.Point, w string) bool {
	for _, t := range p.Tags {
		if t.Key == schema.TagWindow {
			return t.Value == w
		}
	}
	return false
}
