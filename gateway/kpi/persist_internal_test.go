package kpi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// legacySnapshot builds the snapshot structure field by field, as encoding/json sees the
// persisted format; SaveState must write exactly its encoding.
func legacySnapshot(e *Engine, n int64) *snapshot {
	s := &snapshot{Version: stateVersion, SavedAt: max(n, e.h), Location: e.loc.String(),
		Start: e.s, Horizon: e.closed}
	for k := range e.series {
		sr := &e.series[k]
		s.Windows = append(s.Windows, sr.size)
		s.Next = append(s.Next, sr.next)
		for _, w := range sr.open {
			sw := snapWindow{Size: sr.size, Start: w.start, End: w.end}
			for di, d := range e.devs {
				a := &w.acc[di]
				sw.Acc = append(sw.Acc, snapAcc{Device: d.ID, NS: a.ns, Plan: a.planNS,
					RunPlan: a.runPlanNS, Parts: accFloat(a.parts), Energy: accFloat(a.energy),
					Water: accFloat(a.water), Good: a.good})
			}
			s.Open = append(s.Open, sw)
		}
	}
	for _, g := range e.gaps {
		s.Gaps = append(s.Gaps, [2]int64{g.start, g.end})
	}
	for _, d := range e.devs {
		sd := snapDevice{ID: d.ID}
		for r := roleMachine; r < numRoles; r++ {
			if d.has.has(r) {
				sd.Roles = append(sd.Roles, roleNames[r])
			}
		}
		c := &d.c
		sd.Carry = snapCarry{Done: c.done, Any: c.any, Data: c.data, Down: c.down, Acc: c.acc,
			Raw: c.raw, RawAt: c.rawAt, OutAt: c.outAt, AccAt: c.accAt, PHas: c.pHas, PT: c.pT,
			PV: c.pV}
		for r := roleOther; r < numRoles; r++ {
			if sv := c.sig[r]; sv.has {
				sd.Carry.Sig = append(sd.Carry.Sig, snapEvent{V: sv.v, Role: roleNames[r], Q: sv.q})
			}
		}
		for _, ev := range d.evs {
			se := snapEvent{T: ev.t, V: ev.v, Kind: ev.kind, Role: roleNames[ev.role], Q: ev.q}
			if ev.kind == evBeat {
				se.V, se.End, se.Slots = 0, ev.end(), ev.slots
			}
			sd.Events = append(sd.Events, se)
		}
		for ci, ct := range d.ctr {
			if ct.has {
				sd.Counters = append(sd.Counters, snapCounter{Role: roleNames[roleParts+role(ci)],
					V: ct.v, T: ct.t, Held: ct.held, Last: ct.last})
			}
		}
		s.Devices = append(s.Devices, sd)
	}
	return s
}

