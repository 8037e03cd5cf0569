package kpi

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// The safety net of emitUntil: a series found far behind (here pushed back to 1970 by
// hand, as no input is known to do) emits none of its due windows in that Tick and
// counts them all; the Tick stays cheap and the next ones are normal.
func TestTickOverrun(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	t0 := time.Date(2024, 3, 4, 10, 0, 0, 0, cst)
	e, err := New(Config{Location: cst}, []Device{{ID: "d", Kind: "cnc", Source: "s",
		Signals: []string{"machinery_item_state"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.Tick(t0)
	e.series[0].next = 0 // 1970-01-01T08:00:00+08:00

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	out := e.Tick(t0.Add(time.Second))
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	t.Logf("tick: %s, %d bytes allocated", took, after.TotalAlloc-before.TotalAlloc)
	if len(out) != 0 {
		t.Fatalf("emitted %d points", len(out))
	}
	if took > time.Second || after.TotalAlloc-before.TotalAlloc > 1<<20 {
		t.Errorf("tick took %s and %d bytes", took, after.TotalAlloc-before.TotalAlloc)
	}
	// Every minute from 1970-01-01T08:00:00+08:00 to 2024-03-04T10:00:00+08:00.
	want := uint64(t0.Unix() / 60)
	if got := e.Stats().WindowsDropped; got != [NumDropReasons]uint64{DropOverrun: want} {
		t.Errorf("WindowsDropped = %v, want %d overrun", got, want)
	}
	e.Process(point.Batch{{Device: "d", Time: t0.Add(10 * time.Second).UnixNano(),
		Fields: []point.Field{{Key: "machinery_item_state", Value: 3}}}})
	out = e.Tick(t0.Add(90 * time.Second))
	if len(out) != 2 || out[0].Time != t0.UnixNano() || out[0].Measurement != measurementDevice ||
		!slices.Contains(out[0].Tags, point.Tag{Key: "window", Value: "1m"}) {
		t.Fatalf("next tick emitted %v, want the 1m window of %s", out, t0)
	}
	if got := e.maxDue(0); got != 1505 {
		t.Errorf("maxDue(1m) = %d, want 1505 (1h stall + 24h30s horizon + 30s lateness, + 4)", got)
	}
}
