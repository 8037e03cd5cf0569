package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// regUnit answers holding register 0 with a value and every other read with
// exception 2; excUnit answers every read with exception 1 (illegal function).
type regUnit struct{ v uint16 }

func (u regUnit) ReadRegisters(fc byte, addr, qty uint16) ([]uint16, byte) {
	if fc != 3 || addr != 0 || qty != 1 {
		return nil, 2
	}
	return []uint16{u.v}, 0
}
func (regUnit) ReadBits(byte, uint16, uint16) ([]bool, byte) { return nil, 1 }

type excUnit struct{}

func (excUnit) ReadRegisters(byte, uint16, uint16) ([]uint16, byte) { return nil, 1 }
func (excUnit) ReadBits(byte, uint16, uint16) ([]bool, byte)        { return nil, 1 }

// serveRTUBus serves devsim's RTU meters em1 (unit 1) and em2 (unit 3), a unit with a
// register at 0 (unit 2) and one refusing everything (unit 4) on a pty bus and returns
// the gateway's end.
func serveRTUBus(t *testing.T) (string, *devsim.RTUSlave) {
	t.Helper()
	sim, err := devsim.New(devsim.Config{Machines: 2, EnergyMeters: 2, Seed: 3, Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	em1, err := sim.RTUMeter("em1")
	if err != nil {
		t.Fatal(err)
	}
	em2, _ := sim.RTUMeter("em2")
	sl := devsim.NewRTUSlave(map[byte]devsim.RTUUnit{1: em1, 2: regUnit{0x1234}, 3: em2, 4: excUnit{}})
	pp := testsrv.StartPtyPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sl.ServePort(ctx, pp.B); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "serial://" + pp.A, sl
}

// TestBrowseModbusScan: `gateway browse serial://…` lists the units that answer on a bus
// with what holding register 0 gave and the template their voltage register suggests;
// with -emit-config the YAML loads and validates.
func TestBrowseModbusScan(t *testing.T) {
	ep, sl := serveRTUBus(t)
	var out, errb bytes.Buffer
	if code := run([]string{"browse", ep, "-units", "1-6", "-timeout", "400ms", "-baud-rate", "115200"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	want := `UNIT  HOLDING 0                                TEMPLATE
1     modbus exception 2 (illegal data address) configs/modbus-dtsu666.example.yaml (voltage 230.0 V)
2     0x1234                                   
3     modbus exception 2 (illegal data address) configs/modbus-dtsu666.example.yaml (voltage 230.0 V)
4     modbus exception 1 (illegal function)    
4 of 6 unit ids answered
`
	if got := out.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	out.Reset()
	if code := run([]string{"browse", ep, "-units", "1-6", "-timeout", "400ms", "-baud-rate", "115200", "-emit-config", "-source", "line1"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	want = `# gateway browse ` + ep + `: unit ids 1..6, 4 answered
sources:
  modbus:
    - name: "line1"
      endpoint: "` + ep + `"
      baud_rate: 115200
      data_bits: 8
      parity: none
      stop_bits: 1
      response_timeout: 500ms    # the scan used 400ms

devices:
  # unit 1 looks like configs/modbus-dtsu666.example.yaml (voltage 230.0 V): copy its other signals
  - id: "line1-u1"
    kind: energy_meter
    class: meter
    source: "line1"
    unit_id: 1
    signals:
      voltage_l1_v: {register: {area: holding, address: 0x2006, type: float32}, scale: 0.1, unit: V}
  # unit 2: holding register 0 = 0x1234; register map unknown: see configs/modbus-meters.md
  - id: "line1-u2"
    kind: modbus_device
    source: "line1"
    unit_id: 2
    signals:
      holding_0: {register: {area: holding, address: 0}}
  # unit 3 looks like configs/modbus-dtsu666.example.yaml (voltage 230.0 V): copy its other signals
  - id: "line1-u3"
    kind: energy_meter
    class: meter
    source: "line1"
    unit_id: 3
    signals:
      voltage_l1_v: {register: {area: holding, address: 0x2006, type: float32}, scale: 0.1, unit: V}
  # unit 4 answered holding register 0 with modbus exception 1 (illegal function); register map unknown: see configs/modbus-meters.md
`
	if got := out.String(); got != want {
		t.Fatalf("emitted:\n%s\nwant:\n%s", got, want)
	}
	yml := `workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}` + "\n" + out.String()
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatalf("emitted configuration does not load: %v\n%s", err, yml)
	}
	if len(cfg.Devices) != 3 {
		t.Fatalf("devices %+v", cfg.Devices)
	}
	path := filepath.Join(t.TempDir(), "ws.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"validate", path}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), path+": ok\n") {
		t.Fatalf("validate: exit %d, %q, stderr %s", code, out.String(), errb.String())
	}

	// Garbled answers (as with a wrong baud rate) are reported as such.
	sl.CorruptReplies(1)
	out.Reset()
	if code := run([]string{"browse", ep, "-units", "2", "-timeout", "400ms", "-baud-rate", "115200"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	want = `UNIT  HOLDING 0                                TEMPLATE
2     CRC mismatch: frame 02 03 02 12 34 ab 69 carries 0x69ab, computed 0x33f1 garbled answer: check baud rate, parity and wiring
1 of 1 unit ids answered
`
	if got := out.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestBrowseModbusErrors: usage problems exit 2, a line that cannot be opened exits 1.
func TestBrowseModbusErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"browse", "serial:///dev/ttyUSB0", "-units", "9-2"}, 2, `gateway browse: invalid -units "9-2": want FIRST-LAST within 0..255, e.g. 1-247`},
		{[]string{"browse", "serial:///dev/ttyUSB0", "x"}, 2, `gateway browse: unexpected argument "x"`},
		{[]string{"browse", "serial:///dev/ttyUSB0", "-parity", "mark"}, 1, `gateway browse: validate config of modbus source "scan": parity: invalid parity "mark": want none, even or odd`},
		{[]string{"browse", "serial:///nonexistent/tty"}, 1, `gateway browse: scan serial:///nonexistent/tty: line serial:///nonexistent/tty: open: open serial port: open /nonexistent/tty: no such file or directory`},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if first, _, _ := strings.Cut(errb.String(), "\n"); code != tc.code || first != tc.err {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, errb.String(), tc.code, tc.err)
		}
	}
}
