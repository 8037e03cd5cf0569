package modbus

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testutil"
)

// TestAnswersThatFailAreContained: a register holding NaN is reported with its exact
// error and the answer kept as a dead letter in hex; a panic while decoding one device's
// answer (injected) is reported with reason "internal", marks that read's signals Bad,
// and the source keeps polling both devices.
func TestAnswersThatFailAreContained(t *testing.T) {
	b := newBank()
	b.setRegs(1, "holding", 0, 0x7FC0, 0x0000, 42) // float32 NaN, uint16 42
	b.setRegs(2, "holding", 0, 7)
	ts := startServer(t, b)

	var panics atomic.Int32
	testHookDecode = func(device string) {
		if device == "em2" && panics.Add(1) == 1 {
			panic("injected decoder fault")
		}
	}
	t.Cleanup(func() { testHookDecode = nil })

	em1 := Device{Device: "em1", Measurement: "energy_meter", UnitID: 1, PollInterval: 50 * time.Millisecond,
		Signals: []Signal{{Field: "f", Area: "holding", Address: 0, Type: "float32"}, {Field: "u", Area: "holding", Address: 2}}}
	em2 := Device{Device: "em2", Measurement: "energy_meter", UnitID: 2, PollInterval: 50 * time.Millisecond,
		Signals: []Signal{{Field: "v", Area: "holding", Address: 0}}}
	rec := &adaptertest.Recorder{}
	s := newSource(t, fastConfig(ts.url, em1, em2), rec)
	stop := run(t, s, rec, 2*time.Second)
	testutil.WaitFor(t, 5*time.Second, "points after the panic", func() bool {
		return len(rec.Points("em2")) >= 2 && len(rec.Points("em1")) >= 2
	})
	stop()

	first := rec.Points("em2")[0]
	if got := fieldString(first.Fields); got != "v=bad" {
		t.Errorf("em2's first point after the panic: %s, want the signal marked Bad", got)
	}
	if got := fieldString(rec.Points("em2")[1].Fields); got != "v=7" {
		t.Errorf("em2's next point: %s, want v=7", got)
	}
	if got := fieldString(rec.Points("em1")[0].Fields); got != "u=42" {
		t.Errorf("em1: %s, want u=42 (NaN omitted)", got)
	}
	errs := rec.Errors()
	wantInternal := `meters|em2|v|internal|read signal "v" of device "em2" at holding register 0 (unit 2, read 0..0): internal error decoding the answer (values dropped): injected decoder fault`
	wantNaN := `meters|em1|f|nan|decode signal "f" of device "em1" at holding register 0 (float32): value NaN: value is not finite`
	if !slices.Contains(errs, wantInternal) || !slices.Contains(errs, wantNaN) {
		t.Errorf("signal errors:\n%s\nwant among them\n%s\n%s", strings.Join(errs, "\n"), wantInternal, wantNaN)
	}
	dead := rec.DeadLetters()
	wantDead := []string{
		`meters|em1|unit 1 holding registers 0..2|nan|1|"7FC0 0000 002A"`,
		`meters|em2|unit 2 holding registers 0..0|internal|1|"0007"`,
	}
	for _, w := range wantDead {
		if !slices.Contains(dead, w) {
			t.Errorf("dead letters %q lack %q", dead, w)
		}
	}
}

// TestShortAnswerIsAProtocolError: an answer shorter than the read is refused for every
// signal of the read (never sliced), and kept as a dead letter.
func TestShortAnswerIsAProtocolError(t *testing.T) {
	rec := &adaptertest.Recorder{}
	s := newSource(t, fastConfig("tcp://127.0.0.1:1", Device{Device: "em1", Measurement: "m", UnitID: 1, PollInterval: time.Second,
		Signals: []Signal{{Field: "a", Area: "holding", Address: 0, Type: "float32"}, {Field: "b", Area: "holding", Address: 2}}}), rec)
	d := &s.devices[0]
	fields := make([]point.Field, 2)
	s.decodeAnswer(d, &d.reqs[0], []byte{0x41, 0xC8, 0x00}, nil, fields, make([]bool, 2))
	want := []string{
		`meters|em1|a|protocol|read signal "a" of device "em1" at holding register 0 (unit 1, read 0..2): malformed response: answer holds 3 of 6 bytes`,
		`meters|em1|b|protocol|read signal "b" of device "em1" at holding register 2 (unit 1, read 0..2): malformed response: answer holds 3 of 6 bytes`,
	}
	if got := rec.Errors(); !slices.Equal(got, want) {
		t.Errorf("errors:\n got %q\nwant %q", got, want)
	}
	if fieldString(fields) != "a=bad b=bad" {
		t.Errorf("fields %s", fieldString(fields))
	}
	if dead := rec.DeadLetters(); !slices.Equal(dead, []string{`meters|em1|unit 1 holding registers 0..2|protocol|2|"41C8 00"`}) {
		t.Errorf("dead letters %q", dead)
	}
}
