package app_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/ganlink/ganlink/adapters/opcua"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// workshop is a simulated workshop wired to a running gateway.
type workshop struct {
	t        *testing.T
	sim      *devsim.Sim
	cfg      *config.Config
	app      *app.App
	opcAddr  string
	broker   *testsrv.Mosquitto
	vm       *testsrv.Victoria
	influx   *testsrv.Influx
	stopOPC  context.CancelFunc
	opcDone  chan error
	stopApp  context.CancelFunc
	appDone  chan error
	simTime  time.Time
	clock    atomic.Int64
	logs     *testutil.LogBuffer
	signalOf map[string]map[string]bool // device -> configured signals
	kindOf   map[string]string
}

const simRate = time.Second

// startWorkshop starts mosquitto, VictoriaMetrics, InfluxDB 1.8.10, the simulator and
// the gateway configured by `devsim config` with both TSDBs as sinks.
func startWorkshop(t *testing.T, machines, energy, water int) *workshop {
	t.Helper()
	return startWorkshopAt(t, machines, energy, water, time.Now().Truncate(time.Second).Add(-time.Minute), false, 100*time.Millisecond)
}

// startWorkshopAt starts the simulation at start; with simClock the gateway's KPI
// windows follow simulated time, so minutes pass in seconds.
func startWorkshopAt(t *testing.T, machines, energy, water int, start time.Time, simClock bool, publishing time.Duration) *workshop {
	t.Helper()
	w := &workshop{t: t, logs: &testutil.LogBuffer{}}
	w.broker = testsrv.StartMosquitto(t)
	w.vm = testsrv.StartVictoria(t)
	w.influx = testsrv.StartInflux(t, "ganlink")

	sim, err := devsim.New(devsim.Config{Machines: machines, EnergyMeters: energy, WaterMeters: water,
		Seed: 7, Start: start, Rate: simRate, MeterInterval: simRate, TimeScale: 0.01,
		Shifts: []devsim.Shift{{Start: 0, End: 24 * time.Hour}}, RecordLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	w.sim, w.simTime = sim, start
	w.clock.Store(start.UnixNano())
	w.opcAddr = fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	w.serveOPC()

	mctx, stopMQTT := context.WithCancel(context.Background())
	mqttDone := make(chan error, 1)
	go func() { mqttDone <- sim.PublishMQTT(mctx, w.broker.URL) }()
	t.Cleanup(func() { stopMQTT(); <-mqttDone })

	opts := devsim.DefaultGatewayOptions()
	opts.OPCUAEndpoint = "opc.tcp://" + w.opcAddr
	opts.PublishingInterval = publishing
	opts.MQTTBroker = w.broker.URL
	opts.InfluxURL = w.vm.URL
	opts.QueueDir = filepath.Join(t.TempDir(), "queue")
	opts.AdminListen = "127.0.0.1:0"
	opts.Legacy = 1
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
	// Exact comparison needs every change: no deadband, and a second sink.
	for i := range cfg.Devices {
		for _, s := range cfg.Devices[i].Signals {
			if b, ok := s.Binding.(*opcua.SignalSpec); ok {
				b.Deadband = nil
			}
		}
	}
	cfg.Sinks.Influx[0].FlushInterval = config.Dur(100 * time.Millisecond)
	second := cfg.Sinks.Influx[0]
	second.Name, second.URL, second.Bucket = "influx18", w.influx.URL, "ganlink"
	cfg.Sinks.Influx = append(cfg.Sinks.Influx, second)
	w.cfg = cfg
	w.signalOf, w.kindOf = map[string]map[string]bool{}, map[string]string{}
	for _, d := range cfg.Devices {
		w.kindOf[d.ID] = d.Kind
		w.signalOf[d.ID] = map[string]bool{}
		for name := range d.Signals {
			w.signalOf[d.ID][name] = true
		}
	}

	log := slog.New(slog.NewTextHandler(io.MultiWriter(w.logs), &slog.HandlerOptions{Level: slog.LevelInfo}))
	var clock func() time.Time
	if simClock {
		clock = func() time.Time { return time.Unix(0, w.clock.Load()) }
	}
	a, err := app.Build(cfg, log, app.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	w.app = a
	actx, stopApp := context.WithCancel(context.Background())
	w.stopApp, w.appDone = stopApp, make(chan error, 1)
	go func() { w.appDone <- a.Run(actx) }()
	t.Cleanup(func() {
		w.stop()
		if t.Failed() {
			t.Logf("gateway log:\n%s", tail(w.logs.String(), 8000))
		}
	})
	w.waitReady(20 * time.Second)
	return w
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (w *workshop) serveOPC() {
	ctx, cancel := context.WithCancel(context.Background())
	w.stopOPC, w.opcDone = cancel, make(chan error, 1)
	go func() { w.opcDone <- w.sim.ServeOPCUA(ctx, w.opcAddr) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := w.sim.WaitOPCUA(wctx, w.opcAddr); err != nil {
		w.t.Fatalf("opc ua server: %v", err)
	}
}

func (w *workshop) stopOPCServer() {
	if w.stopOPC != nil {
		w.stopOPC()
		<-w.opcDone
		w.stopOPC = nil
	}
}

func (w *workshop) stop() {
	if w.stopApp != nil {
		w.stopApp()
		select {
		case err := <-w.appDone:
			if err != nil {
				w.t.Errorf("gateway Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			w.t.Errorf("gateway did not stop within 30s")
		}
		w.stopApp = nil
	}
	w.stopOPCServer()
}

func (w *workshop) get(path string) (int, string) {
	resp, err := http.Get("http://" + w.app.AdminAddr() + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (w *workshop) waitReady(d time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, body := w.get("/readyz")
		if code == 200 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("gateway not ready after %v: %d %s", d, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// step advances the simulation n steps of simRate, pausing between them so each
// change reaches the gateway as its own notification.
func (w *workshop) step(n int, pause time.Duration) (first, last time.Time) {
	for i := 0; i < n; i++ {
		w.simTime = w.simTime.Add(simRate)
		w.sim.Step(w.simTime)
		w.clock.Store(w.simTime.UnixNano())
		if i == 0 {
			first = w.simTime
		}
		time.Sleep(pause)
	}
	return first, w.simTime
}

// expected turns the simulator's records in [from, to] into VictoriaMetrics sample keys.
func (w *workshop) expected(from, to time.Time) map[string]float64 {
	ws := w.cfg.Workshop
	out := map[string]float64{}
	for _, r := range w.sim.Produced() {
		if r.Time.Before(from) || r.Time.After(to) || !w.signalOf[r.Device][string(r.Signal)] {
			continue
		}
		var v float64
		switch x := r.Value.(type) {
		case bool:
			if x {
				v = 1
			}
		case uint32:
			v = float64(x)
		case int32:
			v = float64(x)
		case float64:
			v = x
		default:
			w.t.Fatalf("unexpected record value %T", r.Value)
		}
		kind := w.kindOf[r.Device]
		s := testsrv.Sample{Labels: map[string]string{"__name__": kind + "_" + string(r.Signal),
			"device": r.Device, "enterprise": ws.Enterprise, "kind": kind, "park": ws.Park,
			"region": ws.Region, "workshop": ws.ID}, Timestamp: r.Time.UnixMilli()}
		out[s.Key()] = v
	}
	return out
}

func victoriaSet(w *workshop, from, to time.Time) map[string]float64 {
	out := map[string]float64{}
	for _, s := range w.vm.Export(`{workshop="ws1",__name__!~"device_kpi_.*|workshop_kpi_.*"}`) {
		if s.Timestamp < from.UnixMilli() || s.Timestamp > to.UnixMilli() {
			continue
		}
		v := s.Value
		s.Value = 0
		out[s.Key()] = v
	}
	return out
}

func influxSet(w *workshop, from, to time.Time) map[string]float64 {
	out := map[string]float64{}
	for _, m := range []string{"cnc", "energy_meter", "water_meter", "machine"} {
		q := fmt.Sprintf(`SELECT * FROM %q WHERE time >= %dms AND time <= %dms GROUP BY *`, m, from.UnixMilli(), to.UnixMilli())
		for _, s := range w.influx.Query("ganlink", q) {
			for _, row := range s.Values {
				ts := int64(row[0].(float64))
				for i, col := range s.Columns[1:] {
					v := row[i+1]
					if v == nil {
						continue
					}
					labels := map[string]string{"__name__": m + "_" + col}
					for k, tv := range s.Tags {
						labels[k] = tv
					}
					out[testsrv.Sample{Labels: labels, Timestamp: ts}.Key()] = v.(float64)
				}
			}
		}
	}
	return out
}

// TestEndToEnd: every value the simulator produced in a fixed interval reaches both
// VictoriaMetrics and InfluxDB 1.8.10 with its source timestamp and identity tags.
func TestEndToEnd(t *testing.T) {
	w := startWorkshop(t, 3, 2, 1)
	time.Sleep(500 * time.Millisecond) // initial values and MQTT subscription settle
	from, to := w.step(20, 200*time.Millisecond)
	want := w.expected(from, to)
	if len(want) < 100 {
		t.Fatalf("scenario too small: %d expected samples", len(want))
	}
	if msg := testsrv.WaitFor(15*time.Second, func() string { return testsrv.DiffSamples(want, victoriaSet(w, from, to), 1e-12) }); msg != "" {
		t.Fatalf("VictoriaMetrics differs from what the simulator produced:\n%s", msg)
	}
	if msg := testsrv.WaitFor(15*time.Second, func() string { return testsrv.DiffSamples(want, influxSet(w, from, to), 0) }); msg != "" {
		t.Fatalf("InfluxDB differs from what the simulator produced:\n%s", msg)
	}
	t.Logf("%d samples in each TSDB", len(want))

	code, metrics := w.get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{`ganlink_source_up{source="cnc"} 1`, `ganlink_source_up{source="meters"} 1`,
		`ganlink_sink_up{sink="tsdb"} 1`, `ganlink_sink_up{sink="influx18"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	lintMetrics(t, metrics)
}

// TestSourcesRecoverWithoutRestart: the OPC UA server and the broker restart mid-run;
// data flows again within 10 s, the gateway untouched.
func TestSourcesRecoverWithoutRestart(t *testing.T) {
	w := startWorkshop(t, 2, 1, 1)
	time.Sleep(500 * time.Millisecond)
	w.step(5, 200*time.Millisecond)

	w.stopOPCServer()
	w.broker.Stop()
	w.step(3, 200*time.Millisecond) // produced while both are down: not expected anywhere
	w.broker.Start()
	w.serveOPC()
	restarted := time.Now()

	// Keep stepping until values produced after the restart arrive.
	deadline := restarted.Add(10 * time.Second)
	var from time.Time
	for time.Now().Before(deadline) {
		f, _ := w.step(1, 250*time.Millisecond)
		if from.IsZero() {
			from = f
		}
		got := w.vm.Export(fmt.Sprintf(`{__name__=~"cnc_machinery_item_state|cnc_parts_total|cnc_spindle_speed_rpm|energy_meter_power_kw"}`))
		var cnc, meter bool
		for _, s := range got {
			if s.Timestamp >= from.UnixMilli() {
				if strings.HasPrefix(s.Labels["__name__"], "cnc_") {
					cnc = true
				} else {
					meter = true
				}
			}
		}
		if cnc && meter {
			t.Logf("data flowing again %v after the restarts", time.Since(restarted).Round(time.Millisecond))
			return
		}
	}
	t.Fatalf("no OPC UA and MQTT data within 10s of the restarts")
}

func lintMetrics(t *testing.T, page string) {
	t.Helper()
	promtool, err := lookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found: run scripts/install-deps.sh")
	}
	cmd := execCommand(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
