package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// The RTU tests run the source against devsim's RTU slave (written independently from
// the specification) on a real pseudo-terminal pair made by socat, or behind a TCP
// listener standing in for a serial server in transparent mode.

// bankUnit serves one unit of a bank on the RTU slave.
type bankUnit struct {
	b    *bank
	unit uint8
}

func excCode(err error) byte {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, mb.ErrIllegalDataAddress):
		return 2
	}
	return 4
}

func (u bankUnit) ReadRegisters(fc byte, addr, qty uint16) ([]uint16, byte) {
	area, m := "holding", u.b.holding
	if fc == 4 {
		area, m = "input", u.b.input
	}
	regs, err := u.b.regs(area, m, u.unit, addr, qty)
	return regs, excCode(err)
}

func (u bankUnit) ReadBits(fc byte, addr, qty uint16) ([]bool, byte) {
	area, m := "coil", u.b.coils
	if fc == 2 {
		area, m = "discrete", u.b.discrete
	}
	bits, err := u.b.bits(area, m, u.unit, addr, qty)
	return bits, excCode(err)
}

// startRTUBus starts a pty pair and devsim's slave on its end B serving units of b;
// the gateway's end is serial://A.
func startRTUBus(t *testing.T, b *bank, units ...uint8) (*testsrv.PtyPair, *devsim.RTUSlave, string) {
	t.Helper()
	pp := testsrv.StartPtyPair(t)
	m := map[byte]devsim.RTUUnit{}
	for _, u := range units {
		m[u] = bankUnit{b, u}
	}
	sl := devsim.NewRTUSlave(m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sl.ServePort(ctx, pp.B); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return pp, sl, "serial://" + pp.A
}

// rtuConfig is a quickly reacting RTU config.
func rtuConfig(endpoint string, devs ...Device) Config {
	return Config{Name: "bus1", Endpoint: endpoint, Framing: "rtu", MaxGap: DefaultMaxGap,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		// A second: generous for a loaded CI machine, where a pty round trip of a live unit
		// can take hundreds of milliseconds; only dead units pay it.
		Line: serialline.Line{BaudRate: 115200, ResponseTimeout: time.Second}, Devices: devs}
}

func meterDev(id string, unit int) Device {
	return Device{Device: id, Measurement: "energy_meter", UnitID: unit, PollInterval: 50 * time.Millisecond,
		Signals: []Signal{{Field: "energy_kwh_total", Area: "holding", Address: 0, Type: "uint32"},
			{Field: "power_kw", Area: "holding", Address: 2, Type: "int16", Conv: point.Conv{Scale: 0.1}}}}
}

func TestCRC16(t *testing.T) {
	// Modbus over serial line V1.02, 6.2.2: the request 01 03 00 00 00 01 carries 84 0A.
	if got := rtuRequest(1, 3, 0, 1); fmt.Sprintf("% x", got) != "01 03 00 00 00 01 84 0a" {
		t.Fatalf("request frame % x", got)
	}
	// The check value of CRC-16/MODBUS: "123456789" -> 0x4B37.
	if c := CRC16([]byte("123456789")); c != 0x4B37 {
		t.Fatalf("CRC 0x%04x", c)
	}
}

// TestRTUMultiDrop polls three meters on one bus, unit 3 dead: units 1 and 2 deliver
// their values in every poll round, unit 3's fields are Bad with a timeout naming the
// response timeout, the line is never reopened, and when unit 3 comes alive its
// values arrive without a reconnect.
func TestRTUMultiDrop(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0, 1000, 25)
	b.setRegs(2, "holding", 0, 1, 2, 0xFFF6)
	b.setRegs(3, "holding", 0, 0, 3, 5)
	_, sl, ep := startRTUBus(t, b, 1, 2)
	rec := &adaptertest.Recorder{}
	log := &testutil.LogBuffer{}
	cfg := rtuConfig(ep, meterDev("em1", 1), meterDev("em2", 2), meterDev("em3", 3))
	s, err := New(cfg, rec, slogTo(log))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 30*time.Second, "5 poll rounds with em3 dead", func() bool { return len(rec.Points("em3")) >= 5 })
	// The live meters deliver exact values in every poll, as often as the dead one is
	// polled.
	n3 := len(rec.Points("em3"))
	for dev, want := range map[string]string{"em1": "energy_kwh_total=1000 power_kw=2.5", "em2": "energy_kwh_total=65538 power_kw=-1",
		"em3": "energy_kwh_total=bad power_kw=bad"} {
		ps := rec.Points(dev)
		for _, p := range ps {
			if got := fieldString(p.Fields); got != want {
				t.Fatalf("%s: %s, want %s", dev, got, want)
			}
		}
		if len(ps) < n3-1 {
			t.Fatalf("%s: %d points while em3 was polled %d times", dev, len(ps), n3)
		}
	}
	errs := rec.Signals()
	want := `read signal "energy_kwh_total" of device "em3" at holding register 0 (unit 3, read 0..2): request timed out: no response within 1s`
	found := false
	for _, e := range errs {
		if e.Device != "em3" || e.Reason != "timeout" {
			t.Fatalf("signal error %s", e)
		}
		if e.Err.Error() == want {
			found = true
		}
	}
	if !found {
		t.Fatalf("no error %q in %v", want, errs)
	}
	if got := rec.StateNames(); !slices.Equal(got, []string{"connecting", "up"}) {
		t.Fatalf("states %q: the line must not be reopened for one silent unit", got)
	}
	if !strings.Contains(log.String(), `msg="modbus device not answering; polling it on" device=em3 unit=3 failures=3`) {
		t.Fatalf("log:\n%s", log)
	}
	// Unit 3 comes alive.
	sl.SetUnit(3, bankUnit{b, 3})
	testutil.WaitFor(t, 20*time.Second, "em3 values", func() bool {
		p, ok := rec.Last("em3")
		return ok && fieldString(p.Fields) == "energy_kwh_total=3 power_kw=0.5"
	})
	stop()
	if got := rec.StateNames(); !slices.Equal(got, []string{"connecting", "up"}) {
		t.Fatalf("states %q", got)
	}
	if !strings.Contains(log.String(), `msg="modbus device answers again" device=em3 unit=3`) {
		t.Fatalf("log:\n%s", log)
	}
}

