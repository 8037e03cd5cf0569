package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestModbusRTUEndToEnd: devsim's simulated energy meters em1 and em2 answer as units
// 1 and 2 of an RS-485 bus (a socat pty pair), unit 3 is configured but silent. The
// live meters' values reach VictoriaMetrics exactly (float32 registers), and the status
// page names the silent meter's timeout on that device only.
func TestModbusRTUEndToEnd(t *testing.T) {
	vm := testsrv.StartVictoria(t)
	sim, err := devsim.New(devsim.Config{Machines: 2, EnergyMeters: 2, Seed: 9, Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	em1, _ := sim.RTUMeter("em1")
	em2, _ := sim.RTUMeter("em2")
	pp := testsrv.StartPtyPair(t)
	sl := devsim.NewRTUSlave(map[byte]devsim.RTUUnit{1: em1, 2: em2})
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() { sl.ServePort(sctx, pp.B); close(sdone) }()
	t.Cleanup(func() { scancel(); <-sdone })

	meter := func(id string, unit int) string {
		return fmt.Sprintf(`  - id: %s
    kind: energy_meter
    class: meter
    source: bus1
    unit_id: %d
    poll_interval: 200ms
    signals:
      power_kw: {register: {area: holding, address: 0x2012, type: float32}, scale: 0.0001}
      energy_kwh_total: {register: {area: holding, address: 0x101E, type: float32}, counter: true}
`, id, unit)
	}
	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
sources:
  modbus:
    - {name: bus1, endpoint: "serial://%s", baud_rate: 115200, response_timeout: 500ms}
sinks:
  influx:
    - {name: tsdb, url: %q, bucket: b, flush_interval: 100ms}
devices:
`, t.TempDir()+"/queue", pp.A, vm.URL) + meter("em1", 1) + meter("em2", 2) + meter("em3", 3)
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	want := map[string]float64{}
	for id, m := range map[string]*devsim.RTUMeter{"em1": em1, "em2": em2} {
		kwh, kw := m.Values()
		want[id+" energy_meter_energy_kwh_total"] = float64(float32(kwh))
		want[id+" energy_meter_power_kw"] = float64(float32(kw*10000)) * 0.0001
	}
	msg := testsrv.WaitFor(20*time.Second, func() string {
		got := map[string]float64{}
		for _, s := range vm.Export(`{__name__=~"energy_meter_.*"}`) {
			got[s.Labels["device"]+" "+s.Labels["__name__"]] = s.Value
		}
		var bad []string
		for k, v := range want {
			if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-12*math.Abs(v) {
				bad = append(bad, fmt.Sprintf("%s=%v (present %v), want %v", k, g, ok, v))
			}
		}
		return strings.Join(bad, "; ")
	})
	if msg != "" {
		t.Fatal(msg)
	}
	st := a.Status()
	for _, d := range st.Devices {
		switch d.ID {
		case "em3":
			// The poll reads the energy register first; its timeout spares the second read.
			if d.Problem == nil || d.Problem.Reason != "timeout" || d.Problem.Error != `read signal "power_kw" of device "em3" `+
				`at holding register 8210 (unit 3, read 8210..8211): not sent: request timed out: no response within 500ms` {
				t.Fatalf("em3 problem %+v", d.Problem)
			}
			if d.Connection != "up" {
				t.Fatalf("em3 connection %q", d.Connection)
			}
		case "em1", "em2":
			if d.Problem != nil {
				t.Fatalf("%s problem %+v", d.ID, d.Problem)
			}
		}
	}
}
