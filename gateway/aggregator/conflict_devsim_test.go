package aggregator

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
	igtu "github.com/ganlink/ganlink/internal/testutil"
)

// meterTimes records the newest point time the pipeline of one gateway processed, so
// the test steps the simulator only once both gateways booked the previous report.
type meterTimes struct {
	mu   sync.Mutex
	last int64
	news chan struct{}
}

func (m *meterTimes) Process(b point.Batch) {
	m.mu.Lock()
	for _, p := range b {
		m.last = max(m.last, p.Time)
	}
	m.mu.Unlock()
	select {
	case m.news <- struct{}{}:
	default:
	}
}

func (m *meterTimes) wait(t time.Time, d time.Duration) bool {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		m.mu.Lock()
		ok := m.last >= t.UnixNano()
		m.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-m.news:
		case <-timeout.C:
			return false
		}
	}
}

// TestWorkshopConflictFromDevsimGateways: one simulated workshop (devsim, an energy
// meter over a real mosquitto) read by two real gateways with one workshop identity (a
// copied configuration: each its own data directory and MQTT client id), both writing to
// VictoriaMetrics and InfluxDB 1.8.10. Each gateway books the same three hours of
// energy; the aggregator, over PromQL and over InfluxQL, reports the workshop in
// conflict with both instance ids since the first window and counts it once: 3 windows
// and the energy the readings give (last reading of the third hour minus the first
// reading), not twice that, in the workshop's row and in its enterprise's roll-up.
func TestWorkshopConflictFromDevsimGateways(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	dir := t.TempDir()
	writeProvince(t, dir)
	broker := testsrv.StartMosquitto(t)
	vm := testsrv.StartVictoria(t)
	in := testsrv.StartInflux(t, "ganlink")

	t.Logf("servers up after %v", time.Since(t0))
	const step = 5 * time.Minute
	sim, err := devsim.New(devsim.Config{Workshop: "E1-w05", EnergyMeters: 1, Seed: 5, Start: day, Rate: step,
		MeterInterval: step, Shifts: []devsim.Shift{{Start: 0, End: 24 * time.Hour}}, Location: cst, RecordLimit: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(day.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }

	var logs igtu.LogBuffer
	var ids []string
	var seen []*meterTimes
	for i, name := range []string{"a", "b"} {
		o := devsim.DefaultGatewayOptions()
		o.Region, o.Park, o.Enterprise = "360102", "nc-base", uscc("E1")
		o.MQTTBroker, o.MQTTClientID, o.InfluxURL = broker.URL, "ganlink-E1-w05-"+name, vm.URL
		o.QueueDir, o.AdminListen, o.Legacy = filepath.Join(t.TempDir(), "queue"), "127.0.0.1:0", 2
		var yml bytes.Buffer
		if err := devsim.WriteGatewayConfig(&yml, sim.Config(), o); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.WriteFile(path, yml.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := app.LoadConfig(path)
		if err != nil {
			t.Fatalf("gateway %d: %v\n%s", i, err, yml.String())
		}
		cfg.KPI.Windows = []config.Duration{config.Dur(time.Hour)}
		cfg.KPI.AllowedLateness = config.Dur(time.Second)
		cfg.KPI.StateFile = filepath.Join(filepath.Dir(o.QueueDir), "kpi.json")
		cfg.Sinks.Influx[0].FlushInterval = config.Dur(100 * time.Millisecond)
		second := cfg.Sinks.Influx[0]
		second.Name, second.URL = "influx18", in.URL
		cfg.Sinks.Influx = append(cfg.Sinks.Influx, second)
		mt := &meterTimes{news: make(chan struct{}, 1)}
		gw, err := app.Build(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			app.Options{Clock: now, Processors: []app.Processor{mt}})
		if err != nil {
			t.Fatal(err)
		}
		ids, seen = append(ids, gw.Instance()), append(seen, mt)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- gw.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway run: %v", err)
			}
			if t.Failed() && i == 0 {
				t.Logf("gateway logs:\n%s", logs.String())
			}
		})
	}
	if ids[0] > ids[1] {
		ids[0], ids[1] = ids[1], ids[0]
	}
	if msg := testsrv.WaitFor(10*time.Second, func() string {
		if n := strings.Count(logs.String(), `msg="mqtt session up"`); n != 2 {
			return fmt.Sprintf("%d of 2 gateways subscribed", n)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	time.Sleep(1100 * time.Millisecond) // both gateways' KPI ticks observe from the start of the first window
	mctx, stopMQTT := context.WithCancel(context.Background())
	mqttDone := make(chan error, 1)
	go func() { mqttDone <- sim.PublishMQTT(mctx, broker.URL) }()
	t.Cleanup(func() { stopMQTT(); <-mqttDone })

	// Three hours of reports, each booked by both gateways before the next, at most 30
	// simulated minutes a wall second: the gateways' KPI engines take samples more
	// than an hour ahead of their last one-second tick as future and drop them.
	last := day.Add(3*time.Hour - step)
	began := time.Now()
	for ts := day; !ts.After(last); ts = ts.Add(step) {
		time.Sleep(time.Until(began.Add(ts.Sub(day) / 1800)))
		clock.Store(ts.UnixNano())
		sim.Step(ts)
		for i, mt := range seen {
			if !mt.wait(ts, 10*time.Second) {
				t.Fatalf("gateway %d has not processed the %s report within 10s", i, ts.Format("15:04"))
			}
		}
	}
	clock.Store(day.Add(3*time.Hour + 2*time.Second).UnixNano())
	t.Logf("stepped after %v", time.Since(t0))
	var first, final float64
	for _, r := range sim.Produced() {
		if r.Signal == devsim.SigEnergyTotal && r.Time.Equal(day) {
			first = r.Value.(float64)
		}
		if r.Signal == devsim.SigEnergyTotal && r.Time.Equal(last) {
			final = r.Value.(float64)
		}
	}
	wantKWh := final - first
	if !(wantKWh > 0) {
		t.Fatalf("scenario: %v kWh in three hours", wantKWh)
	}

	// Each gateway wrote its three windows to each TSDB.
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		if n := len(vm.Export(`{__name__="workshop_kpi_energy_kwh",workshop="E1-w05",window="1h"}`)); n != 6 {
			return fmt.Sprintf("%d workshop_kpi points of E1-w05 in VictoriaMetrics, want 3 per gateway", n)
		}
		s := in.Query("ganlink", `SELECT count(energy_kwh) FROM workshop_kpi WHERE workshop = 'E1-w05' AND "window" = '1h'`)
		if len(s) != 1 || len(s[0].Values) != 1 || s[0].Values[0][1] != 6.0 {
			return fmt.Sprintf("InfluxDB: %+v, want 6 workshop_kpi points of E1-w05", s)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}

	t.Logf("windows written after %v", time.Since(t0))
	for _, be := range []struct{ name, yaml string }{
		{"promql", fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL)},
		{"influxql", fmt.Sprintf("backend: {type: influxql, url: %q, database: ganlink}\n", in.URL)},
	} {
		t.Run(be.name, func(t *testing.T) {
			var alog igtu.LogBuffer
			_, c, _ := startConflictApp(t, dir, be.yaml, &alog)
			rows := c.json("tok-province", "/api/v1/workshops?enterprise="+uscc("E1")+"&"+period)["rows"].([]any)
			var w map[string]any
			for _, r := range rows {
				if r := r.(map[string]any); r["workshop"] == "E1-w05" {
					w = r
				}
			}
			if w == nil {
				t.Fatalf("no row of E1-w05 in %v", rows)
			}
			// A tie at 3 windows each: the smaller id counts.
			want := map[string]any{"active": true, "instances": []any{ids[0], ids[1]}, "counted": ids[0], "since": "2024-05-01T00:00:00+08:00"}
			if w["windows"] != 3.0 || w["equipment_total"] != 2.0 || fmt.Sprint(w["conflict"]) != fmt.Sprint(want) {
				t.Errorf("E1-w05: windows %v equipment_total %v conflict %v; want 3, 2, %v", w["windows"], w["equipment_total"], w["conflict"], want)
			}
			if e, ok := w["energy_kwh"].(float64); !ok || math.Abs(e-wantKWh) > 1e-6 {
				t.Errorf("E1-w05 energy_kwh = %v, want %.9f (one gateway's; two would give %.9f)", w["energy_kwh"], wantKWh, 2*wantKWh)
			}
			// No other workshop of E1 has data: the enterprise holds E1-w05 once.
			e := c.json("tok-province", "/api/v1/kpi/enterprises?enterprise="+uscc("E1")+"&"+period)["rows"].([]any)
			if len(e) != 1 {
				t.Fatalf("enterprise E1 rows = %v, want 1", e)
			}
			if got, ok := e[0].(map[string]any)["energy_kwh"].(float64); !ok || math.Abs(got-wantKWh) > 1e-6 {
				t.Errorf("enterprise E1 energy_kwh = %v, want %.9f", e[0].(map[string]any)["energy_kwh"], wantKWh)
			}
			wantLog := `level=ERROR msg="workshop written by more than one gateway instance: only the counted instance's figures are used" workshop=E1-w05 instances=` +
				ids[0] + "," + ids[1] + " counted=" + ids[0] + " from=2024-05-01T00:00:00+08:00 to=2024-05-02T00:00:00+08:00 since=2024-05-01T00:00:00+08:00"
			if !strings.Contains(alog.String(), wantLog) {
				t.Errorf("aggregator log lacks\n%s\ngot\n%s", wantLog, alog.String())
			}
		})
	}
}