// The streamed state is byte for byte the encoding/json encoding of the snapshot.
func TestSaveStateEncoding(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	t0 := time.Date(2024, 3, 4, 10, 0, 0, 0, loc)
	f := func(k string, v float64) point.Field { return point.Field{Key: k, Value: v} }
	run := func(t *testing.T, devs []Device, cfg Config, must []string, feed func(e *Engine)) {
		t.Helper()
		cfg.Location = loc
		e, err := New(cfg, devs)
		if err != nil {
			t.Fatal(err)
		}
		e.Tick(t0)
		feed(e)
		now := t0.Add(95 * time.Second)
		want, err := json.Marshal(legacySnapshot(e, now.UnixNano()))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		var got bytes.Buffer
		if err := e.SaveState(&got, now); err != nil {
			t.Fatal(err)
		}
		for _, s := range must {
			if !bytes.Contains(want, []byte(s)) {
				t.Errorf("state lacks %s", s)
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			i := 0
			for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
				i++
			}
			t.Fatalf("state differs at byte %d:\n got %.200s\nwant %.200s", i, got.Bytes()[i:], want[i:])
		}
	}
	t.Run("devices", func(t *testing.T) {
		devs := []Device{
			{ID: "cnc-1", Kind: "cnc", Source: "opc", Signals: []string{"machinery_item_state", "parts_total", "power_kw"}},
			{ID: "电表\"<&>\\1", Kind: "energy_meter", Source: "mqtt", Interval: time.Second,
				Signals: []string{"energy_kwh_total", "power_kw"}, Roles: map[string]string{"w": "water_m3_total"}},
			{ID: "idle", Kind: "cnc"},
		}
		cfg := Config{Windows: []time.Duration{time.Minute, time.Hour}, Debounce: 5 * time.Second,
			Shifts: []Shift{{Start: "08:00", End: "20:00"}}}
		must := []string{`"events":[{`, `"signals":[{`, `"counters":[{`, `e+22`, `e-9`, `\u003c`, `"kind":1`}
		run(t, devs, cfg, must, func(e *Engine) {
			for i := range 90 {
				ts := t0.Add(time.Duration(i) * time.Second).UnixNano()
				e.Process(point.Batch{
					{Device: "cnc-1", Time: ts, Fields: []point.Field{f("machinery_item_state", float64(2+i/20%2)),
						f("parts_total", float64(i/3)), f("power_kw", 1e-9*float64(i%3)), f("spare", 1),
						{Key: "alarm_active", Quality: point.Uncertain, Value: float64(i % 2)}}},
					{Device: "电表\"<&>\\1", Time: ts, Fields: []point.Field{f("energy_kwh_total", 1e22+float64(i)*1e8),
						f("power_kw", 123.456789*float64(i)), f("w", 0.5*float64(i)),
						{Key: "power_kw", Quality: point.Bad}}},
				})
				if i == 70 {
					// Out of order, and a source session lost and back.
					e.Process(point.Batch{{Device: "cnc-1", Time: ts - int64(3*time.Second),
						Fields: []point.Field{f("machinery_item_state", 1)}}})
					e.SourceState("mqtt", false, time.Unix(0, ts))
					e.SourceState("mqtt", true, time.Unix(0, ts+int64(2*time.Second)))
				}
				if i%10 == 9 {
					e.Tick(time.Unix(0, ts))
				}
			}
			e.Tick(t0.Add(91 * time.Second))
		})
	})
	t.Run("gap", func(t *testing.T) {
		devs := []Device{{ID: "a", Kind: "cnc", Signals: []string{"spindle_speed_rpm"}}}
		run(t, devs, Config{}, []string{`"gaps":[[`}, func(e *Engine) {
			e.Process(point.Batch{{Device: "a", Time: t0.UnixNano(), Fields: []point.Field{f("spindle_speed_rpm", 1200)}}})
			e.Tick(t0.Add(-2 * time.Hour)) // the clock went back: observed anew
			e.Tick(t0.Add(30 * time.Second))
			e.Tick(t0.Add(3 * time.Hour)) // a stall: [t0+30s, t0+3h) is a gap
			e.Process(point.Batch{{Device: "a", Time: t0.Add(3*time.Hour + time.Second).UnixNano(),
				Fields: []point.Field{f("spindle_speed_rpm", 0)}}})
		})
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSaveStateWriteError(t *testing.T) {
	e, err := New(Config{}, []Device{{ID: "a", Kind: "cnc"}})
	if err != nil {
		t.Fatal(err)
	}
	e.Tick(time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC))
	err = e.SaveState(failWriter{}, time.Date(2024, 3, 4, 10, 0, 1, 0, time.UTC))
	if err == nil || err.Error() != "save kpi state: write: disk full" {
		t.Fatalf("error = %v", err)
	}
}

// BenchmarkSaveLock measures what a save does while holding the engine's lock, for an
// engine holding ~90 s of samples (100 meters, 3 fields every 100 ms): freeze copies the
// compact state; snapshot builds the former snapshot structure, which the lock used to
// cover.
func BenchmarkSaveLock(b *testing.B) {
	loc := time.FixedZone("CST", 8*3600)
	var devs []Device
	for i := range 100 {
		devs = append(devs, Device{ID: fmt.Sprintf("em%03d", i), Kind: "energy_meter", Interval: time.Second,
			Signals: []string{"energy_kwh_total", "power_kw", "current_a"}})
	}
	e, err := New(Config{Location: loc}, devs)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2024, 3, 4, 10, 0, 0, 0, loc)
	e.Tick(t0)
	batch := make(point.Batch, len(devs))
	for s := range 900 {
		ts := t0.Add(time.Duration(s) * 100 * time.Millisecond).UnixNano()
		for i, d := range devs {
			batch[i] = point.Point{Device: d.ID, Time: ts, Fields: []point.Field{{Key: "energy_kwh_total", Value: float64(s)},
				{Key: "power_kw", Value: float64((s + i) % 7)}, {Key: "current_a", Value: float64((s + i) % 5)}}}
		}
		e.Process(batch)
		if s%10 == 9 {
			e.Tick(time.Unix(0, ts))
		}
	}
	n := t0.Add(90 * time.Second).UnixNano()
	b.Run("freeze", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			e.mu.Lock()
			_, err := e.freeze(n)
			e.mu.Unlock()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			e.mu.Lock()
			legacySnapshot(e, n)
			e.mu.Unlock()
		}
	})
}
