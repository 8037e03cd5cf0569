package modbus

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// The tests run the source against a real Modbus TCP server (the client library's
// server) serving a register bank the test controls.

func TestRunDecodesEveryTypeAndOrder(t *testing.T) {
	b := newBank()
	// Register contents computed by hand (see TestRawValue).
	b.setRegs(1, "holding", 0,
		0xFF38,         // 0  int16 -200
		0xFF38,         // 1  uint16 65336
		0xFFFE, 0x7960, // 2  int32 ABCD -100000
		0x5E00, 0xB2D0, // 4  uint32 CDAB 3000000000
		0x6643, 0x0080, // 6  float32 BADC 230.5
		0x0080, 0x6643, // 8  float32 DCBA 230.5
		0x406C, 0xD000, 0x0000, 0x0000, // 10 float64 ABCD 230.5
		0xE5EC, 0x4166, 0xFFE3, 0xFFFF, // 14 int64 CDAB -123456789012
		0x0500, 0x0000, 0x0000, 0x0080, // 18 uint64 DCBA 2^63+5
		0x38FF, // 22 int16 little -200
	)
	b.setRegs(1, "input", 100,
		0xC144, 0x0000, // 100 float32 ABCD -12.25
		0x0000, 0x0000, 0x8000, 0xC028, // 102 float64 CDAB -12.25
	)
	b.setRegs(1, "input", 106, 0, 0, 0, 0, 1234) // 110: uint16 × 0.25 + 1
	b.setBits(1, "coil", 0, true, false, true)
	b.setBits(1, "discrete", 5, true)
	ts := startServer(t, b)

	dev := Device{Device: "em1", Measurement: "energy_meter", Tags: meterTags, UnitID: 1, PollInterval: 50 * time.Millisecond,
		Signals: []Signal{
			{Field: "i16", Area: "holding", Address: 0, Type: "int16"},
			{Field: "u16", Area: "holding", Address: 1},
			{Field: "i32_abcd", Area: "holding", Address: 2, Type: "int32"},
			{Field: "u32_cdab", Area: "holding", Address: 4, Type: "uint32", WordOrder: "low_first"},
			{Field: "f32_badc", Area: "holding", Address: 6, Type: "float32", ByteOrder: "little"},
			{Field: "f32_dcba", Area: "holding", Address: 8, Type: "float32", WordOrder: "low_first", ByteOrder: "little"},
			{Field: "f64_abcd_scaled", Area: "holding", Address: 10, Type: "float64", Conv: point.Conv{Scale: 0.5, Offset: 1}},
			{Field: "i64_cdab", Area: "holding", Address: 14, Type: "int64", WordOrder: "low_first"},
			{Field: "u64_dcba", Area: "holding", Address: 18, Type: "uint64", WordOrder: "low_first", ByteOrder: "little"},
			{Field: "i16_little", Area: "holding", Address: 22, Type: "int16", ByteOrder: "little"},
			{Field: "f32_input", Area: "input", Address: 100, Type: "float32"},
			{Field: "f64_input_cdab", Area: "input", Address: 102, Type: "float64", WordOrder: "low_first"},
			{Field: "u16_input_scaled", Area: "input", Address: 110, Conv: point.Conv{Scale: 0.25, Offset: 1}},
			{Field: "coil0", Area: "coil", Address: 0},
			{Field: "coil1", Area: "coil", Address: 1},
			{Field: "coil2_inverted", Area: "coil", Address: 2, Conv: point.Conv{Scale: -1, Offset: 1}},
			{Field: "discrete5", Area: "discrete", Address: 5, Type: "bool"},
		}}
	rec := &adaptertest.Recorder{}
	s := newSource(t, fastConfig(ts.url, dev), rec)
	before := time.Now()
	run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 5*time.Second, "first point", func() bool { return len(rec.Points("em1")) > 0 })
	after := time.Now()

	p := rec.Points("em1")[0]
	want := "i16=-200 u16=65336 i32_abcd=-100000 u32_cdab=3e+09 f32_badc=230.5 f32_dcba=230.5 f64_abcd_scaled=116.25 " +
		"i64_cdab=-1.23456789012e+11 u64_dcba=9.223372036854776e+18 i16_little=-200 f32_input=-12.25 " +
		"f64_input_cdab=-12.25 u16_input_scaled=309.5 coil0=1 coil1=0 coil2_inverted=0 discrete5=1"
	if got := fieldString(p.Fields); got != want {
		t.Fatalf("fields:\n got %s\nwant %s", got, want)
	}
	if p.Measurement != "energy_meter" || p.Device != "em1" || &p.Tags[0] != &meterTags[0] {
		t.Fatalf("identity: %q %q %v", p.Measurement, p.Device, p.Tags)
	}
	if p.Time%int64(time.Millisecond) != 0 || p.Time < before.UnixMilli()*1e6 || p.Time > after.UnixNano() {
		t.Fatalf("time %d not the poll time in ms (%d..%d)", p.Time, before.UnixNano(), after.UnixNano())
	}
	// One read per area: holding 0..22 and input 100..110 (a gap of 4) coalesce.
	if got := b.readLog()[:4]; !slices.Equal(got, []string{"holding u1 0+23", "input u1 100+11", "coil u1 0+3", "discrete u1 5+1"}) {
		t.Fatalf("reads of the first poll: %q", got)
	}

	// Registers change under the running source.
	b.setRegs(1, "holding", 6, 0x44C1, 0x0000) // float32 BADC -12.25
	b.setBits(1, "coil", 1, true)
	testutil.WaitFor(t, 5*time.Second, "changed values", func() bool {
		p, _ := rec.Last("em1")
		return strings.Contains(fieldString(p.Fields), "f32_badc=-12.25 ") && strings.Contains(fieldString(p.Fields), "coil1=1 ")
	})
	if errs := rec.Errors(); len(errs) != 0 {
		t.Fatalf("signal errors: %q", errs)
	}
	if st := rec.StateStrings(); !slices.Equal(st, []string{"connecting", "up"}) {
		t.Fatalf("states: %q", st)
	}
}