// TestRTUCRCErrors corrupts replies: each is counted as a "crc" signal error naming the
// frame, the field is Bad, and the next poll reads the values again.
func TestRTUCRCErrors(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0, 1000, 25)
	_, sl, ep := startRTUBus(t, b, 1)
	rec := &adaptertest.Recorder{}
	s, err := New(rtuConfig(ep, meterDev("em1", 1)), rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 20*time.Second, "a good point", func() bool { return len(rec.Points("em1")) > 0 })
	sl.CorruptReplies(2)
	defer func() {
		if t.Failed() {
			for _, e := range rec.Signals() {
				t.Log(e)
			}
		}
	}()
	testutil.WaitFor(t, 20*time.Second, "2 CRC errors and good values after them", func() bool {
		ps := rec.Points("em1")
		return len(rec.Signals()) == 4 && fieldString(ps[len(ps)-1].Fields) == "energy_kwh_total=1000 power_kw=2.5"
	})
	for _, e := range rec.Signals() {
		if e.Reason != "crc" || !strings.Contains(e.Err.Error(), "CRC mismatch: frame 01 03 06 00 00 03 e8 00 19") {
			t.Fatalf("signal error %s", e)
		}
	}
	n := 0
	for _, p := range rec.Points("em1") {
		if fieldString(p.Fields) == "energy_kwh_total=bad power_kw=bad" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d bad points, want 2", n)
	}
	if got := rec.StateNames(); !slices.Equal(got, []string{"connecting", "up"}) {
		t.Fatalf("states %q", got)
	}
}

