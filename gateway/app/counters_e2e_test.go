package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// seenTimes records, per device, the newest point time the gateway's pipeline has
// processed (after the KPI engine), so a test can step the simulator only once the
// previous report is booked.
type seenTimes struct {
	mu   sync.Mutex
	last map[string]int64
	news chan struct{} // a value after each batch
}

func newSeenTimes() *seenTimes {
	return &seenTimes{last: map[string]int64{}, news: make(chan struct{}, 1)}
}

func (s *seenTimes) Process(b point.Batch) {
	s.mu.Lock()
	for _, p := range b {
		if p.Time > s.last[p.Device] {
			s.last[p.Device] = p.Time
		}
	}
	s.mu.Unlock()
	select {
	case s.news <- struct{}{}:
	default:
	}
}

func (s *seenTimes) reached(t time.Time, devs ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range devs {
		if s.last[d] < t.UnixNano() {
			return false
		}
	}
	return true
}

// wait returns once every device's point at t or later has been processed, false
// after d.
func (s *seenTimes) wait(t time.Time, d time.Duration, devs ...string) bool {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for !s.reached(t, devs...) {
		select {
		case <-s.news:
		case <-timeout.C:
			return false
		}
	}
	return true
}

// kpiFigures is one TSDB's 1m device_kpi and workshop_kpi fields energy_kwh and
// suspect, by device ("" for the workshop), window start (Unix ms) and field.
type kpiFigures map[string]map[int64]map[string]float64

func (k kpiFigures) set(dev string, ts int64, field string, v float64) {
	if k[dev] == nil {
		k[dev] = map[int64]map[string]float64{}
	}
	if k[dev][ts] == nil {
		k[dev][ts] = map[string]float64{}
	}
	k[dev][ts][field] = v
}

// TestCounterFaultsEndToEnd: devsim meters with scripted counter faults publish over a
// real mosquitto to a real gateway (the binary's code path, 1m KPI windows following
// simulated time, max_rate 30 kW on the kWh counters) writing to VictoriaMetrics and, in
// the other subtest, InfluxDB 1.8.10. Every 1m window's energy_kwh and suspect are
// asserted exactly against figures computed here from the published readings by the
// rules of docs/metrics.md "Counter steps":
//
//   - em1 steps back 0.5 % at +3m (a glitch, ≈999.7 → 994.7): that window books 0 and
//     is suspect 1, the windows until the counter passes its old reading (≈100 minutes
//     later) book 0 and are not suspect, the window that passes it books only the
//     increase beyond the old reading;
//   - em2 is replaced at +3m (999.65 → 0.3): the window books 0.3 (Δ = new);
//   - em2 jumps 25 kWh at +6m (50 × the 0.5 kWh a 30 kW meter can count in a
//     minute): not booked, suspect 1; +7m books its normal increase.
//
// ganlink_kpi_cumulative_steps_total counts 1 glitch (em1), 1 replacement and 1
// implausible step (em2), the gateway logs each, and the booked totals equal the
// simulator's true consumption less exactly what the documented rules leave unbooked.
// In the third subtest the gateway restarts at +5m while em1 is held below its old
// reading: the hold survives in the state file (the glitch counts once, nothing is
// booked until the counter passes the old reading) and every figure is the same.
func TestCounterFaultsEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name, backend string
		restartAt     int
	}{
		{"victoriametrics", "victoriametrics", 0},
		{"influxdb", "influxdb", 0},
		{"victoriametrics_restart_held", "victoriametrics", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testCounterFaults(t, tc.backend, tc.restartAt)
		})
	}
}