// sdm630 returns input-register float32 signals at the addresses of an Eastron SDM630's
// voltages, currents, powers, total power, power factor, frequency and energies.
func sdm630Signals() []Signal {
	var out []Signal
	for i, a := range []int{0, 2, 4, 6, 8, 10, 12, 14, 16, 52, 62, 70, 72, 74} {
		out = append(out, Signal{Field: fmt.Sprintf("f%d", i), Area: "input", Address: a, Type: "float32"})
	}
	return out
}

func TestCoalescingCountsReads(t *testing.T) {
	regs := make([]uint16, 76)
	for i := range regs {
		regs[i] = uint16(0x4000 + i) // float32 values around 2.0..2.x
	}
	b := newBank()
	b.setRegs(1, "input", 0, regs...)
	ts := startServer(t, b)
	gap40, gap10 := 40, 10
	for _, tc := range []struct {
		name    string
		maxGap  *int
		maxRegs int
		perPoll []string
	}{
		{"one read of 76 registers", &gap40, 80, []string{"input u1 0+76"}},
		{"gap tolerance 10", &gap10, 80, []string{"input u1 0+18", "input u1 52+24"}},
		{"max_registers 40", &gap40, 40, []string{"input u1 0+18", "input u1 52+24"}},
		{"max_registers 60", &gap40, 60, []string{"input u1 0+54", "input u1 62+14"}},
		{"source gap 0", nil, 125, []string{"input u1 0+18", "input u1 52+2", "input u1 62+2", "input u1 70+6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := b.readCount()
			dev := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 20 * time.Millisecond,
				MaxRegisters: tc.maxRegs, MaxGap: tc.maxGap, Signals: sdm630Signals()}
			cfg := fastConfig(ts.url, dev)
			cfg.MaxGap = 0
			rec := &adaptertest.Recorder{}
			s := newSource(t, cfg, rec)
			stop := run(t, s, rec, 2*time.Second)
			testutil.WaitFor(t, 5*time.Second, "3 polls", func() bool { return len(rec.Points("em1")) >= 3 })
			stop()
			reads := b.readLog()[start:]
			polls := len(rec.Points("em1"))
			// The poll under way when Run was stopped may have read without emitting.
			if n := len(tc.perPoll); len(reads) < polls*n || len(reads) > (polls+1)*n || int(s.Reads()) != len(reads) {
				t.Fatalf("%d polls, %d reads served, %d sent; want %d a poll", polls, len(reads), s.Reads(), n)
			}
			for i, r := range reads {
				if r != tc.perPoll[i%len(tc.perPoll)] {
					t.Fatalf("read %d: %q, want the pattern %q", i, r, tc.perPoll)
				}
			}
			p := rec.Points("em1")[0]
			if len(p.Fields) != 14 || p.Fields[13].Key != "f13" || p.Fields[13].Value != float64(math.Float32frombits(0x404A404B)) {
				t.Fatalf("fields %s", fieldString(p.Fields))
			}
		})
	}
}