// TestRTUException: a read of an address the meter does not implement gets exception 2,
// named in the signal error; the coalesced read is split and the other signal read.
func TestRTUException(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0, 1000)
	b.setRegs(1, "holding", 3, 99)
	_, _, ep := startRTUBus(t, b, 1)
	rec := &adaptertest.Recorder{}
	dev := meterDev("em1", 1)
	dev.Signals[1].Address = 2 // unmapped
	dev.Signals = append(dev.Signals, Signal{Field: "pf", Area: "holding", Address: 3})
	s, err := New(rtuConfig(ep, dev), rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 20*time.Second, "a point", func() bool {
		p, ok := rec.Last("em1")
		return ok && fieldString(p.Fields) == "energy_kwh_total=1000 power_kw=bad pf=99"
	})
	want := `read signal "power_kw" of device "em1" at holding register 2 (unit 1, read 2..2): modbus exception 2 (illegal data address)`
	found := false
	for _, e := range rec.Signals() {
		found = found || e.Reason == "modbus_exception" && e.Err.Error() == want
	}
	if !found {
		t.Fatalf("no exception %q in %v", want, rec.Signals())
	}
}

// TestRTULineLostAndBack stops socat (the USB adapter unplugged): the source reports
// down with the line's error and, once the line is back, reopens it and reads again.
func TestRTULineLostAndBack(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0, 1000, 25)
	pp, _, ep := startRTUBus(t, b, 1)
	rec := &adaptertest.Recorder{}
	s, err := New(rtuConfig(ep, meterDev("em1", 1)), rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 20*time.Second, "a point", func() bool { return len(rec.Points("em1")) > 0 })
	pp.Stop()
	testutil.WaitFor(t, 20*time.Second, "down", func() bool { return slices.Contains(rec.StateNames(), "down") })
	var le *serialline.LineError
	if errs := rec.DownErrors(); len(errs) == 0 || !errors.As(errs[0], &le) {
		t.Fatalf("down errors %v", rec.DownErrors())
	}
	n := len(rec.Points("em1"))
	pp.Start()
	testutil.WaitFor(t, 20*time.Second, "points after the line is back", func() bool { return len(rec.Points("em1")) > n+2 })
	p, _ := rec.Last("em1")
	if got := fieldString(p.Fields); got != "energy_kwh_total=1000 power_kw=2.5" {
		t.Fatalf("fields %s", got)
	}
}

