package kpi_test

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// The fixtures are the state of TestGoldenRestart's first engine saved at 10:20:00 on
// 2024-03-04 (+08:00): open windows 1m 10:19, 1h 10:00 and 1d 00:00, horizon 10:19:00.
// kpi-state-next-1970.json is the same file with "next" set to [0,0,0].
var restoreDev = kpi.Device{ID: "cnc1", Kind: "cnc", Source: "opc", KeyProcess: true, Digital: true,
	Signals: []string{"machinery_item_state", "parts_total"}}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadMeasured restores state into a new engine at now and runs the first Tick, as the
// gateway does on start; it fails if that takes long or allocates much.
func loadMeasured(t *testing.T, state []byte, now time.Time) (*kpi.Engine, point.Batch) {
	t.Helper()
	e := newEngine(t, kpi.Config{}, restoreDev)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	if err := e.LoadState(bytes.NewReader(state), now); err != nil {
		t.Fatal(err)
	}
	out := e.Tick(now)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("load and first tick: %s, %d bytes allocated", took, alloc)
	if took > 2*time.Second {
		t.Errorf("load and first tick took %s", took)
	}
	if alloc > 4<<20 {
		t.Errorf("load and first tick allocated %d bytes, want at most 4 MiB", alloc)
	}
	return e, out
}

func checkDropped(t *testing.T, e *kpi.Engine, want [kpi.NumDropReasons]uint64, wantList []kpi.Dropped) {
	t.Helper()
	if got := e.Stats().WindowsDropped; got != want {
		t.Errorf("WindowsDropped = %v, want %v", got, want)
	}
	got := e.Restored().Dropped
	if len(got) != len(wantList) {
		t.Fatalf("Restored lists %d runs, want %d:\n%+v", len(got), len(wantList), got)
	}
	for i := range got {
		g, w := got[i], wantList[i]
		if g.Window != w.Window || g.Reason != w.Reason || g.Count != w.Count || !g.From.Equal(w.From) ||
			!g.To.Equal(w.To) || (w.Detail != "" && g.Detail != w.Detail) {
			t.Errorf("Restored[%d] = %+v\nwant %+v", i, g, w)
		}
	}
}

// The reported case: a state file whose next windows are in 1970 made the first Tick
// emit every window since (8 GB, SIGTERM unanswered). It contradicts its own horizon:
// its windows are dropped and counted, the counter baseline is kept, and the engine
// observes afresh from the restore.
func TestRestoreNextIn1970(t *testing.T) {
	e, first := loadMeasured(t, fixture(t, "kpi-state-next-1970.json"), at("10:25:00"))
	if len(first) != 0 {
		t.Fatalf("first tick emitted %d points, from %s", len(first), time.Unix(0, first[0].Time))
	}
	checkDropped(t, e, [kpi.NumDropReasons]uint64{kpi.DropInconsistent: 3}, []kpi.Dropped{
		{Window: "1m", Reason: kpi.DropInconsistent, Count: 1, From: at("10:19:00"), To: at("10:20:00"),
			Detail: "next 1m window 1970-01-01T08:00:00+08:00, but the file's horizon 2024-03-04T10:19:00+08:00 is in the window of 2024-03-04T10:19:00+08:00"},
		{Window: "1h", Reason: kpi.DropInconsistent, Count: 1, From: at("10:00:00"), To: at("11:00:00")},
		{Window: "1d", Reason: kpi.DropInconsistent, Count: 1, From: at("00:00:00"), To: at("2024-03-05 00:00:00")},
	})
	if kpi.DropInconsistent.String() != "inconsistent" {
		t.Errorf("reason label %q", kpi.DropInconsistent)
	}

	// The next windows are computed from the restore on.
	e.Process(sample("cnc1", at("10:25:05"), good("parts_total", 1025)))
	e.Process(sample("cnc1", at("10:30:00"), good("machinery_item_state", 3)))
	e.Process(sample("cnc1", at("10:45:00"), good("parts_total", 1040)))
	r := collect(e.Tick(at("11:00:30")))
	// Unknown until the first sample at 10:25:05 (before the restore: not observed), then
	// idle (parts alone say connected), running from 10:30. Parts: 1020 (kept) -> 1040.
	r.expect(t, "device_kpi", "cnc1", "1h", at("10:00:00"),
		with(states(1800, 295, 0, 0, 0, 1505), "parts", 20, "availability", 1800.0/2095))
	if got, want := r.count("device_kpi", "1m"), 35; got != want {
		t.Errorf("%d one-minute windows, want %d (10:25 to 10:59)", got, want)
	}
	r.expect(t, "device_kpi", "cnc1", "1m", at("10:25:00"),
		with(states(0, 55, 0, 0, 0, 5), "parts", 5, "availability", 0))
}