func TestExceptionReportedPerSignal(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0x4366, 0x8000, 7, 0, 9, 0) // addresses 0..5
	ts := startServer(t, b)
	dev := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 30 * time.Millisecond,
		Signals: []Signal{
			{Field: "a", Area: "holding", Address: 0, Type: "float32"},
			{Field: "b", Area: "holding", Address: 2},
			{Field: "c", Area: "holding", Address: 8},   // unmapped, within the gap of b
			{Field: "d", Area: "holding", Address: 300}, // unmapped, a read of its own
			{Field: "e", Area: "holding", Address: 4},
		}}
	rec := &adaptertest.Recorder{}
	s := newSource(t, fastConfig(ts.url, dev), rec)
	stop := run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 5*time.Second, "3 polls", func() bool { return len(rec.Points("em1")) >= 3 })
	stop()

	for i, p := range rec.Points("em1") {
		if got := fieldString(p.Fields); got != "a=230.5 b=7 c=bad d=bad e=9" {
			t.Fatalf("point %d: %s", i, got)
		}
	}
	// First poll: the coalesced read 0..8 is refused and split at its gaps; later polls
	// read the parts directly.
	first := []string{"holding u1 0+9", "holding u1 0+3", "holding u1 4+1", "holding u1 8+1", "holding u1 300+1"}
	later := first[1:]
	reads := b.readLog()
	if !slices.Equal(reads[:5], first) {
		t.Fatalf("first poll reads %q, want %q", reads[:5], first)
	}
	for i, r := range reads[5:] {
		if r != later[i%len(later)] {
			t.Fatalf("read %d: %q, want the pattern %q", i+5, r, later)
		}
	}
	errC := `meters|em1|c|modbus_exception|read signal "c" of device "em1" at holding register 8 (unit 1, read 8..8): modbus exception 2 (illegal data address)`
	errD := `meters|em1|d|modbus_exception|read signal "d" of device "em1" at holding register 300 (unit 1, read 300..300): modbus exception 2 (illegal data address)`
	errs := rec.Errors()
	if polls := len(rec.Points("em1")); len(errs) < 2*polls || len(errs) > 2*polls+2 {
		t.Fatalf("%d errors for %d polls: %q", len(errs), polls, errs)
	}
	for i, e := range errs {
		if want := []string{errC, errD}[i%2]; e != want {
			t.Fatalf("error %d:\n%s\nwant\n%s", i, e, want)
		}
	}
	if st := rec.StateStrings(); !slices.Equal(st, []string{"connecting", "up"}) {
		t.Fatalf("states: %q", st)
	}
}