// testCounterFaults runs the scenario against one backend; with restartAt > 0 the
// gateway is stopped after the reports of that minute and a new one started on its data
// directory: the figures must be the same.
func testCounterFaults(t *testing.T, backend string, restartAt int) {
	broker := testsrv.StartMosquitto(t)
	var vm *testsrv.Victoria
	var influx *testsrv.Influx
	var sinkURL string
	if backend == "influxdb" {
		influx = testsrv.StartInflux(t, "ganlink")
		sinkURL = influx.URL
	} else {
		vm = testsrv.StartVictoria(t)
		sinkURL = vm.URL
	}

	// Simulated time: three hours ago, so every window ends before the wall clock.
	start := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	at := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }
	const maxRate = 30.0 // kW: 0.5 kWh a minute
	faults, err := devsim.ParseFaults("em1@3m:stepback=0.005,em2@3m:replace=0.3,em2@6m:jump=25")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := devsim.New(devsim.Config{Workshop: "ws1", EnergyMeters: 2, Seed: 11, Start: start,
		Rate: time.Minute, MeterInterval: time.Minute, MeterReading: 999.57125, Faults: faults,
		Shifts: []devsim.Shift{{Start: 0, End: 24 * time.Hour}}, Location: time.UTC, RecordLimit: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	opts := devsim.DefaultGatewayOptions()
	opts.MQTTBroker, opts.InfluxURL = broker.URL, sinkURL
	opts.QueueDir = filepath.Join(t.TempDir(), "queue")
	opts.AdminListen = "127.0.0.1:0"
	opts.EnergyMaxRate = maxRate
	var yml bytes.Buffer
	if err := devsim.WriteGatewayConfig(&yml, sim.Config(), opts); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "ws.yaml")
	if err := os.WriteFile(cfgPath, yml.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(cfgPath)
	if err != nil {
		t.Fatalf("devsim config does not validate: %v\n%s", err, yml.String())
	}
	cfg.KPI.Windows = []config.Duration{config.Dur(time.Minute)}
	cfg.KPI.StateFile = filepath.Join(t.TempDir(), "kpi.json")
	cfg.Sinks.Influx[0].FlushInterval = config.Dur(50 * time.Millisecond)

	var clock syncTime
	clock.set(start)
	seen := newSeenTimes()
	var regs []*prometheus.Registry
	var logs testutil.LogBuffer
	// startGateway builds and runs a gateway from cfg (the same data directory each
	// time) and waits until it has subscribed at the broker; stop stops it once.
	startGateway := func() (stop func()) {
		t.Helper()
		reg := prometheus.NewRegistry()
		regs = append(regs, reg)
		sessions := strings.Count(logs.String(), `msg="mqtt session up"`)
		gw, err := app.Build(cfg, slog.New(slog.NewTextHandler(io.MultiWriter(&logs), nil)),
			app.Options{Registry: reg, Clock: clock.get, Processors: []app.Processor{seen}})
		if err != nil {
			t.Fatal(err)
		}
		actx, stopApp := context.WithCancel(context.Background())
		appDone := make(chan error, 1)
		go func() { appDone <- gw.Run(actx) }()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				stopApp()
				if err := <-appDone; err != nil {
					t.Errorf("gateway run: %v", err)
				}
			})
		}
		t.Cleanup(stop)
		// The meters publish only to a subscribed gateway (the broker keeps no message
		// for a subscriber to come).
		if msg := testsrv.WaitFor(10*time.Second, func() string {
			if strings.Count(logs.String(), `msg="mqtt session up"`) == sessions {
				return "the gateway has not subscribed at the broker"
			}
			return ""
		}); msg != "" {
			t.Fatal(msg)
		}
		return stop
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", tail(logs.String(), 8000))
		}
	})
	stopGateway := startGateway()
	mctx, stopMQTT := context.WithCancel(context.Background())
	mqttDone := make(chan error, 1)
	go func() { mqttDone <- sim.PublishMQTT(mctx, broker.URL) }()
	t.Cleanup(func() { stopMQTT(); <-mqttDone })

	// Step a simulated minute at a time, each once the previous reports are booked,
	// until em1 has passed its old reading and two more minutes; at most 30 simulated
	// minutes a wall second: the KPI engine takes samples more than an hour ahead of its
	// last one-second tick as future and drops them.
	wait := func(m int) {
		t.Helper()
		if !seen.wait(at(m), 10*time.Second, "em1", "em2") {
			t.Fatalf("the gateway has not processed the meters' %s reports within 10s", at(m).Format("15:04"))
		}
	}
	began := time.Now()
	wait(0)
	last := -1
	for m := 1; last < 0 || m <= last; m++ {
		time.Sleep(time.Until(began.Add(time.Duration(m) * time.Minute / 1800)))
		clock.set(at(m))
		sim.Step(at(m))
		wait(m)
		if m == restartAt {
			// Stopped between reports: it saves its KPI state (open windows, counter
			// baselines, the glitch's hold) and the next one resumes from it.
			stopGateway()
			stopGateway = startGateway()
		}
		if r := readings(sim, "em1"); last < 0 && m > 3 && r[m] >= r[2] {
			last = max(m+2, 8)
		}
		if m > 600 {
			t.Fatal("em1 did not pass its old reading in 10 simulated hours")
		}
	}
	if restartAt > 0 {
		l := logs.String()
		if n := strings.Count(l, `msg="gateway starting"`); n != 2 || strings.Count(l, `msg="kpi state restored"`) != 1 ||
			strings.Contains(l, "kpi state unusable") || strings.Contains(l, "windows dropped") {
			t.Fatalf("restart: %d gateway starts, want 2, the second from the saved KPI state", n)
		}
	}
	// Close the last window: the clock passes its end and the allowed lateness.
	clock.set(at(last + 2))
	t.Logf("%d simulated minutes stepped in %v", last, time.Since(began).Round(time.Millisecond))

	r1, r2 := readings(sim, "em1"), readings(sim, "em2")
	// The window of em1's recovery: the first reading at or above the baseline.
	j := 4
	for r1[j] < r1[2] {
		j++
	}
	want := kpiFigures{}
	for m := 1; m <= last; m++ {
		ts := at(m).UnixMilli()
		e1 := r1[m] - r1[m-1]
		switch {
		case m == 3:
			e1 = 0
			want.set("em1", ts, "suspect", 1)
		case m > 3 && m < j:
			e1 = 0
		case m == j:
			e1 = r1[j] - r1[2]
		}
		want.set("em1", ts, "energy_kwh", e1)
		e2 := r2[m] - r2[m-1]
		switch m {
		case 3:
			e2 = 0.3
		case 6:
			e2 = 0
			want.set("em2", ts, "suspect", 1)
		}
		want.set("em2", ts, "energy_kwh", e2)
		want.set("", ts, "energy_kwh", e1+e2)
		if m == 3 || m == 6 {
			want.set("", ts, "suspect", 1)
		}
	}
	if math.Abs(r2[2]-999.65) > 1e-9 || r2[3] != 0.3 || r1[3] >= r1[2] || j <= 4 {
		t.Fatalf("scenario: em2 reads %v before the replacement and %v after, em1 %v after stepping back from %v, recovering at +%dm",
			r2[2], r2[3], r1[3], r1[2], j)
	}

	var got kpiFigures
	msg := testsrv.WaitFor(20*time.Second, func() string {
		if vm != nil {
			got = victoriaKPI(vm, at(1), at(last))
		} else {
			got = influxKPI(influx, at(1), at(last))
		}
		return diffKPI(want, got)
	})
	if msg != "" {
		t.Fatalf("%s: 1m KPI windows differ from the readings booked by the documented rules:\n%s", backend, msg)
	}

	// The raw counter series keep every reading as the meter sent it, faults included:
	// the KPI windows are the cleaned figures, nothing is edited in the TSDB.
	raw := map[string]map[int64]float64{"em1": {}, "em2": {}}
	relTol := 0.0 // InfluxDB stores float64
	if vm != nil {
		relTol = 1e-12 // VictoriaMetrics keeps 12 to 13 significant digits
		for _, s := range vm.Export(`{__name__="energy_meter_energy_kwh_total"}`) {
			raw[s.Labels["device"]][s.Timestamp] = s.Value
		}
	} else {
		for _, s := range influx.Query("ganlink", `SELECT energy_kwh_total FROM energy_meter GROUP BY device`) {
			for _, row := range s.Values {
				raw[s.Tags["device"]][int64(row[0].(float64))] = row[1].(float64)
			}
		}
	}
	for dev, r := range map[string]map[int]float64{"em1": r1, "em2": r2} {
		if len(raw[dev]) != last+1 {
			t.Errorf("%s: %d raw readings in the TSDB, want %d", dev, len(raw[dev]), last+1)
		}
		for m := 0; m <= last; m++ {
			if got, ok := raw[dev][at(m).UnixMilli()]; !ok || math.Abs(got-r[m]) > relTol*math.Abs(r[m]) {
				t.Errorf("%s raw reading at +%dm: %v (present %v), want %v", dev, m, got, ok, r[m])
			}
		}
	}

	// Every step that is not a plain increase, counted by class.
	wantSteps := `# HELP ganlink_kpi_cumulative_steps_total Steps of cumulative signals (counters) that were not a plain increase, by device, signal and class (wrap, replacement: booked; glitch, implausible: not booked, the window is marked suspect). docs/metrics.md "Counter steps".
# TYPE ganlink_kpi_cumulative_steps_total counter
ganlink_kpi_cumulative_steps_total{class="glitch",device="em1",signal="energy_kwh_total"} 1
ganlink_kpi_cumulative_steps_total{class="glitch",device="em2",signal="energy_kwh_total"} 0
ganlink_kpi_cumulative_steps_total{class="implausible",device="em1",signal="energy_kwh_total"} 0
ganlink_kpi_cumulative_steps_total{class="implausible",device="em2",signal="energy_kwh_total"} 1
ganlink_kpi_cumulative_steps_total{class="replacement",device="em1",signal="energy_kwh_total"} 0
ganlink_kpi_cumulative_steps_total{class="replacement",device="em2",signal="energy_kwh_total"} 1
ganlink_kpi_cumulative_steps_total{class="wrap",device="em1",signal="energy_kwh_total"} 0
ganlink_kpi_cumulative_steps_total{class="wrap",device="em2",signal="energy_kwh_total"} 0
`
	if err := compareSummed(regs, wantSteps, "ganlink_kpi_cumulative_steps_total"); err != nil {
		t.Error(err)
	}
	// Every report reached the KPI engine and was taken (two fields, kWh and kW, of
	// each meter's report at minutes 0..last): none refused as future (the pace above),
	// late or out of order.
	wantSamples := fmt.Sprintf(`# HELP ganlink_kpi_samples_total Samples the KPI engine handled, by outcome.
# TYPE ganlink_kpi_samples_total counter
ganlink_kpi_samples_total{outcome="accepted"} %d
ganlink_kpi_samples_total{outcome="duplicate"} 0
ganlink_kpi_samples_total{outcome="future"} 0
ganlink_kpi_samples_total{outcome="invalid"} 0
ganlink_kpi_samples_total{outcome="late"} 0
ganlink_kpi_samples_total{outcome="out_of_order"} 0
ganlink_kpi_samples_total{outcome="overflow"} 0
ganlink_kpi_samples_total{outcome="stale"} 0
ganlink_kpi_samples_total{outcome="unknown_device"} 0
`, 2*2*(last+1))
	if err := compareSummed(regs, wantSamples, "ganlink_kpi_samples_total"); err != nil {
		t.Error(err)
	}
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, line := range []string{
		fmt.Sprintf(`msg="kpi counter step not booked; window marked suspect" device=em1 signal=energy_kwh_total class=glitch from=%s to=%s booked=0 `, g(r1[2]), g(r1[3])),
		fmt.Sprintf(`msg="kpi counter step booked" device=em2 signal=energy_kwh_total class=replacement from=%s to=0.3 booked=0.3 `, g(r2[2])),
		fmt.Sprintf(`msg="kpi counter step not booked; window marked suspect" device=em2 signal=energy_kwh_total class=implausible from=%s to=%s booked=0 `, g(r2[5]), g(r2[6])),
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("gateway log lacks %s", line)
		}
	}

	// Against the simulator's truth: em1 books its true consumption less the 0.5 % it
	// stepped back (nothing twice); em2 books its true consumption less the minutes of
	// the replacement and the jump (their reports stood for Consumed), plus the new
	// meter's 0.3.
	truth, err := sim.Truth(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	trueKWh := map[string]float64{}
	for _, w := range truth {
		// A report at minute m accounts for the minute before it.
		if !w.Start.Before(at(0)) && w.Start.Before(at(last)) {
			trueKWh[w.Device] += w.EnergyKWh
		}
	}
	applied := sim.AppliedFaults()
	if len(applied) != 3 {
		t.Fatalf("applied faults %+v, want 3", applied)
	}
	step, repl, jump := applied[0], applied[1], applied[2]
	booked := map[string]float64{}
	for dev, byTS := range got {
		for _, f := range byTS {
			booked[dev] += f["energy_kwh"]
		}
	}
	for dev, w := range map[string]float64{
		"em1": trueKWh["em1"] - (step.Before - step.After),
		"em2": trueKWh["em2"] - repl.Consumed + 0.3 - jump.Consumed,
	} {
		if math.Abs(booked[dev]-w) > 1e-6 {
			t.Errorf("%s: %.9f kWh booked in minutes 1-%d, want %.9f (truth %.9f)", dev, booked[dev], last, w, trueKWh[dev])
		}
	}
}

