package kpi

import (
	"bytes"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
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

// A damaged state file holding a power reading from 1677 (the least int64 time) before a
// restored power sample: the device starts afresh, no energy is integrated over the
// centuries between them (the difference used to wrap around into the integration gap
// and book energy into a window dated 2262), and a state saved afterwards restores with
// nothing dropped. FuzzLoadState found it.
func TestLoadStatePowerReadingBefore1970(t *testing.T) {
	data := []byte(`{"version":1,"saved_at":1709518800000000000,"location":"CST","windows":[60000000000,3600000000000,86400000000000],"horizon":1709518740000000000,"next":[1709518740000000000,1709517600000000000,1709481600000000000],"gaps":[[-9223372036854775808,1709518740000000000]],"devices":[{"id":"cnc1","carry":{"done":1709518740000000000,"any":true,"data":1709518700000000000,"raw_at":1709518700000000000,"out_at":1709518740000000000,"acc_at":1709518700000000000,"power_has":true,"power_t":-9223372036854775808,"power_kw":1},"events":[{"t":1709518750000000000,"kind":0,"role":"power_kw","v":2}]}]}`)
	cst := time.FixedZone("CST", 8*3600)
	now := time.Date(2024, 3, 4, 10, 25, 0, 0, cst)
	devs := []Device{{ID: "cnc1", Kind: "cnc", Source: "opc", Signals: []string{"machinery_item_state", "power_kw"}}}
	e, err := New(Config{Location: cst}, devs)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.LoadState(bytes.NewReader(data), now); err != nil {
		t.Fatal(err)
	}
	out := append(e.Tick(now), e.Tick(now.Add(2*time.Minute))...)
	for _, p := range out {
		if p.Time > now.Add(time.Hour).UnixNano() {
			t.Errorf("window at %s emitted", time.Unix(0, p.Time).In(cst))
		}
		for _, f := range p.Fields {
			if f.Key == "energy_kwh" && f.Value != 0 {
				t.Errorf("%s window at %s: energy_kwh %v, want 0", p.Measurement, time.Unix(0, p.Time).In(cst), f.Value)
			}
		}
	}
	var buf bytes.Buffer
	if err := e.SaveState(&buf, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	again, err := New(Config{Location: cst}, devs)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.LoadState(&buf, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d := again.Restored().Dropped; len(d) != 0 {
		t.Fatalf("reload of a saved state dropped %+v", d)
	}
}

// FuzzLoadState restores arbitrary state files: LoadState never panics, the Ticks after it
// write at most maxDue windows per length, and a state saved after a Tick restores at
// once without anything dropped.
func FuzzLoadState(f *testing.F) {
	for _, name := range []string{"kpi-state-good.json", "kpi-state-next-1970.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"saved_at":0,"location":"CST","windows":[60000000000,3600000000000,86400000000000],"horizon":0,"next":[0,0,0],"gaps":[[0,9223372036854775807]]}`))
	f.Add([]byte(`{"version":1,"saved_at":1709518800000000000,"location":"CST","windows":[60000000000,3600000000000,86400000000000],"horizon":1709518740000000000,"next":[1709518740000000000,1709517600000000000,1709481600000000000],"open":[{"size":60000000000,"start":-9223372036854775808,"end":9223372036854775807}],"devices":[{"id":"cnc1","carry":{"done":9223372036854775807,"power_has":true,"power_t":-9223372036854775808},"events":[{"t":1709518700000000000,"kind":0,"role":"power_kw","v":1e308},{"t":-5,"kind":4,"end":9223372036854775807}]}]}`))
	cst := time.FixedZone("CST", 8*3600)
	now := time.Date(2024, 3, 4, 10, 25, 0, 0, cst)
	devs := []Device{{ID: "cnc1", Kind: "cnc", Source: "opc", Signals: []string{"machinery_item_state", "parts_total", "power_kw"}},
		{ID: "em1", Kind: "energy_meter", Source: "mqtt", Interval: time.Second, Signals: []string{"energy_kwh_total"}}}
	{
		// A state holding a glitch: a counter held below its baseline, a window marked suspect.
		e, err := New(Config{Location: cst}, devs)
		if err != nil {
			f.Fatal(err)
		}
		e.Tick(now.Add(-time.Minute))
		for i, v := range []float64{1000.5, 995.5} {
			e.Process(point.Batch{{Device: "em1", Time: now.Add(time.Duration(i-50) * time.Second).UnixNano(),
				Fields: []point.Field{{Key: "energy_kwh_total", Value: v}}}})
		}
		var buf bytes.Buffer
		if err := e.SaveState(&buf, now.Add(-time.Second)); err != nil {
			f.Fatal(err)
		}
		if !bytes.Contains(buf.Bytes(), []byte(`"held":true`)) || !bytes.Contains(buf.Bytes(), []byte(`"suspect":1`)) {
			f.Fatalf("the glitch seed holds no glitch: %s", buf.Bytes())
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := New(Config{Location: cst}, devs)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.LoadState(bytes.NewReader(data), now); err != nil {
			return
		}
		limit := 0
		for k := range e.series {
			limit += e.maxDue(k) * (len(e.devs) + 1)
		}
		for _, at := range []time.Time{now, now.Add(2 * time.Minute)} {
			if out := e.Tick(at); len(out) > limit {
				t.Fatalf("tick at %s wrote %d points, more than %d", at, len(out), limit)
			}
		}
		e.Live(now.Add(2 * time.Minute))
		var buf bytes.Buffer
		if err := e.SaveState(&buf, now.Add(2*time.Minute)); err != nil {
			return // e.g. a restored power reading that is not finite cannot be encoded
		}
		again, err := New(Config{Location: cst}, devs)
		if err != nil {
			t.Fatal(err)
		}
		if err := again.LoadState(&buf, now.Add(2*time.Minute)); err != nil {
			t.Fatalf("reload of a saved state: %v", err)
		}
		if d := again.Restored().Dropped; len(d) != 0 {
			t.Fatalf("reload of a saved state dropped %+v", d)
		}
	})
}

// The engine's roles and the schema's vocabulary (which the configuration checks) agree:
// the same ten names, the same counters and the same meter roles.
func TestRolesFollowSchema(t *testing.T) {
	var names []string
	for _, r := range roleDocOrder {
		name := roleNames[r]
		names = append(names, name)
		if got, want := schema.IsCounterRole(name), isCounter(r); got != want {
			t.Errorf("%s: schema counter %v, engine counter %v", name, got, want)
		}
		if got, want := schema.IsMeterRole(name), r == roleEnergy || r == rolePower || r == roleWater; got != want {
			t.Errorf("%s: schema meter role %v, engine %v", name, got, want)
		}
	}
	if !slices.Equal(names, schema.RoleNames()) {
		t.Errorf("engine roles %v, schema roles %v", names, schema.RoleNames())
	}
}