func TestSilentUnitBehindGateway(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 42)
	ts := startServer(t, b)
	cfg := fastConfig(ts.url,
		Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 30 * time.Millisecond,
			Signals: []Signal{{Field: "x", Area: "holding", Address: 0}}},
		Device{Device: "em9", Measurement: "energy_meter", UnitID: 9, PollInterval: 30 * time.Millisecond,
			Signals: []Signal{
				{Field: "p", Area: "holding", Address: 0},
				{Field: "q", Area: "input", Address: 500},
			}},
	)
	rec := &adaptertest.Recorder{}
	s := newSource(t, cfg, rec)
	stop := run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 5*time.Second, "3 polls", func() bool { return len(rec.Points("em9")) >= 3 })
	stop()

	// The unit that the gateway cannot reach costs one read a poll, not one per read.
	reads := b.readLog()
	for i, r := range reads {
		if want := []string{"holding u1 0+1", "holding u9 0+1"}[i%2]; r != want {
			t.Fatalf("read %d: %q, want %q", i, r, want)
		}
	}
	for _, p := range rec.Points("em1") {
		if got := fieldString(p.Fields); got != "x=42" {
			t.Fatalf("em1: %s", got)
		}
	}
	for _, p := range rec.Points("em9") {
		if got := fieldString(p.Fields); got != "p=bad q=bad" {
			t.Fatalf("em9: %s", got)
		}
	}
	want := []string{
		`meters|em9|p|modbus_exception|read signal "p" of device "em9" at holding register 0 (unit 9, read 0..0): modbus exception 11 (gateway target device failed to respond)`,
		`meters|em9|q|modbus_exception|read signal "q" of device "em9" at input register 500 (unit 9, read 500..500): not sent: modbus exception 11 (gateway target device failed to respond)`,
	}
	errs := rec.Errors()
	if len(errs) < 2 {
		t.Fatalf("errors %q", errs)
	}
	for i, e := range errs {
		if e != want[i%2] {
			t.Fatalf("error %d: %s\nwant %s", i, e, want[i%2])
		}
	}
}

func TestServerRestart(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0x4366, 0x8000) // 230.5
	ts := startServer(t, b)
	dev := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 50 * time.Millisecond,
		Signals: []Signal{{Field: "v", Area: "holding", Address: 0, Type: "float32"}}}
	rec := &adaptertest.Recorder{}
	s := newSource(t, fastConfig(ts.url, dev), rec)
	run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 5*time.Second, "first point", func() bool { return len(rec.Points("em1")) > 0 })

	ts.stop()
	testutil.WaitFor(t, 5*time.Second, "state down", func() bool { return slices.Contains(rec.StateNames(), "down") })
	down := rec.StateStrings()[2]
	if !strings.HasPrefix(down, `down: read holding registers 0..1 of device "em1" (unit 1): `) {
		t.Fatalf("down state: %q", down)
	}
	time.Sleep(300 * time.Millisecond)         // a few refused reconnects
	b.setRegs(1, "holding", 0, 0xC144, 0x0000) // -12.25
	restarted := time.Now()
	ts.start()
	testutil.WaitFor(t, 10*time.Second, "data after the restart", func() bool {
		p, _ := rec.Last("em1")
		return fieldString(p.Fields) == "v=-12.25"
	})
	t.Logf("data flowed again %s after the restart", time.Since(restarted).Round(time.Millisecond))
	names := rec.StateNames()
	if names[0] != "connecting" || names[1] != "up" || names[2] != "down" || names[len(names)-1] != "up" {
		t.Fatalf("states %q", names)
	}
	for _, st := range rec.StateStrings()[3 : len(names)-1] {
		if st != "connecting" && !strings.HasPrefix(st, `down: connect to "`+ts.url+`": `) {
			t.Fatalf("state while the server was down: %q", st)
		}
	}
	if errs := rec.Errors(); len(errs) != 0 {
		t.Fatalf("signal errors: %q", errs)
	}
}

