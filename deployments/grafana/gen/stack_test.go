package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// The simulated province: one workshop "ws1" (3 CNC machines over OPC UA, an energy and
// a water meter over MQTT, one legacy machine) in park nc-hitech, city 360100 of
// province 360000, whose gateway writes to VictoriaMetrics, and an aggregator that
// reads the gateway's 1m windows there and writes its roll-ups back. The enterprise is
// of industry class C3421 (metal-cutting machine tools) and the leader rule needs one
// ranked peer (rules.leaders.min_peers 1, default 3), so the lone workshop is ranked,
// has a leader threshold and is the leader of its class: the benchmark panels have data.
const (
	testRegion   = "360100"
	testPark     = "nc-hitech"
	testWorkshop = "ws1"
	testProvince = "360000"
	// testEnterprise is the simulated workshop's enterprise: a unified social credit code
	// with its check character (GB 32100-2015).
	testEnterprise = "91360100MA35GL001P"
)

// stack is the running simulation. Its clock is simulated: the gateway's KPI windows
// and the aggregator's periods follow it, so minutes pass in seconds.
type stack struct {
	t       *testing.T
	vm      *testsrv.Victoria
	sim     *devsim.Sim
	simTime time.Time
	clock   atomic.Int64
	logs    *testutil.LogBuffer // gateway and aggregator logs
}

func (s *stack) now() time.Time { return time.Unix(0, s.clock.Load()) }

// uscc returns a valid unified social credit code ending the given 17 characters.
func uscc(t *testing.T, first17 string) string {
	t.Helper()
	c, err := registry.USCCCheck(first17)
	if err != nil {
		t.Fatal(err)
	}
	return first17 + string(c)
}

// startStack starts mosquitto, VictoriaMetrics, the simulator at start, the gateway and
// the aggregator (write-back every second over the last 2 simulated minutes).
func startStack(t *testing.T, start time.Time) *stack {
	t.Helper()
	s := &stack{t: t, logs: &testutil.LogBuffer{}}
	broker := testsrv.StartMosquitto(t)
	s.vm = testsrv.StartVictoria(t)
	s.clock.Store(start.UnixNano())
	s.simTime = start

	sim, err := devsim.New(devsim.Config{Machines: 3, EnergyMeters: 1, WaterMeters: 1, Seed: 11, Start: start,
		Rate: time.Second, MeterInterval: time.Second, TimeScale: 0.01,
		Shifts: []devsim.Shift{{Start: 0, End: 24 * time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	s.sim = sim
	opcAddr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	s.goUntilCleanup(func(ctx context.Context) error { return sim.ServeOPCUA(ctx, opcAddr) })
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := sim.WaitOPCUA(wctx, opcAddr); err != nil {
		t.Fatalf("opc ua server: %v", err)
	}
	s.goUntilCleanup(func(ctx context.Context) error { return sim.PublishMQTT(ctx, broker.URL) })

	enterprise := uscc(t, testEnterprise[:17])
	opts := devsim.DefaultGatewayOptions()
	opts.Region, opts.Park, opts.Enterprise = testRegion, testPark, enterprise
	opts.OPCUAEndpoint = "opc.tcp://" + opcAddr
	opts.PublishingInterval = 20 * time.Millisecond
	opts.MQTTBroker = broker.URL
	opts.InfluxURL = s.vm.URL
	opts.QueueDir = filepath.Join(t.TempDir(), "queue")
	opts.AdminListen = "127.0.0.1:0"
	opts.Legacy = 1
	var yml bytes.Buffer
	if err := devsim.WriteGatewayConfig(&yml, sim.Config(), opts); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfgPath, yml.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(cfgPath)
	if err != nil {
		t.Fatalf("gateway config: %v", err)
	}
	cfg.Sinks.Influx[0].FlushInterval = config.Dur(100 * time.Millisecond)
	gw, err := app.Build(cfg, slog.New(slog.NewTextHandler(s.logs, nil)), app.Options{Clock: s.now})
	if err != nil {
		t.Fatal(err)
	}
	s.goUntilCleanup(gw.Run)
	waitHTTP(t, "http://"+gw.AdminAddr()+"/readyz", 20*time.Second)

	agg := s.buildAggregator(enterprise)
	s.goUntilCleanup(agg.Run)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway and aggregator log (tail):\n%s", tail(s.logs.String(), 6000))
		}
	})
	return s
}

// buildAggregator writes the aggregator's configuration, registry and tokens and
// builds it with the simulated clock.
func (s *stack) buildAggregator(enterprise string) *aggregator.App {
	t := s.t
	dir := t.TempDir()
	files := map[string]string{
		"aggregator.yaml": fmt.Sprintf(`listen: "127.0.0.1:0"
registry: registry.yaml
tokens_file: tokens.yaml
window: 1m
settle: 1m
cache_ttl: 0s
backend: {type: promql, url: %q}
rules: {base_min_digital_workshops: 1, leaders: {min_peers: 1}}
write_back: {enabled: true, url: %q, bucket: ganlink, interval: 1s, period: 2m}
`, s.vm.URL, s.vm.URL),
		"registry.yaml": fmt.Sprintf(`regions:
  - code: %q
    name: 江西省
    baseline: {year: 2020, energy_kgce_per_10k_yuan: 420, water_m3_per_10k_yuan: 12.5}
  - code: %q
    name: 南昌市
    baseline: {year: 2020, energy_kgce_per_10k_yuan: 380, water_m3_per_10k_yuan: 10.2}
  - {code: "360200", name: 景德镇市}
parks:
  - {id: %s, name: 南昌高新技术产业开发区, region: %q, designated_base: true}
enterprises:
  - {id: %s, name: 南昌精工数控机床有限公司, park: %s, region: %q, industry: C3421, smart_equipment_maker: true, vendors: [devsim]}
workshops:
  - {id: %s, name: 1号机加车间, enterprise: %s}
`, testProvince, testRegion, testPark, testRegion, enterprise, testPark, testRegion, testWorkshop, enterprise),
		"tokens.yaml": "tokens: []\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := aggregator.LoadConfig(filepath.Join(dir, "aggregator.yaml"))
	if err != nil {
		t.Fatalf("aggregator config: %v", err)
	}
	a, err := aggregator.Build(cfg, slog.New(slog.NewTextHandler(s.logs, nil)), aggregator.Options{Now: s.now})
	if err != nil {
		t.Fatalf("build aggregator: %v", err)
	}
	return a
}

// goUntilCleanup runs f until the test ends and fails the test if it returns an error.
func (s *stack) goUntilCleanup(f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	s.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				s.t.Errorf("component stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			s.t.Errorf("component did not stop within 30s")
		}
	})
}

// step advances the simulation n seconds, pausing between steps so each change reaches
// the gateway as its own notification.
func (s *stack) step(n int, pause time.Duration) {
	for range n {
		s.simTime = s.simTime.Add(time.Second)
		s.sim.Step(s.simTime)
		s.clock.Store(s.simTime.UnixNano())
		time.Sleep(pause)
	}
}

func waitHTTP(t *testing.T, url string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v (last error %v)", url, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
