package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// meterBank serves an SDM630-like energy meter's input registers (float32, high word
// first) on unit 1.
type meterBank struct {
	mu   sync.Mutex
	regs map[uint16]uint16
}

func (b *meterBank) setFloat(addr uint16, v float32) {
	bits := math.Float32bits(v)
	b.mu.Lock()
	b.regs[addr], b.regs[addr+1] = uint16(bits>>16), uint16(bits)
	b.mu.Unlock()
}

func (b *meterBank) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if req.UnitId != 1 {
		return nil, mb.ErrGWTargetFailedToRespond
	}
	out := make([]uint16, req.Quantity)
	for i := range out {
		v, ok := b.regs[req.Addr+uint16(i)]
		if !ok {
			return nil, mb.ErrIllegalDataAddress
		}
		out[i] = v
	}
	return out, nil
}
func (b *meterBank) HandleCoils(*mb.CoilsRequest) ([]bool, error) { return nil, mb.ErrIllegalFunction }
func (b *meterBank) HandleDiscreteInputs(*mb.DiscreteInputsRequest) ([]bool, error) {
	return nil, mb.ErrIllegalFunction
}
func (b *meterBank) HandleHoldingRegisters(*mb.HoldingRegistersRequest) ([]uint16, error) {
	return nil, mb.ErrIllegalFunction
}

// TestModbusEndToEnd: a Modbus TCP meter configured in YAML is polled by the gateway
// and its values reach VictoriaMetrics with the device's identity, scaled as configured.
func TestModbusEndToEnd(t *testing.T) {
	vm := testsrv.StartVictoria(t)
	bank := &meterBank{regs: map[uint16]uint16{}}
	bank.setFloat(0x0000, 230.5)   // voltage L1, V
	bank.setFloat(0x0034, 12345)   // total system power, W
	bank.setFloat(0x0048, 1024.25) // total import, kWh
	port := testsrv.FreePort(t)
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: fmt.Sprintf("tcp://127.0.0.1:%d", port),
		Timeout: 30 * time.Second, MaxClients: 4}, bank)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })

	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
sources:
  modbus:
    - {name: rs485, endpoint: "tcp://127.0.0.1:%d", timeout: 1s}
sinks:
  influx:
    - {name: tsdb, url: %q, bucket: b, flush_interval: 100ms}
devices:
  - id: em1
    kind: energy_meter
    source: rs485
    unit_id: 1
    poll_interval: 200ms
    max_gap: 80
    signals:
      voltage_l1_v: {register: {area: input, address: 0x0000, type: float32}}
      power_kw: {register: {area: input, address: 0x0034, type: float32}, scale: 0.001}
      energy_kwh_total: {register: {area: input, address: 0x0048, type: float32}, counter: true}
`, t.TempDir()+"/queue", port, vm.URL)
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

	want := map[string]float64{"energy_meter_voltage_l1_v": 230.5, "energy_meter_power_kw": 12.345,
		"energy_meter_energy_kwh_total": 1024.25}
	msg := testsrv.WaitFor(15*time.Second, func() string {
		got := map[string]float64{}
		for _, s := range vm.Export(`{device="em1",__name__=~"energy_meter_.*"}`) {
			if s.Labels["workshop"] != "ws1" || s.Labels["kind"] != "energy_meter" || s.Labels["region"] != "360100" {
				return "unexpected labels " + s.Key()
			}
			got[s.Labels["__name__"]] = s.Value
		}
		var bad []string
		for k, v := range want {
			if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9*math.Abs(v) {
				bad = append(bad, fmt.Sprintf("%s=%v (present %v), want %v", k, g, ok, v))
			}
		}
		return strings.Join(bad, "; ")
	})
	if msg != "" {
		t.Fatal(msg)
	}
}