// A good state file restored two days later: its windows ended more than the restore
// horizon (24h30s) ago and are dropped as expired; nothing of 2024-03-04 is emitted.
func TestRestoreExpired(t *testing.T) {
	e, first := loadMeasured(t, fixture(t, "kpi-state-good.json"), at("2024-03-06 10:25:00"))
	if len(first) != 0 {
		t.Fatalf("first tick emitted %d points, from %s", len(first), time.Unix(0, first[0].Time))
	}
	checkDropped(t, e, [kpi.NumDropReasons]uint64{kpi.DropExpired: 3}, []kpi.Dropped{
		{Window: "1m", Reason: kpi.DropExpired, Count: 1, From: at("10:19:00"), To: at("10:20:00"),
			Detail: "ended before 2024-03-05T10:24:30+08:00 (restore horizon 24h0m30s)"},
		{Window: "1h", Reason: kpi.DropExpired, Count: 1, From: at("10:00:00"), To: at("11:00:00")},
		{Window: "1d", Reason: kpi.DropExpired, Count: 1, From: at("00:00:00"), To: at("2024-03-05 00:00:00")},
	})
	e.Process(sample("cnc1", at("2024-03-06 10:25:00"), good("machinery_item_state", 3), good("parts_total", 1030)))
	r := collect(e.Tick(at("2024-03-06 11:00:30")))
	r.expect(t, "device_kpi", "cnc1", "1h", at("2024-03-06 10:00:00"),
		with(states(2100, 0, 0, 0, 0, 1500), "parts", 10, "availability", 1))
	for k := range r {
		if strings.Contains(k, "2024-03-04") || strings.Contains(k, "2024-03-05") {
			t.Errorf("emitted %s", k)
		}
	}
}