// TestRTUOverTCP polls through a serial server in transparent mode (devsim's slave
// behind a TCP listener), including the server dropping the connection.
func TestRTUOverTCP(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0, 1000, 25)
	b.setRegs(2, "holding", 0, 0, 2000, 50)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := devsim.NewRTUSlave(map[byte]devsim.RTUUnit{1: bankUnit{b, 1}, 2: bankUnit{b, 2}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sl.ServeTCP(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	rec := &adaptertest.Recorder{}
	s, err := New(rtuConfig("tcp://"+l.Addr().String(), meterDev("em1", 1), meterDev("em2", 2)), rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 20*time.Second, "both meters", func() bool {
		p1, ok1 := rec.Last("em1")
		p2, ok2 := rec.Last("em2")
		return ok1 && ok2 && fieldString(p1.Fields) == "energy_kwh_total=1000 power_kw=2.5" &&
			fieldString(p2.Fields) == "energy_kwh_total=2000 power_kw=5"
	})
	if errs := rec.Errors(); len(errs) != 0 {
		t.Fatalf("errors %q", errs)
	}
}

// valueTypes is a register image with every register type and word/byte order, the
// device reading it and the fields it must yield.
type valueTypes struct {
	holding, input map[uint16]uint16
	coil, discrete map[uint16]bool
	dev            Device
	want           string
}

func newValueTypes() valueTypes {
	f32 := math.Float32bits(-1234.5)
	f64 := math.Float64bits(98765.4321)
	vt := valueTypes{holding: map[uint16]uint16{}, input: map[uint16]uint16{}, coil: map[uint16]bool{}, discrete: map[uint16]bool{}}
	for i, r := range []uint16{
		0xFFFE,         // 0 int16 -2
		0xFFFE,         // 1 uint16 65534
		0x0001, 0x0002, // 2 int32 high_first 65538
		0x0002, 0x0001, // 4 uint32 low_first 65538
		uint16(f32 >> 16), uint16(f32), // 6 float32 -1234.5
		uint16(f64 >> 48), uint16(f64 >> 32), uint16(f64 >> 16), uint16(f64), // 8 float64
		0x0100,                         // 12 uint16, byte order little: 1
		0xFFFF, 0xFFFF, 0xFFFF, 0xFFFD, // 13 int64 -3
		0x3412, 0x7856, // 17 uint32 high_first little (BADC): 0x12345678
		0x0000, 0x0000, 0x0000, 0x0000, // 19 unused
		0xAD0B, 0x0000, 0x0000, 0x0000, // 23 uint64 low_first little (DCBA...): 0x0BAD
	} {
		vt.holding[uint16(i)] = r
	}
	vt.input[10], vt.input[11] = uint16(f32), uint16(f32>>16) // float32 low_first
	vt.coil[5], vt.coil[6], vt.coil[7] = true, false, true
	vt.discrete[0], vt.discrete[1] = false, true
	vt.dev = Device{Device: "m", Measurement: "x", UnitID: 1, PollInterval: 50 * time.Millisecond, Signals: []Signal{
		{Field: "i16", Area: "holding", Address: 0, Type: "int16"},
		{Field: "u16", Area: "holding", Address: 1},
		{Field: "i32", Area: "holding", Address: 2, Type: "int32"},
		{Field: "u32lf", Area: "holding", Address: 4, Type: "uint32", WordOrder: "low_first"},
		{Field: "f32", Area: "holding", Address: 6, Type: "float32"},
		{Field: "f64", Area: "holding", Address: 8, Type: "float64"},
		{Field: "u16le", Area: "holding", Address: 12, ByteOrder: "little"},
		{Field: "i64", Area: "holding", Address: 13, Type: "int64"},
		{Field: "u32badc", Area: "holding", Address: 17, Type: "uint32", ByteOrder: "little"},
		{Field: "u64dcba", Area: "holding", Address: 23, Type: "uint64", WordOrder: "low_first", ByteOrder: "little"},
		{Field: "in_f32lf", Area: "input", Address: 10, Type: "float32", WordOrder: "low_first"},
		{Field: "c5", Area: "coil", Address: 5}, {Field: "c6", Area: "coil", Address: 6}, {Field: "c7", Area: "coil", Address: 7},
		{Field: "d1", Area: "discrete", Address: 1},
	}}
	vt.want = "i16=-2 u16=65534 i32=65538 u32lf=65538 f32=-1234.5 f64=98765.4321 u16le=1 i64=-3 " +
		"u32badc=3.05419896e+08 u64dcba=2989 in_f32lf=-1234.5 c5=1 c6=0 c7=1 d1=1"
	return vt
}

// TestRTUValueTypes reads every register type and word/byte order, coils and discrete
// inputs over RTU from devsim's slave and checks the exact values.
func TestRTUValueTypes(t *testing.T) {
	vt := newValueTypes()
	b := newBank()
	for a, v := range vt.holding {
		b.setRegs(1, "holding", a, v)
	}
	for a, v := range vt.input {
		b.setRegs(1, "input", a, v)
	}
	for a, v := range vt.coil {
		b.setBits(1, "coil", a, v)
	}
	for a, v := range vt.discrete {
		b.setBits(1, "discrete", a, v)
	}
	_, _, ep := startRTUBus(t, b, 1)
	checkValueTypes(t, rtuConfig(ep, vt.dev), vt.want)
}

func checkValueTypes(t *testing.T, cfg Config, want string) {
	t.Helper()
	rec := &adaptertest.Recorder{}
	s, err := New(cfg, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s, rec, 2*time.Second)
	defer stop() // the line is free again when it returns
	testutil.WaitFor(t, 20*time.Second, "a point", func() bool { return len(rec.Points("m")) > 0 })
	p, _ := rec.Last("m")
	if got := fieldString(p.Fields); got != want {
		t.Fatalf("fields\n got %s\nwant %s", got, want)
	}
	if errs := rec.Errors(); len(errs) != 0 {
		t.Fatalf("errors %q", errs)
	}
}

func slogTo(w *testutil.LogBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestRTUConformance runs the source contract over an RTU bus on a socat pty; the
// server going down is the pty pair vanishing (socat stopped). The bad inputs are an
// exception, a float32 NaN and a reply with a corrupted CRC.
func TestRTUConformance(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0, 0, 0)
	pp, sl, ep := startRTUBus(t, b, 1)
	dev := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 50 * time.Millisecond,
		Signals: []Signal{{Field: "v", Area: "holding", Address: 0}, {Field: "f", Area: "holding", Address: 1, Type: "float32"}}}
	var n uint16
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, obs point.Observer) adaptertest.Source {
			src, err := New(rtuConfig(ep, dev), obs, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return src
		},
		Good: func(*testing.T) adaptertest.Match {
			n++
			b.setRegs(1, "holding", 0, n, 0, 0)
			return adaptertest.FieldIs("em1", "v", float64(n))
		},
		Bad: []adaptertest.BadInput{
			{Name: "exception", Inject: func(*testing.T) adaptertest.Report {
				b.mu.Lock()
				delete(b.holding, key(1, 0))
				b.mu.Unlock()
				return adaptertest.Report{Device: "em1", Signal: "v", Reason: "modbus_exception"}
			}},
			{Name: "not_finite", Inject: func(*testing.T) adaptertest.Report {
				b.setRegs(1, "holding", 1, 0x7FC0, 0x0000)
				return adaptertest.Report{Device: "em1", Signal: "f", Reason: "nan"}
			}},
			{Name: "crc", Inject: func(*testing.T) adaptertest.Report {
				// Three: one corrupted reply that arrives after a loaded machine's timeout is
				// discarded as late and never reported as a CRC error.
				sl.CorruptReplies(3)
				return adaptertest.Report{Device: "em1", Signal: "v", Reason: "crc"}
			}},
		},
		Stop:   func(*testing.T) { pp.Stop() },
		Start:  func(*testing.T) { pp.Start() },
		Frames: []string{"ganlink/adapters/modbus.", "ganlink/adapters/internal/serialline."},
	})
}