func TestTimeoutsReconnect(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0x4366, 0x8000)
	ts := startServer(t, b)
	b.setDelay(300 * time.Millisecond) // a hung device
	dev := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 50 * time.Millisecond,
		Signals: []Signal{{Field: "v", Area: "holding", Address: 0, Type: "float32"}}}
	cfg := fastConfig(ts.url, dev)
	cfg.Timeout, cfg.MaxFailures = 100*time.Millisecond, 2
	rec := &adaptertest.Recorder{}
	s := newSource(t, cfg, rec)
	run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 5*time.Second, "state down", func() bool { return slices.Contains(rec.StateNames(), "down") })

	wantDown := `down: read holding registers 0..1 of device "em1" (unit 1): 2 requests in a row failed, last: request timed out after 100ms`
	if st := rec.StateStrings(); !slices.Equal(st[:3], []string{"connecting", "up", wantDown}) {
		t.Fatalf("states %q", st)
	}
	wantErr := `meters|em1|v|timeout|read signal "v" of device "em1" at holding register 0 (unit 1, read 0..1): request timed out after 100ms`
	if errs := rec.Errors(); len(errs) < 2 || errs[0] != wantErr || errs[1] != wantErr {
		t.Fatalf("errors %q", errs)
	}
	// A poll that timed out yields a Bad field; the one that reaches max_failures ends
	// the connection instead.
	for _, p := range rec.Points("em1") {
		if fieldString(p.Fields) != "v=bad" {
			t.Fatalf("point while hung: %s", fieldString(p.Fields))
		}
	}

	b.setDelay(0)
	testutil.WaitFor(t, 10*time.Second, "data after the device recovered", func() bool {
		p, _ := rec.Last("em1")
		return fieldString(p.Fields) == "v=230.5"
	})
}

func TestCancelIsPrompt(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 1)
	ts := startServer(t, b)
	dev := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 20 * time.Millisecond,
		Signals: []Signal{{Field: "x", Area: "holding", Address: 0}}}

	t.Run("polling", func(t *testing.T) {
		rec := &adaptertest.Recorder{}
		stop := run(t, newSource(t, fastConfig(ts.url, dev), rec), rec, time.Second)
		testutil.WaitFor(t, 5*time.Second, "points", func() bool { return len(rec.Points("em1")) >= 2 })
		if took := stop(); took > 300*time.Millisecond {
			t.Fatalf("Run took %s to return", took)
		}
	})
	t.Run("server down", func(t *testing.T) {
		rec := &adaptertest.Recorder{}
		cfg := fastConfig(fmt.Sprintf("tcp://127.0.0.1:%d", testsrv.FreePort(t)), dev)
		stop := run(t, newSource(t, cfg, rec), rec, time.Second)
		testutil.WaitFor(t, 5*time.Second, "a failed connect", func() bool { return slices.Contains(rec.StateNames(), "down") })
		if took := stop(); took > 300*time.Millisecond {
			t.Fatalf("Run took %s to return", took)
		}
	})
	t.Run("request in flight", func(t *testing.T) {
		b.setDelay(time.Second)
		defer b.setDelay(0)
		rec := &adaptertest.Recorder{}
		cfg := fastConfig(ts.url, dev)
		cfg.Timeout = 300 * time.Millisecond
		stop := run(t, newSource(t, cfg, rec), rec, time.Second)
		n := b.readCount()
		testutil.WaitFor(t, 5*time.Second, "a read in flight", func() bool { return b.readCount() > n })
		if took := stop(); took > cfg.Timeout+250*time.Millisecond {
			t.Fatalf("Run took %s to return, above the request timeout %s", took, cfg.Timeout)
		}
	})
}