// Restored the same day, the good file loses nothing; saved again before any Tick and
// restored once more, it is still consistent.
func TestRestoreGoodAndResave(t *testing.T) {
	e, first := loadMeasured(t, fixture(t, "kpi-state-good.json"), at("10:25:00"))
	checkDropped(t, e, [kpi.NumDropReasons]uint64{}, nil)
	if r := collect(first); r.count("device_kpi", "1m") != 1 { // 10:19, closed during the stop
		t.Errorf("first tick emitted %d one-minute windows, want 1", r.count("device_kpi", "1m"))
	}

	b := newEngine(t, kpi.Config{}, restoreDev)
	if err := b.LoadState(bytes.NewReader(fixture(t, "kpi-state-good.json")), at("10:25:00")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.SaveState(&buf, at("10:25:00")); err != nil {
		t.Fatal(err)
	}
	c, _ := loadMeasured(t, buf.Bytes(), at("10:26:00"))
	checkDropped(t, c, [kpi.NumDropReasons]uint64{}, nil)
}

// A file from the future (saved in 2200, or with a next window there) keeps only its
// counter baselines.
func TestRestoreFuture(t *testing.T) {
	base := string(fixture(t, "kpi-state-good.json"))
	const y2200 = "7258089600000000000" // 2200-01-01T00:00:00+08:00
	tests := []struct {
		name, from, to, detail string
	}{
		{"saved in 2200", `"saved_at":1709518800000000000`, `"saved_at":` + y2200,
			"saved at 2200-01-01T00:00:00+08:00, more than 1h0m0s after the clock 2024-03-04T10:25:00+08:00"},
		{"next 1h window in 2200", `"next":[1709518740000000000,1709517600000000000`, `"next":[1709518740000000000,` + y2200,
			"next 1h window 2200-01-01T00:00:00+08:00, but the file's horizon 2024-03-04T10:19:00+08:00 is in the window of 2024-03-04T10:00:00+08:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := strings.Replace(base, tt.from, tt.to, 1)
			if state == base {
				t.Fatal("fixture not modified")
			}
			e, first := loadMeasured(t, []byte(state), at("10:25:00"))
			if len(first) != 0 {
				t.Fatalf("first tick emitted %d points", len(first))
			}
			checkDropped(t, e, [kpi.NumDropReasons]uint64{kpi.DropFuture: 3}, []kpi.Dropped{
				{Window: "1m", Reason: kpi.DropFuture, Count: 1, From: at("10:19:00"), To: at("10:20:00"), Detail: tt.detail},
				{Window: "1h", Reason: kpi.DropFuture, Count: 1, From: at("10:00:00"), To: at("11:00:00")},
				{Window: "1d", Reason: kpi.DropFuture, Count: 1, From: at("00:00:00"), To: at("2024-03-05 00:00:00")},
			})
			e.Process(sample("cnc1", at("10:25:00"), good("machinery_item_state", 3), good("parts_total", 1030)))
			r := collect(e.Tick(at("11:00:30")))
			r.expect(t, "device_kpi", "cnc1", "1h", at("10:00:00"),
				with(states(2100, 0, 0, 0, 0, 1500), "parts", 10, "availability", 1))
		})
	}
}

// A clock jumping forward by a century is a gap: the Tick is immediate, writes only the
// windows observed before the jump, drops nothing, and the windows after it are normal.
func TestClockJumpCentury(t *testing.T) {
	e := newEngine(t, kpi.Config{}, restoreDev)
	e.Tick(at("10:00:00"))
	e.Process(sample("cnc1", at("10:00:00"), good("machinery_item_state", 3), good("parts_total", 1)))
	e.Process(sample("cnc1", at("10:00:30"), good("parts_total", 2)))
	far := at("2124-03-04 10:00:00")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	jump := e.Tick(far)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	t.Logf("tick after the jump: %s, %d bytes allocated, %d points", took, after.TotalAlloc-before.TotalAlloc, len(jump))
	if took > time.Second || after.TotalAlloc-before.TotalAlloc > 1<<20 {
		t.Errorf("tick after the jump took %s and %d bytes", took, after.TotalAlloc-before.TotalAlloc)
	}
	r := collect(jump)
	// Observed from 10:00:00 to the last sample at 10:00:30: the 10:00 minute, hour and day
	// are written with what was seen; the century after is not.
	if got := r.count("device_kpi", "1m") + r.count("device_kpi", "1h") + r.count("device_kpi", "1d"); got != 3 {
		t.Errorf("%d device windows after the jump, want 3 (the 10:00 minute, hour and day)", got)
	}
	r.expect(t, "device_kpi", "cnc1", "1m", at("10:00:00"),
		with(states(30, 0, 0, 0, 0, 30), "parts", 1, "availability", 1))
	if got := e.Stats().WindowsDropped; got != [kpi.NumDropReasons]uint64{} {
		t.Errorf("WindowsDropped = %v, want none", got)
	}
	e.Process(sample("cnc1", far.Add(time.Second), good("machinery_item_state", 3), good("parts_total", 4)))
	r = collect(e.Tick(far.Add(90 * time.Second)))
	r.expect(t, "device_kpi", "cnc1", "1m", far,
		with(states(59, 0, 0, 0, 0, 1), "parts", 2, "availability", 1))
}
