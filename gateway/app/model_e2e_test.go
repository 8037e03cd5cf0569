package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// modelServer is an in-process gopcua server (security None, anonymous) whose variables
// ns=1;s=<name> hold data values the test sets, source timestamps included.
type modelServer struct {
	url string
	srv *server.Server
	ns  *server.NodeNameSpace

	mu   sync.Mutex
	vals map[string]*ua.DataValue
}

func startModelServer(t *testing.T, initial map[string]*ua.DataValue) *modelServer {
	t.Helper()
	port := testsrv.FreePort(t)
	ms := &modelServer{url: fmt.Sprintf("opc.tcp://127.0.0.1:%d", port), vals: map[string]*ua.DataValue{}}
	ms.srv = server.New(server.EndPoint("127.0.0.1", port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.SetLogger(uaQuiet{}))
	ms.ns = server.NewNodeNameSpace(ms.srv, "urn:ganlink:test:model")
	if ms.ns.ID() != 1 {
		t.Fatalf("namespace index %d, want 1", ms.ns.ID())
	}
	for name, dv := range initial {
		ms.vals[name] = dv
		ms.ns.AddNode(server.NewVariableNode(ua.NewStringNodeID(1, name), name, func() *ua.DataValue {
			ms.mu.Lock()
			defer ms.mu.Unlock()
			return ms.vals[name]
		}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := ms.srv.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { ms.srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
		}
	})
	return ms
}

// set changes a variable and notifies its monitored items.
func (ms *modelServer) set(name string, dv *ua.DataValue) {
	ms.mu.Lock()
	ms.vals[name] = dv
	ms.mu.Unlock()
	ms.srv.ChangeNotification(ua.NewStringNodeID(1, name))
}

type uaQuiet struct{}

func (uaQuiet) Debug(string, ...any) {}
func (uaQuiet) Info(string, ...any)  {}
func (uaQuiet) Warn(string, ...any)  {}
func (uaQuiet) Error(string, ...any) {}

// good is a Good data value of v at t.
func uaGood(v any, t time.Time) *ua.DataValue {
	return &ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueSourceTimestamp, Value: ua.MustVariant(v),
		SourceTimestamp: t}
}

// TestDeviceModelEndToEnd runs a workshop of 6 machines (4 on an OPC UA server, 2 in
// the inventory only) and 2 meters (MQTT through mosquitto) whose signals use their own
// names with role: and counter: true, through the gateway into VictoriaMetrics. Every
// field of the minute's device_kpi and workshop_kpi points equals the values computed
// by hand below; the meters are in no equipment figure.
//
// The gateway's clock is held at T0 (a minute boundary) while the samples of
// [T0, T0+1m) arrive with their source timestamps, then moved past the window's
// allowed lateness so the window closes.
func TestDeviceModelEndToEnd(t *testing.T) {
	t0 := time.Now().Truncate(time.Minute).Add(-30 * time.Minute)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	// m1: st Executing, mode Processing; alarm 20..30 s; NotExecuting from 45 s; parts
	//     1000 → 1010 at 40 s.
	// m2: item Executing, om Setup until 15 s then Processing; NotExecuting from 50 s;
	//     count 4294967290 → 5 at 30 s (a UInt32 wrap: +11).
	// m3: spindle 0, 1200 rpm from 10 s, 0 from 40 s.
	// m4: its state node answers Bad from T0: offline all minute, never networked.
	ops := startModelServer(t, map[string]*ua.DataValue{
		"M1.St": uaGood(uint32(3), at(0)), "M1.Mode": uaGood(uint32(3), at(0)),
		"M1.Alm": uaGood(false, at(0)), "M1.Pcs": uaGood(uint32(1000), at(0)),
		"M2.Item": uaGood(uint32(3), at(0)), "M2.Om": uaGood(uint32(2), at(0)),
		"M2.Count":   uaGood(uint32(4294967290), at(0)),
		"M3.Spindle": uaGood(0.0, at(0)),
		"M4.State": {EncodingMask: ua.DataValueStatusCode | ua.DataValueSourceTimestamp,
			Status: ua.StatusBadNotConnected, SourceTimestamp: at(0)},
	})
	broker := testsrv.StartMosquitto(t)
	vm := testsrv.StartVictoria(t)

	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1, timezone: UTC}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
kpi: {windows: ["1m"]}
sources:
  opcua:
    - {name: cnc, endpoint: %q, security_policy: None, publishing_interval: 50ms}
  mqtt:
    - {name: meters, broker: %q}
sinks:
  influx:
    - {name: vm, url: %q, bucket: b, flush_interval: 100ms}
devices:
  - id: m1
    kind: cnc
    key_process: true
    numerical_control: true
    smart: true
    unit_value_yuan: 100
    source: cnc
    signals:
      st: {node: "ns=1;s=M1.St", role: machinery_item_state}
      mode: {node: "ns=1;s=M1.Mode", role: operation_mode}
      alm: {node: "ns=1;s=M1.Alm", role: alarm}
      pcs: {node: "ns=1;s=M1.Pcs", role: parts_total, counter: true}
  - id: m2
    kind: cnc
    key_process: true
    numerical_control: true
    unit_value_yuan: 200
    source: cnc
    signals:
      item: {node: "ns=1;s=M2.Item", role: machinery_item_state}
      om: {node: "ns=1;s=M2.Om", role: operation_mode}
      count: {node: "ns=1;s=M2.Count", role: parts_total, counter: true}
  - id: m3
    kind: machine
    key_process: true
    source: cnc
    signals:
      spindle: {node: "ns=1;s=M3.Spindle", role: spindle_speed_rpm}
  - id: m4
    kind: machine
    source: cnc
    signals:
      state: {node: "ns=1;s=M4.State", role: machinery_item_state}
  - {id: legacy1, kind: machine, key_process: true, numerical_control: true}
  - {id: legacy2, kind: machine}
  - id: em1
    kind: energy_meter
    class: meter
    source: meters
    topic: ws1/em1
    timestamp_path: ts
    signals:
      import_kwh: {path: kwh, role: energy_kwh_total, counter: true}
      p: {path: kw, role: power_kw}
  - id: wm1
    kind: water
    class: meter
    source: meters
    topic: ws1/wm1
    timestamp_path: ts
    signals:
      fresh: {path: m3, role: water_m3_total, counter: true}
`, filepath.Join(t.TempDir(), "queue"), ops.url, broker.URL, vm.URL)
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	plans, warn, err := app.KPIPlan(cfg)
	if err != nil || len(warn) != 0 {
		t.Fatalf("plan warnings %q, err %v", warn, err)
	}
	var lines []string
	for _, p := range plans {
		lines = append(lines, p.String())
	}
	wantPlan := []string{
		"m1 equipment: state ✓ (machinery_item_state=st, operation_mode=mode, alarm=alm) parts ✓ (parts_total=pcs) energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)",
		"m2 equipment: state ✓ (machinery_item_state=item, operation_mode=om) parts ✓ (parts_total=count) energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)",
		"m3 equipment: state ✓ (spindle_speed_rpm=spindle) parts – (no parts_total role) energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)",
		"m4 equipment: state ✓ (machinery_item_state=state) parts – (no parts_total role) energy – (no energy_kwh_total or power_kw role) water – (no water_m3_total role)",
		"legacy1 equipment: inventory only (no source): counted in the equipment figures, no device_kpi",
		"legacy2 equipment: inventory only (no source): counted in the equipment figures, no device_kpi",
		"em1 meter: state – (a meter: online/offline only) energy ✓ (energy_kwh_total=import_kwh) water – (no water_m3_total role)",
		"wm1 meter: state – (a meter: online/offline only) energy – (no energy_kwh_total or power_kw role) water ✓ (water_m3_total=fresh)",
	}
	if strings.Join(lines, "\n") != strings.Join(wantPlan, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(wantPlan, "\n"))
	}

	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	a, _ := runGatewayConfig(t, cfg, app.Options{Clock: func() time.Time { return time.Unix(0, clock.Load()) }})
	waitReadyz(t, a.AdminAddr())

	pub := publisher(t, broker.URL)
	meter := func(topic string, s int, kv ...any) {
		m := map[string]any{"ts": at(s).UnixMilli()}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		if tok := pub.Publish(topic, 1, false, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	// em1: 500 → 502.5 → 503.75 kWh: 3.75 kWh. wm1: 10 → 12.25 m³: 2.25 m³.
	meter("ws1/em1", 0, "kwh", 500, "kw", 3)
	meter("ws1/wm1", 0, "m3", 10)
	changes := []struct {
		s     int
		node  string
		value any
	}{
		{10, "M3.Spindle", 1200.0}, {15, "M2.Om", uint32(3)}, {20, "M1.Alm", true}, {30, "M1.Alm", false},
		{30, "M2.Count", uint32(5)}, {40, "M1.Pcs", uint32(1010)}, {40, "M3.Spindle", 0.0},
		{45, "M1.St", uint32(2)}, {50, "M2.Item", uint32(2)},
	}
	for _, c := range changes {
		ops.set(c.node, uaGood(c.value, at(c.s)))
		time.Sleep(150 * time.Millisecond) // one notification each
	}
	meter("ws1/em1", 30, "kwh", 502.5)
	meter("ws1/wm1", 50, "m3", 12.25)
	meter("ws1/em1", 59, "kwh", 503.75)

	// Every sample is in the TSDB (so the KPI engine has it) before the window closes.
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		have := map[string]bool{}
		for _, s := range vm.Export(`{workshop="ws1",__name__!~"device_kpi_.*|workshop_kpi_.*"}`) {
			have[fmt.Sprintf("%s@%d", s.Labels["__name__"], (s.Timestamp-t0.UnixMilli())/1000)] = true
		}
		for _, k := range []string{"cnc_st@45", "cnc_item@50", "machine_spindle@40", "cnc_pcs@40", "cnc_count@30",
			"cnc_alm@30", "energy_meter_import_kwh@59", "water_fresh@50"} {
			if !have[k] {
				return "raw sample " + k + " missing"
			}
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	clock.Store(at(60 + 31).UnixNano()) // past the 30 s allowed lateness: the minute closes

	states := func(running, idle, setup, alarm, offline float64) map[string]float64 {
		return map[string]float64{"running_s": running, "idle_s": idle, "setup_s": setup, "alarm_s": alarm,
			"offline_s": offline, "unknown_s": 0}
	}
	plus := func(m map[string]float64, kv ...any) map[string]float64 {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(float64)
		}
		return m
	}
	kgce := 3.75 * 0.1229
	want := map[string]map[string]float64{
		// m1: running 0-20 and 30-45 = 35 s, alarm 20-30 = 10 s, idle 45-60 = 15 s.
		"m1": plus(states(35, 15, 0, 10, 0), "parts", 10.0, "availability", 35.0/60),
		// m2: setup 0-15, running 15-50 = 35 s, idle 50-60; parts 4294967296-4294967290+5 = 11.
		"m2": plus(states(35, 10, 15, 0, 0), "parts", 11.0, "availability", 35.0/60),
		// m3: running 10-40 = 30 s.
		"m3": plus(states(30, 30, 0, 0, 0), "availability", 30.0/60),
		"m4": plus(states(0, 0, 0, 0, 60), "availability", 0.0),
		// Meters: online (idle) all minute, never running, no availability.
		"em1": plus(states(0, 60, 0, 0, 0), "energy_kwh", 3.75),
		"wm1": plus(states(0, 60, 0, 0, 0), "water_m3", 2.25),
		// Equipment 6 (m1-m4, legacy1, legacy2; not the meters); key 4 (m1, m2, m3,
		// legacy1), NC key 3; digital 4 (m1-m4), networked 3 (m4 sent only Bad);
		// parts 21 worth 10×100 + 11×200 = 3200 yuan; availability over m1-m4:
		// (35+35+30+0)/240.
		"": {"equipment_total": 6, "equipment_key": 4, "equipment_cnc_key": 3, "cnc_rate": 0.75,
			"equipment_digital": 4, "equipment_networked": 3, "networked_rate": 0.75, "networked_rate_all": 3.0 / 6,
			"smart_equipment_in_service": 1, "parts": 21, "output_value_yuan": 3200, "energy_kwh": 3.75,
			"energy_kgce": kgce, "water_m3": 2.25, "energy_kgce_per_part": kgce / 21,
			"energy_kgce_per_10k_yuan": kgce / 0.32, "water_m3_per_10k_yuan": 2.25 / 0.32, "availability": 100.0 / 240},
	}
	var got map[string]map[string]float64
	msg := testsrv.WaitFor(30*time.Second, func() string {
		got = map[string]map[string]float64{}
		for _, s := range vm.Export(`{__name__=~"(device|workshop)_kpi_.*",window="1m"}`) {
			if s.Timestamp != t0.UnixMilli() {
				continue
			}
			name := s.Labels["__name__"]
			dev, field := "", strings.TrimPrefix(name, "workshop_kpi_")
			if strings.HasPrefix(name, "device_kpi_") {
				dev, field = s.Labels["device"], strings.TrimPrefix(name, "device_kpi_")
			}
			if got[dev] == nil {
				got[dev] = map[string]float64{}
			}
			got[dev][field] = s.Value
		}
		for dev := range want {
			if got[dev] == nil {
				return "no kpi points of " + dev
			}
		}
		return ""
	})
	if msg != "" {
		t.Fatalf("%s; got %v", msg, got)
	}
	var problems []string
	for dev, wf := range want {
		for f, wv := range wf {
			gv, ok := got[dev][f]
			if !ok || math.Abs(gv-wv) > 1e-9*math.Max(1, math.Abs(wv)) {
				problems = append(problems, fmt.Sprintf("%q %s = %v (present %v), want %v", dev, f, gv, ok, wv))
			}
		}
		for f, gv := range got[dev] {
			if _, ok := wf[f]; !ok {
				problems = append(problems, fmt.Sprintf("%q unexpected %s = %v", dev, f, gv))
			}
		}
	}
	for dev := range got {
		if _, ok := want[dev]; !ok {
			problems = append(problems, fmt.Sprintf("unexpected kpi points of %q", dev))
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Fatalf("KPIs differ from the hand-computed values:\n%s", strings.Join(problems, "\n"))
	}
}

// waitReadyz waits until the gateway's sources are connected.
func waitReadyz(t *testing.T, addr string) {
	t.Helper()
	if msg := testsrv.WaitFor(20*time.Second, func() string {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Sprintf("readyz %d %s", resp.StatusCode, body)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
}

// TestKPIPlanLoggedAtStart: Build logs the plan's warnings, the lines `gateway
// validate` prints.
func TestKPIPlanLoggedAtStart(t *testing.T) {
	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
sources:
  mqtt:
    - {name: meters, broker: "tcp://127.0.0.1:1"}
sinks:
  influx:
    - {name: vm, url: "http://127.0.0.1:1", bucket: b}
devices:
  - {id: em1, kind: energy_meter, source: meters, topic: a/em1, signals: {kwh: {path: kwh, counter: true}}}
`, filepath.Join(t.TempDir(), "queue"))
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	a, err := app.Build(cfg, log, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = a.Run(ctx) // releases what Build opened
	var got []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "kpi plan") {
			got = append(got, l)
		}
	}
	want := []string{
		`level=WARN msg="kpi plan: device \"em1\": signal \"kwh\": a counter without a role feeds no KPI; set role: energy_kwh_total"`,
		`level=WARN msg="kpi plan: device \"em1\": kind \"energy_meter\" makes it a meter (in no equipment figure): write class: meter to say so, or class: equipment to count it"`,
		`level=WARN msg="kpi plan: no device produces a KPI (state, parts, energy or water): give signals a role (docs/configuration.md)"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