// compareSummed compares a counter family summed over the registries of the gateways
// that ran one after the other (a restarted process starts its counters from 0) with
// want in the text exposition format.
func compareSummed(regs []*prometheus.Registry, want, name string) error {
	sum := prometheus.NewRegistry()
	vec := map[string]*prometheus.CounterVec{}
	for _, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			return err
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := prometheus.Labels{}
				var names []string
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
					names = append(names, l.GetName())
				}
				v := vec[name]
				if v == nil {
					v = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: mf.GetHelp()}, names)
					sum.MustRegister(v)
					vec[name] = v
				}
				v.With(labels).Add(m.GetCounter().GetValue())
			}
		}
	}
	return promtest.GatherAndCompare(sum, strings.NewReader(want), name)
}

// syncTime is a clock the test moves.
type syncTime struct {
	mu sync.Mutex
	t  time.Time
}

func (c *syncTime) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *syncTime) get() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// readings returns a meter's published kWh readings by simulated minute.
func readings(sim *devsim.Sim, dev string) map[int]float64 {
	start := sim.Config().Start
	out := map[int]float64{}
	for _, r := range sim.Produced() {
		if r.Device == dev && r.Signal == devsim.SigEnergyTotal {
			out[int(r.Time.Sub(start)/time.Minute)] = r.Value.(float64)
		}
	}
	return out
}

