package kpi_test

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
)

// cst is UTC+8, the default zone.
var cst = time.FixedZone("CST", 8*3600)

// at returns a wall-clock time on Monday 2024-03-04 in cst ("10:15:00"), or on another
// day with a "2024-03-05 00:00:30" form.
func at(s string) time.Time {
	if !strings.Contains(s, "-") {
		s = "2024-03-04 " + s
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, cst)
	if err != nil {
		panic(err)
	}
	return t
}

func good(key string, v float64) point.Field { return point.Field{Key: key, Value: v} }

func bad(key string) point.Field { return point.Field{Key: key, Quality: point.Bad} }

// sample is a one-point batch for a device at t.
func sample(dev string, t time.Time, fs ...point.Field) point.Batch {
	return point.Batch{{Measurement: "raw", Device: dev, Fields: fs, Time: t.UnixNano()}}
}

var shopTags = []point.Tag{{Key: "workshop", Value: "ws1"}, {Key: "region", Value: "360100"},
	{Key: "park", Value: "p1"}, {Key: "enterprise", Value: "e1"}}

func newEngine(t testing.TB, cfg kpi.Config, devs ...kpi.Device) *kpi.Engine {
	t.Helper()
	if cfg.Location == nil {
		cfg.Location = cst
	}
	if cfg.WorkshopTags == nil {
		cfg.WorkshopTags = shopTags
	}
	e, err := kpi.New(cfg, devs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func tagValue(p *point.Point, key string) string {
	for _, t := range p.Tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// results indexes emitted points by "measurement/device/window/start".
type results map[string]*point.Point

func collect(batches ...point.Batch) results {
	r := results{}
	for _, b := range batches {
		for i := range b {
			p := &b[i]
			k := key(p.Measurement, p.Device, tagValue(p, "window"), time.Unix(0, p.Time))
			if _, dup := r[k]; dup {
				panic("duplicate point " + k)
			}
			r[k] = p
		}
	}
	return r
}

func key(meas, dev, window string, start time.Time) string {
	return fmt.Sprintf("%s/%s/%s/%s", meas, dev, window, start.In(cst).Format("2006-01-02 15:04:05"))
}

func fieldMap(p *point.Point) map[string]float64 {
	m := map[string]float64{}
	for _, f := range p.Fields {
		m[f.Key] = f.Value
	}
	return m
}

// expect checks that the point exists with exactly the wanted fields and values.
func (r results) expect(t *testing.T, meas, dev, window string, start time.Time, want map[string]float64) {
	t.Helper()
	k := key(meas, dev, window, start)
	p, ok := r[k]
	if !ok {
		t.Errorf("%s: missing point", k)
		return
	}
	got := fieldMap(p)
	var diffs []string
	for f, w := range want {
		g, ok := got[f]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s missing (want %v)", f, w))
		case g != w:
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", f, g, w))
		}
	}
	for f, g := range got {
		if _, ok := want[f]; !ok {
			diffs = append(diffs, fmt.Sprintf("unexpected %s = %v", f, g))
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Errorf("%s: %s", k, d)
	}
}

// count returns how many points of a measurement and window were emitted.
func (r results) count(meas, window string) int {
	n := 0
	for _, p := range r {
		if p.Measurement == meas && tagValue(p, "window") == window {
			n++
		}
	}
	return n
}

// states builds the six state-second fields.
func states(running, idle, setup, alarm, offline, unknown float64) map[string]float64 {
	return map[string]float64{"running_s": running, "idle_s": idle, "setup_s": setup,
		"alarm_s": alarm, "offline_s": offline, "unknown_s": unknown}
}

func with(m map[string]float64, kv ...any) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = toFloat(kv[i+1])
	}
	return out
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	}
	panic(fmt.Sprintf("not a number: %T", v))
}

func finiteAll(t *testing.T, b point.Batch) {
	t.Helper()
	for _, p := range b {
		for _, f := range p.Fields {
			if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
				t.Fatalf("%s %s %s: non-finite %s = %v", p.Measurement, p.Device,
					tagValue(&p, "window"), f.Key, f.Value)
			}
		}
	}
}