// TestRTUTemplates runs the meter templates unchanged over RTU: the DTSU666 template
// against devsim's simulated meters (DTSU666 register map) on a pty bus, two meters at
// units 1 and 2, and the SDM630 template against the register image of
// TestSDM630Template through a serial server. Only the source section changes
// (endpoint, and timeout → response_timeout).
func TestRTUTemplates(t *testing.T) {
	sim, err := devsim.New(devsim.Config{Machines: 2, EnergyMeters: 2, Seed: 5, Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	em1, _ := sim.RTUMeter("em1")
	em2, _ := sim.RTUMeter("em2")
	pp := testsrv.StartPtyPair(t)
	sl := devsim.NewRTUSlave(map[byte]devsim.RTUUnit{1: em1, 2: em2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sl.ServePort(ctx, pp.B); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	cfg := loadTemplate(t, "../../configs/modbus-dtsu666.example.yaml", "serial://"+pp.A)
	cfg.Timeout, cfg.Line.BaudRate = 0, 115200
	d2 := cfg.Devices[0]
	d2.Device, d2.UnitID = "em-dtsu666-2", 2
	cfg.Devices = append(cfg.Devices, d2)
	for i := range cfg.Devices {
		cfg.Devices[i].PollInterval = 50 * time.Millisecond
	}
	rec := &adaptertest.Recorder{}
	run(t, newSource(t, cfg, rec), rec, 2*time.Second)
	testutil.WaitFor(t, 20*time.Second, "points of both meters", func() bool {
		return len(rec.Points("em-dtsu666-1")) > 0 && len(rec.Points("em-dtsu666-2")) > 0
	})
	for dev, m := range map[string]*devsim.RTUMeter{"em-dtsu666-1": em1, "em-dtsu666-2": em2} {
		kwh, kw := m.Values()
		if kwh < 1000 || kw <= 0 {
			t.Fatalf("%s: simulated meter at %v kWh, %v kW", dev, kwh, kw)
		}
		p, _ := rec.Last(dev)
		got := map[string]float64{}
		for _, f := range p.Fields {
			got[f.Key] = f.Value
		}
		// The meter holds float32 raw values; the template scales them.
		f32 := func(v, scale float64) float64 { return float64(float32(v)) * scale }
		amps := kw * 1000 / (3 * 230 * 0.95)
		want := map[string]float64{
			"voltage_l1_v": f32(2300, 0.1), "voltage_l2_v": f32(2300, 0.1), "voltage_l3_v": f32(2300, 0.1),
			"current_l1_a": f32(amps*1000, 0.001), "current_l2_a": f32(amps*1000, 0.001), "current_l3_a": f32(amps*1000, 0.001),
			"power_kw": f32(kw*10000, 0.0001), "power_l1_kw": f32(kw*10000/3, 0.0001), "power_l2_kw": f32(kw*10000/3, 0.0001),
			"power_l3_kw": f32(kw*10000/3, 0.0001), "power_factor": f32(950, 0.001), "frequency_hz": f32(5000, 0.01),
			"energy_kwh_total": f32(kwh, 1),
		}
		if d := testsrv.DiffSamples(want, got, 1e-12); d != "" {
			t.Fatalf("%s: %s", dev, d)
		}
	}
	if errs := rec.Errors(); len(errs) != 0 {
		t.Fatalf("signal errors %q", errs)
	}

	// SDM630 through a serial server.
	b := newBank()
	regs := make([]uint16, 76)
	put := func(addr int, v float32) {
		u := math.Float32bits(v)
		regs[addr], regs[addr+1] = uint16(u>>16), uint16(u)
	}
	for addr, v := range map[int]float32{0: 230.5, 2: 231, 4: 229.5, 6: 10.25, 8: 11, 10: 12.5, 12: 2000, 14: 2500,
		16: 3000, 52: 7500, 62: 0.5, 70: 50, 72: 12345.5, 74: 0.25} {
		put(addr, v)
	}
	b.setRegs(1, "input", 0, regs...)
	b.setRegs(2, "input", 0, regs...)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ssl := devsim.NewRTUSlave(map[byte]devsim.RTUUnit{1: bankUnit{b, 1}, 2: bankUnit{b, 2}})
	sdone := make(chan struct{})
	go func() { ssl.ServeTCP(ctx, l); close(sdone) }()
	t.Cleanup(func() { cancel(); <-sdone })
	cfg = loadTemplate(t, "../../configs/modbus-sdm630.example.yaml", "tcp://"+l.Addr().String())
	cfg.Framing, cfg.Timeout = "rtu", 0
	for i := range cfg.Devices {
		cfg.Devices[i].PollInterval = 50 * time.Millisecond
	}
	rec = &adaptertest.Recorder{}
	run(t, newSource(t, cfg, rec), rec, 2*time.Second)
	testutil.WaitFor(t, 20*time.Second, "points of both meters", func() bool {
		return len(rec.Points("em-sdm630-1")) > 0 && len(rec.Points("em-sdm630-2")) > 0
	})
	p1, _ := rec.Last("em-sdm630-1")
	want1 := "current_l1_a=10.25 current_l2_a=11 current_l3_a=12.5 energy_export_kwh_total=0.25 energy_kwh_total=12345.5 " +
		"frequency_hz=50 power_factor=0.5 power_kw=7.5 power_l1_kw=2 power_l2_kw=2.5 power_l3_kw=3 " +
		"voltage_l1_v=230.5 voltage_l2_v=231 voltage_l3_v=229.5"
	if got := fieldString(p1.Fields); got != want1 {
		t.Fatalf("em-sdm630-1:\n got %s\nwant %s", got, want1)
	}
	p2, _ := rec.Last("em-sdm630-2")
	if got, want := fieldString(p2.Fields), "current_l1_a=10.25 energy_kwh_total=12345.5 power_kw=7.5 voltage_l1_v=230.5"; got != want {
		t.Fatalf("em-sdm630-2:\n got %s\nwant %s", got, want)
	}
	if errs := rec.Errors(); len(errs) != 0 {
		t.Fatalf("signal errors %q", errs)
	}
}