func TestBatchesAndEmitWait(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 1)
	b.setRegs(2, "holding", 0, 2)
	ts := startServer(t, b)
	mk := func(id string, unit int) Device {
		return Device{Device: id, Measurement: "energy_meter", UnitID: unit, PollInterval: 40 * time.Millisecond,
			Signals: []Signal{{Field: "x", Area: "holding", Address: 0}}}
	}
	// The first two emits wait 150ms each, as the pipeline does while a queue refuses.
	rec := &adaptertest.Recorder{HoldEmit: func(call int) time.Duration {
		if call <= 2 {
			return 150 * time.Millisecond
		}
		return 0
	}}
	s := newSource(t, fastConfig(ts.url, mk("m1", 1), mk("m2", 2)), rec)
	stop := run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 5*time.Second, "3 batches", func() bool { return rec.BatchCount() >= 3 })
	stop()
	batches := rec.Batches()
	// Devices due together share one batch; emit is called once per batch and no poll
	// happens while it waits, so nothing is lost or sent twice.
	for i, bt := range batches {
		if d := bt[1].Time - bt[0].Time; len(bt) != 2 || bt[0].Device != "m1" || bt[1].Device != "m2" || d < 0 || d > 200e6 {
			t.Fatalf("batch %d: %+v", i, bt)
		}
	}
	if calls, recv := rec.Calls(), rec.ReceivedFields(); calls != len(batches) || recv != 2*len(batches) {
		t.Fatalf("%d emit calls, %d batches stored, %d fields received", calls, len(batches), recv)
	}
	if got := b.readCount(); got > 2*(len(batches)+1) {
		t.Fatalf("%d reads for %d stored batches: polled while emit waited", got, len(batches))
	}
}

// An emit that fails with ctx alive (breaking its contract: the pipeline's emit only
// fails when ctx ended) ends the session like a lost connection, reported down with
// the emit error; the next session reads the values again, so nothing is lost.
func TestEmitErrorEndsSession(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 7)
	ts := startServer(t, b)
	dev := Device{Device: "m1", Measurement: "energy_meter", UnitID: 1, PollInterval: 40 * time.Millisecond,
		Signals: []Signal{{Field: "x", Area: "holding", Address: 0}}}
	rec := &adaptertest.Recorder{FailEmit: func(call int) bool { return call == 1 }}
	stop := run(t, newSource(t, fastConfig(ts.url, dev), rec), rec, 2*time.Second)
	testutil.WaitFor(t, 5*time.Second, "a stored batch", func() bool { return rec.BatchCount() >= 1 })
	stop()
	st := rec.StateStrings()
	if len(st) < 4 || st[0] != "connecting" || st[1] != "up" || st[2] != "down: emit: queue full" || st[3] != "connecting" {
		t.Fatalf("states %q, want connecting, up, down with the emit error, connecting", st)
	}
	if ps := rec.Points("m1"); len(ps) == 0 || ps[0].Fields[0].Value != 7 {
		t.Fatalf("points %+v, want the value read again", ps)
	}
}

func TestRunWithoutServerReportsDown(t *testing.T) {
	rec := &adaptertest.Recorder{}
	url := fmt.Sprintf("tcp://127.0.0.1:%d", testsrv.FreePort(t))
	dev := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, Signals: []Signal{{Field: "x", Area: "holding"}}}
	run(t, newSource(t, fastConfig(url, dev), rec), rec, time.Second)
	testutil.WaitFor(t, 5*time.Second, "two failed connects", func() bool {
		n := 0
		for _, s := range rec.StateNames() {
			if s == "down" {
				n++
			}
		}
		return n >= 2
	})
	st := rec.StateStrings()
	want := `down: connect to "` + url + `": dial tcp ` + strings.TrimPrefix(url, "tcp://") + `: connect: connection refused`
	if st[0] != "connecting" || st[1] != want {
		t.Fatalf("states %q, want %q second", st, want)
	}
}
