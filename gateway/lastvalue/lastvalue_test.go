package lastvalue

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/point"
)

func lvConfig() *config.Config {
	return &config.Config{Devices: []config.Device{
		{ID: "m1", Kind: "cnc", Source: "cnc", Signals: map[string]config.Signal{
			"spindle_speed_rpm": {Unit: "rpm"}, "alarm": {}}},
		{ID: "legacy1", Kind: "machine"},
	}}
}

func TestLastValues(t *testing.T) {
	pt := func(dev string, ts int64, fs ...point.Field) point.Point {
		return point.Point{Measurement: "cnc", Device: dev, Time: ts, Fields: fs}
	}
	good := func(k string, v float64) point.Field { return point.Field{Key: k, Value: v} }
	q := func(k string, v float64, qq point.Quality) point.Field {
		return point.Field{Key: k, Value: v, Quality: qq}
	}
	rpm := func(seen bool, qq point.Quality, ts int64, has bool, v float64) Signal {
		return Signal{Name: "spindle_speed_rpm", Unit: "rpm", Seen: seen, Quality: qq, Time: ts, HasValue: has, Value: v}
	}
	alarm := func(seen bool, qq point.Quality, ts int64, has bool, v float64) Signal {
		return Signal{Name: "alarm", Seen: seen, Quality: qq, Time: ts, HasValue: has, Value: v}
	}
	for _, tc := range []struct {
		name    string
		batches []point.Batch
		want    []Signal
	}{
		{"nothing yet", nil,
			[]Signal{alarm(false, 0, 0, false, 0), rpm(false, 0, 0, false, 0)}},
		{"newest wins", []point.Batch{{pt("m1", 10, good("spindle_speed_rpm", 100), good("alarm", 0))}, {pt("m1", 20, good("spindle_speed_rpm", 200))}},
			[]Signal{alarm(true, point.Good, 10, true, 0), rpm(true, point.Good, 20, true, 200)}},
		{"older sample ignored", []point.Batch{{pt("m1", 20, good("spindle_speed_rpm", 200)), pt("m1", 10, good("spindle_speed_rpm", 100))}},
			[]Signal{alarm(false, 0, 0, false, 0), rpm(true, point.Good, 20, true, 200)}},
		{"same timestamp replaces", []point.Batch{{pt("m1", 20, good("spindle_speed_rpm", 200))}, {pt("m1", 20, q("spindle_speed_rpm", 210, point.Uncertain))}},
			[]Signal{alarm(false, 0, 0, false, 0), rpm(true, point.Uncertain, 20, true, 210)}},
		{"bad sample keeps the last value", []point.Batch{{pt("m1", 20, good("spindle_speed_rpm", 200))}, {pt("m1", 30, q("spindle_speed_rpm", 0, point.Bad))}},
			[]Signal{alarm(false, 0, 0, false, 0), rpm(true, point.Bad, 30, true, 200)}},
		{"bad first sample has no value", []point.Batch{{pt("m1", 30, q("spindle_speed_rpm", 0, point.Bad))}},
			[]Signal{alarm(false, 0, 0, false, 0), rpm(true, point.Bad, 30, false, 0)}},
		{"NaN has no value", []point.Batch{{pt("m1", 20, good("spindle_speed_rpm", 200))}, {pt("m1", 30, good("spindle_speed_rpm", math.NaN()))}},
			[]Signal{alarm(false, 0, 0, false, 0), rpm(true, point.Good, 30, true, 200)}},
		{"unknown device and field ignored", []point.Batch{{pt("m9", 10, good("spindle_speed_rpm", 1)), pt("m1", 10, good("power_kw", 1)), pt("legacy1", 10, good("alarm", 1))}},
			[]Signal{alarm(false, 0, 0, false, 0), rpm(false, 0, 0, false, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lv := New(lvConfig())
			for _, b := range tc.batches {
				lv.Process(b)
			}
			if got := lv.Device("m1"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("m1 =\n%+v\nwant\n%+v", got, tc.want)
			}
			if got := lv.Device("legacy1"); got != nil {
				t.Errorf("legacy1 = %+v, want nil", got)
			}
		})
	}
}

func TestLastWindows(t *testing.T) {
	shop := func(window string, start time.Time, parts float64) point.Point {
		return point.Point{Measurement: "workshop_kpi", Time: start.UnixNano(),
			Tags:   []point.Tag{{Key: "workshop", Value: "ws1"}, {Key: "window", Value: window}},
			Fields: []point.Field{{Key: "parts", Value: parts}}}
	}
	t0 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	lw := NewWindows()
	lw.Record(point.Batch{
		{Measurement: "device_kpi", Time: t0.Add(time.Minute).UnixNano(), Tags: []point.Tag{{Key: "window", Value: "1m"}}},
		shop("1m", t0, 3), shop("1h", t0, 3),
	})
	lw.Record(point.Batch{shop("1m", t0.Add(time.Minute), 5)})
	lw.Record(point.Batch{shop("1m", t0, 9)}) // an older window closing late does not replace the newer one
	for _, tc := range []struct {
		window string
		ok     bool
		start  time.Time
		parts  float64
	}{
		{"1m", true, t0.Add(time.Minute), 5},
		{"1h", true, t0, 3},
		{"1d", false, time.Time{}, 0},
	} {
		w, ok := lw.Get(tc.window)
		if ok != tc.ok || !w.Start.Equal(tc.start) {
			t.Errorf("%s: ok %v start %v, want %v %v", tc.window, ok, w.Start, tc.ok, tc.start)
		}
		if ok && (len(w.Fields) != 1 || w.Fields[0].Value != tc.parts) {
			t.Errorf("%s: fields %+v, want parts %v", tc.window, w.Fields, tc.parts)
		}
	}
}