func victoriaKPI(vm *testsrv.Victoria, from, to time.Time) kpiFigures {
	out := kpiFigures{}
	for _, s := range vm.Export(`{__name__=~"(device|workshop)_kpi_(energy_kwh|suspect)",window="1m"}`) {
		if s.Timestamp < from.UnixMilli() || s.Timestamp > to.UnixMilli() {
			continue
		}
		name := s.Labels["__name__"]
		field := name[strings.LastIndex(name, "_kpi_")+len("_kpi_"):]
		out.set(s.Labels["device"], s.Timestamp, field, s.Value)
	}
	return out
}

func influxKPI(in *testsrv.Influx, from, to time.Time) kpiFigures {
	out := kpiFigures{}
	for _, m := range []string{"device_kpi", "workshop_kpi"} {
		q := fmt.Sprintf(`SELECT energy_kwh, suspect FROM %s WHERE "window" = '1m' AND time >= %dms AND time <= %dms GROUP BY device`,
			m, from.UnixMilli(), to.UnixMilli())
		for _, s := range in.Query("ganlink", q) {
			for _, row := range s.Values {
				for i, col := range s.Columns[1:] {
					if v, ok := row[i+1].(float64); ok {
						out.set(s.Tags["device"], int64(row[0].(float64)), col, v)
					}
				}
			}
		}
	}
	return out
}

// diffKPI lists the differences, "" if none: every wanted field equal within 1e-9,
// no suspect field that is not wanted.
func diffKPI(want, got kpiFigures) string {
	var out []string
	name := func(dev string) string {
		if dev == "" {
			return "workshop"
		}
		return dev
	}
	for dev, byTS := range want {
		for ts, fields := range byTS {
			for f, w := range fields {
				g, ok := got[dev][ts][f]
				if !ok || math.Abs(g-w) > 1e-9 {
					out = append(out, fmt.Sprintf("%s %s %s: got %v (present %v), want %v",
						name(dev), time.UnixMilli(ts).UTC().Format("15:04"), f, g, ok, w))
				}
			}
		}
	}
	for dev, byTS := range got {
		for ts, fields := range byTS {
			if v, ok := fields["suspect"]; ok {
				if _, wanted := want[dev][ts]["suspect"]; !wanted {
					out = append(out, fmt.Sprintf("%s %s suspect: got %v, want none", name(dev), time.UnixMilli(ts).UTC().Format("15:04"), v))
				}
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
