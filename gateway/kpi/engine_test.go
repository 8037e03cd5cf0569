package kpi_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

func TestStateModel(t *testing.T) {
	type smp struct {
		clock  string
		fields []point.Field
	}
	cnc := kpi.Device{ID: "d", Kind: "cnc", Source: "s",
		Signals: []string{"machinery_item_state", "operation_mode", "alarm", "spindle_speed_rpm"}}
	channel := kpi.Device{ID: "d", Kind: "cnc", Source: "s",
		Signals: []string{"channel_state", "operation_mode"}}
	legacy := kpi.Device{ID: "d", Kind: "machine", Source: "s", Signals: []string{"power_kw"}}
	meter := kpi.Device{ID: "d", Kind: "energy_meter", Source: "s", Signals: []string{"power_kw"}}
	unc := func(k string, v float64) point.Field { return point.Field{Key: k, Value: v, Quality: point.Uncertain} }
	tests := []struct {
		name    string
		dev     kpi.Device
		samples []smp
		want    kpi.State
	}{
		{"no data", cnc, nil, kpi.StateUnknown},
		{"executing", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 3)}}}, kpi.StateRunning},
		{"not executing", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 2)}}}, kpi.StateIdle},
		{"not available", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 0)}}}, kpi.StateIdle},
		{"out of service", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 1)}}}, kpi.StateIdle},
		{"uncertain executing", cnc, []smp{{"10:00:00", []point.Field{unc("machinery_item_state", 3)}}}, kpi.StateRunning},
		{"setup over running", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 3),
			good("operation_mode", 2)}}}, kpi.StateSetup},
		{"alarm over setup", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 3),
			good("operation_mode", 2), good("alarm", 1)}}}, kpi.StateAlarm},
		{"bad alarm ignored", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 3),
			good("alarm", 1)}}, {"10:00:01", []point.Field{bad("alarm")}}}, kpi.StateRunning},
		{"bad state is offline over alarm", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 3),
			good("alarm", 1)}}, {"10:00:01", []point.Field{bad("machinery_item_state")}}}, kpi.StateOffline},
		{"NaN state is bad", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", math.NaN())}}},
			kpi.StateOffline},
		{"state signal defines, not spindle", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 2),
			good("spindle_speed_rpm", 800)}}}, kpi.StateIdle},
		{"bad spindle does not matter", cnc, []smp{{"10:00:00", []point.Field{good("machinery_item_state", 3),
			bad("spindle_speed_rpm")}}}, kpi.StateRunning},
		{"spindle only turning", cnc, []smp{{"10:00:00", []point.Field{good("spindle_speed_rpm", -800)}}}, kpi.StateRunning},
		{"spindle only stopped", cnc, []smp{{"10:00:00", []point.Field{good("spindle_speed_rpm", 0)}}}, kpi.StateIdle},
		{"channel active processing", channel, []smp{{"10:00:00", []point.Field{good("channel_state", 0),
			good("operation_mode", 3)}}}, kpi.StateRunning},
		{"channel active maintenance", channel, []smp{{"10:00:00", []point.Field{good("channel_state", 0),
			good("operation_mode", 1)}}}, kpi.StateIdle},
		{"channel active without mode", channel, []smp{{"10:00:00", []point.Field{good("channel_state", 0)}}}, kpi.StateRunning},
		{"channel interrupted", channel, []smp{{"10:00:00", []point.Field{good("channel_state", 1),
			good("operation_mode", 3)}}}, kpi.StateIdle},
		{"legacy above idle power", legacy, []smp{{"10:00:00", []point.Field{good("power_kw", 0.51)}}}, kpi.StateRunning},
		{"legacy at idle power", legacy, []smp{{"10:00:00", []point.Field{good("power_kw", 0.5)}}}, kpi.StateIdle},
		{"meter never runs", meter, []smp{{"10:00:00", []point.Field{good("power_kw", 50)}}}, kpi.StateIdle},
		{"class meter never runs", kpi.Device{ID: "d", Kind: "cnc", Class: schema.ClassMeter, Source: "s",
			Signals: []string{"machinery_item_state", "spindle_speed_rpm"}},
			[]smp{{"10:00:00", []point.Field{good("machinery_item_state", 3), good("spindle_speed_rpm", 900)}}}, kpi.StateIdle},
		{"class equipment energy_meter runs on power", kpi.Device{ID: "d", Kind: "energy_meter", Class: schema.ClassEquipment,
			Source: "s", Signals: []string{"power_kw"}},
			[]smp{{"10:00:00", []point.Field{good("power_kw", 50)}}}, kpi.StateRunning},
		{"unmapped field: online", cnc, []smp{{"10:00:00", []point.Field{good("temperature_c", 21)}}}, kpi.StateIdle},
		{"renamed signal", kpi.Device{ID: "d", Kind: "cnc", Source: "s",
			Roles: map[string]string{"ItemState": "machinery_item_state"}},
			[]smp{{"10:00:00", []point.Field{good("ItemState", 3)}}}, kpi.StateRunning},
		{"ignored signal", kpi.Device{ID: "d", Kind: "cnc", Source: "s", Roles: map[string]string{"temp": ""}},
			[]smp{{"10:00:00", []point.Field{good("temp", 3)}}}, kpi.StateUnknown},
		{"default name remapped", kpi.Device{ID: "d", Kind: "cnc", Source: "s",
			Roles: map[string]string{"alarm": "", "fault": "alarm"}},
			[]smp{{"10:00:00", []point.Field{good("machinery_item_state", 3), good("alarm", 1), good("fault", 0)}}},
			kpi.StateRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, kpi.Config{}, tc.dev)
			e.Tick(at("10:00:00"))
			for _, s := range tc.samples {
				e.Process(sample("d", at(s.clock), s.fields...))
			}
			if got := e.Live(at("10:00:05")).Devices[0].State; got != tc.want {
				t.Errorf("state %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStateCodes(t *testing.T) {
	want := []struct {
		s    kpi.State
		code uint8
		name string
	}{{kpi.StateUnknown, 0, "unknown"}, {kpi.StateOffline, 1, "offline"}, {kpi.StateAlarm, 2, "alarm"},
		{kpi.StateSetup, 3, "setup"}, {kpi.StateRunning, 4, "running"}, {kpi.StateIdle, 5, "idle"},
		{kpi.State(9), 9, "state(9)"}}
	for _, w := range want {
		if uint8(w.s) != w.code || w.s.String() != w.name {
			t.Errorf("%d %q, want %d %q", uint8(w.s), w.s.String(), w.code, w.name)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  kpi.Config
		devs []kpi.Device
		want string
	}{
		{"window not dividing a day", kpi.Config{Windows: []time.Duration{7 * time.Minute}}, nil,
			"new kpi engine: windows[0]: 7m0s does not divide a day"},
		{"window fraction", kpi.Config{Windows: []time.Duration{time.Minute, 1500 * time.Millisecond}}, nil,
			"new kpi engine: windows[1]: 1.5s is not a whole number of seconds"},
		{"duplicate window", kpi.Config{Windows: []time.Duration{time.Hour, time.Hour}}, nil,
			"new kpi engine: windows[1]: duplicate 1h0m0s"},
		{"debounce over lateness", kpi.Config{Debounce: time.Minute}, nil,
			"new kpi engine: debounce: 1m0s exceeds allowed_lateness 30s"},
		{"several", kpi.Config{AllowedLateness: -time.Second, KgcePerKWh: math.Inf(1),
			Shifts: []kpi.Shift{{Start: "8:00", End: "24:01", Days: []time.Weekday{9}}}}, nil,
			"new kpi engine: allowed_lateness: negative -1s\n" +
				"kgce_per_kwh: invalid +Inf\n" +
				"shifts[0].start: invalid time \"8:00\"\n" +
				"shifts[0].end: invalid time \"24:01\"\n" +
				"shifts[0].days[0]: invalid weekday 9"},
		{"reserved tag", kpi.Config{WorkshopTags: []point.Tag{{Key: "window", Value: "x"}}}, nil,
			"new kpi engine: workshop_tags[0]: key \"window\" is reserved"},
		{"empty id", kpi.Config{}, []kpi.Device{{ID: "a"}, {}}, "new kpi engine: devices[1].id: empty"},
		{"duplicate id", kpi.Config{}, []kpi.Device{{ID: "a"}, {ID: "a"}},
			"new kpi engine: devices[1].id: duplicate \"a\""},
		{"unknown role", kpi.Config{}, []kpi.Device{{ID: "a", Roles: map[string]string{"x": "speed"}}},
			"new kpi engine: devices[0].roles[\"x\"]: unknown role \"speed\""},
		{"negative interval", kpi.Config{}, []kpi.Device{{ID: "a", Interval: -time.Second}},
			"new kpi engine: devices[0].interval: negative -1s"},
		{"unit value", kpi.Config{}, []kpi.Device{{ID: "a", UnitValueYuan: math.NaN()}},
			"new kpi engine: devices[0].unit_value_yuan: invalid NaN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kpi.New(tc.cfg, tc.devs)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := (kpi.Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	d := kpi.DefaultConfig()
	if d.KgcePerKWh != 0.1229 || d.AllowedLateness != 30*time.Second || d.PowerIdleKW != 0.5 ||
		d.MaxIntegrationGap != 5*time.Minute || len(d.Windows) != 3 || d.Location.String() != "Asia/Shanghai" {
		t.Errorf("defaults %+v", d)
	}
	if _, off := at("10:00:00").In(d.Location).Zone(); off != 8*3600 {
		t.Errorf("default zone offset %d", off)
	}
}

// A state shorter than Debounce is attributed to the state before it.
func TestDebounce(t *testing.T) {
	e := newEngine(t, kpi.Config{Debounce: 10 * time.Second}, kpi.Device{ID: "d", Kind: "cnc", Source: "s",
		Signals: []string{"machinery_item_state", "alarm"}})
	var out []point.Batch
	out = append(out, e.Tick(at("10:00:00")))
	ms := func(clock string, f point.Field) { e.Process(sample("d", at(clock), f)) }
	ms("10:00:00", good("machinery_item_state", 3))
	ms("10:10:00", good("machinery_item_state", 2)) // 5 s blip: ignored
	ms("10:10:05", good("machinery_item_state", 3))
	ms("10:20:00", good("machinery_item_state", 2)) // holds: idle from 10:20:00
	ms("10:30:00", good("alarm", 1))                // exactly 10 s: counts
	ms("10:30:10", good("alarm", 0))
	ms("10:40:00", good("alarm", 1)) // 9 s: ignored
	ms("10:40:09", good("alarm", 0))
	out = append(out, e.Tick(at("11:00:30")))
	r := collect(out...)
	// running 10:00-10:20 = 1200 s; alarm 10 s; idle 600 + 1790 = 2390 s.
	r.expect(t, "device_kpi", "d", "1h", at("10:00:00"),
		with(states(1200, 2390, 0, 10, 0, 0), "availability", 1200.0/3600))
	r.expect(t, "device_kpi", "d", "1m", at("10:10:00"), with(states(60, 0, 0, 0, 0, 0), "availability", 1))
}

// Observation starts at the first Tick: earlier windows are not emitted, the part of the
// open windows before it is unknown, and samples processed before it take effect then.
func TestStartOfObservation(t *testing.T) {
	e := newEngine(t, kpi.Config{}, kpi.Device{ID: "d", Kind: "cnc", Source: "s", Digital: true,
		Signals: []string{"machinery_item_state", "parts_total"}})
	// Before the first Tick: an initial value stamped long ago, and a counter moving.
	e.Process(sample("d", at("2024-03-01 08:00:00"), good("machinery_item_state", 3)))
	e.Process(sample("d", at("10:17:00"), good("parts_total", 10)))
	e.Process(sample("d", at("10:17:10"), good("parts_total", 12)))
	if l := e.Live(at("10:17:15")); l.Started || l.Devices[0].State != kpi.StateUnknown ||
		!l.Devices[0].LastSample.Equal(at("10:17:10")) {
		t.Errorf("before start: %+v", l)
	}
	var out []point.Batch
	out = append(out, e.Tick(at("10:17:20")))
	for now := at("10:30:00"); !now.After(at("2024-03-05 00:30:00")); now = now.Add(30 * time.Minute) {
		out = append(out, e.Tick(now)) // Tick at least hourly: a longer pause is a gap
	}
	r := collect(out...)
	// 10:00-10:17:20 unknown (1040 s), then running (the old value holds); the parts
	// delta before the start counts at the start.
	r.expect(t, "device_kpi", "d", "1h", at("10:00:00"),
		with(states(2560, 0, 0, 0, 0, 1040), "parts", 2, "availability", 1))
	// The day: unknown from midnight to 10:17:20 (37040 s), running 49360 s.
	r.expect(t, "device_kpi", "d", "1d", at("00:00:00"),
		with(states(49360, 0, 0, 0, 0, 37040), "parts", 2, "availability", 1))
	if got := r.count("device_kpi", "1h"); got != 14 {
		t.Errorf("%d hour windows, want 14 (10:00 to 23:00)", got)
	}
	if got := r.count("device_kpi", "1m"); got != 24*60-600-17+29 {
		t.Errorf("%d minute windows, want %d (10:17 to 00:29)", got, 24*60-600-17+29)
	}
	if st := e.Stats(); st.Stale != 3 {
		t.Errorf("%d stale, want 3", st.Stale)
	}
}

func TestStatsOfDroppedInput(t *testing.T) {
	e := newEngine(t, kpi.Config{}, kpi.Device{ID: "d", Kind: "cnc", Source: "s", Signals: []string{"parts_total"}})
	e.Tick(at("10:00:00"))
	e.Process(sample("nobody", at("10:00:00"), good("parts_total", 1)))
	e.Process(sample("d", at("11:00:01"), good("parts_total", 1))) // more than 1 h ahead
	e.Process(sample("d", at("10:00:01"), good("parts_total", -1)))
	e.Process(sample("d", at("10:00:02"), good("parts_total", math.Inf(1))))
	st := e.Stats()
	if st.UnknownDevice != 1 || st.Future != 1 || st.Invalid != 2 || st.Samples != 2 {
		t.Errorf("stats %+v", st)
	}
}

// A forward clock jump (or a stalled gateway) is a gap; a backward one restarts.
func TestClockJumps(t *testing.T) {
	e := newEngine(t, kpi.Config{}, kpi.Device{ID: "d", Kind: "cnc", Source: "s",
		Signals: []string{"machinery_item_state", "parts_total"}})
	var out []point.Batch
	out = append(out, e.Tick(at("10:00:00")))
	e.Process(sample("d", at("10:00:00"), good("machinery_item_state", 3), good("parts_total", 5)))
	e.Process(sample("d", at("10:30:00"), good("parts_total", 7)))
	jump := e.Tick(at("2024-03-06 10:20:00")) // two days later
	out = append(out, jump)
	if len(jump) > 200 {
		t.Errorf("%d points after a two-day jump", len(jump))
	}
	e.Process(sample("d", at("2024-03-06 10:20:00"), good("machinery_item_state", 2), good("parts_total", 10)))
	out = append(out, e.Tick(at("2024-03-06 11:00:30")))
	r := collect(out...)
	// Observed until 10:30:00 (the last sample), not observed until 2024-03-06 10:20:00.
	r.expect(t, "device_kpi", "d", "1h", at("10:00:00"),
		with(states(1800, 0, 0, 0, 0, 1800), "parts", 2, "availability", 1))
	r.expect(t, "device_kpi", "d", "1d", at("00:00:00"),
		with(states(1800, 0, 0, 0, 0, 84600), "parts", 2, "availability", 1))
	if _, ok := r[key("device_kpi", "d", "1d", at("2024-03-05 00:00:00"))]; ok {
		t.Error("a day inside the gap was emitted")
	}
	// The counter baseline survives the gap: 7 -> 10.
	r.expect(t, "device_kpi", "d", "1h", at("2024-03-06 10:00:00"),
		with(states(0, 2400, 0, 0, 0, 1200), "parts", 3, "availability", 0))

	// The clock goes back three hours: observation restarts.
	back := e.Tick(at("2024-03-06 08:00:00"))
	if len(back) != 0 {
		t.Errorf("%d points after going back", len(back))
	}
	e.Process(sample("d", at("2024-03-06 08:00:00"), good("machinery_item_state", 3), good("parts_total", 12)))
	r = collect(e.Tick(at("2024-03-06 08:30:00")), e.Tick(at("2024-03-06 09:00:30")))
	r.expect(t, "device_kpi", "d", "1h", at("2024-03-06 08:00:00"),
		with(states(3600, 0, 0, 0, 0, 0), "parts", 2, "availability", 1))
}

func TestPersistenceErrors(t *testing.T) {
	dev := kpi.Device{ID: "d", Kind: "cnc", Source: "s", Signals: []string{"parts_total"}}
	e := newEngine(t, kpi.Config{}, dev)
	var buf bytes.Buffer
	if err := e.SaveState(&buf, at("10:00:00")); err == nil || err.Error() != "save kpi state: engine not started" {
		t.Errorf("save before start: %v", err)
	}
	e.Tick(at("10:00:00"))
	if err := e.LoadState(strings.NewReader(`{"version":1}`), at("10:00:00")); err == nil ||
		err.Error() != "load kpi state: engine already running" {
		t.Errorf("load after start: %v", err)
	}
	f := newEngine(t, kpi.Config{}, dev)
	if err := f.LoadState(strings.NewReader(`{"version":7}`), at("10:00:00")); err == nil ||
		err.Error() != "load kpi state: unsupported version 7" {
		t.Errorf("load version 7: %v", err)
	}
	if err := f.LoadState(strings.NewReader(`{"version":`), at("10:00:00")); err == nil ||
		err.Error() != "load kpi state: decode: unexpected EOF" {
		t.Errorf("load truncated: %v", err)
	}
	path := filepath.Join(t.TempDir(), "kpi.json")
	err := f.LoadFile(path, at("10:00:00"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), `load kpi state "`+path+`": open `) {
		t.Errorf("load missing file: %v", err)
	}
}

// SaveFile/LoadFile round trip; a changed window set keeps only counter baselines.
func TestPersistenceFile(t *testing.T) {
	dev := kpi.Device{ID: "d", Kind: "cnc", Source: "s", Signals: []string{"machinery_item_state", "parts_total"}}
	a := newEngine(t, kpi.Config{}, dev)
	a.Tick(at("10:00:00"))
	a.Process(sample("d", at("10:00:00"), good("machinery_item_state", 3), good("parts_total", 100)))
	a.Process(sample("d", at("10:10:00"), good("parts_total", 110)))
	path := filepath.Join(t.TempDir(), "kpi.json")
	if err := a.SaveFile(path, at("10:20:00")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}

	same := newEngine(t, kpi.Config{}, dev)
	if err := same.LoadFile(path, at("10:20:00")); err != nil {
		t.Fatal(err)
	}
	same.Process(sample("d", at("10:20:00"), good("machinery_item_state", 3), good("parts_total", 115)))
	r := collect(same.Tick(at("11:00:30")))
	// Saved and reloaded at once: no gap; parts 10 + 5.
	r.expect(t, "device_kpi", "d", "1h", at("10:00:00"),
		with(states(3600, 0, 0, 0, 0, 0), "parts", 15, "availability", 1))

	other := newEngine(t, kpi.Config{Windows: []time.Duration{15 * time.Minute}}, dev)
	if err := other.LoadFile(path, at("10:22:00")); err != nil {
		t.Fatal(err)
	}
	other.Process(sample("d", at("10:22:00"), good("machinery_item_state", 3), good("parts_total", 115)))
	r = collect(other.Tick(at("10:30:30")))
	// Fresh windows from 10:22 (10:15-10:22 unknown); the baseline 110 is kept.
	r.expect(t, "device_kpi", "d", "15m", at("10:15:00"),
		with(states(480, 0, 0, 0, 0, 420), "parts", 5, "availability", 1))
}

// Live shows the open windows up to now.
func TestLive(t *testing.T) {
	e := newEngine(t, kpi.Config{}, kpi.Device{ID: "d", Kind: "machine", Source: "s", Digital: true,
		Signals: []string{"power_kw"}})
	e.Tick(at("10:00:00"))
	e.Process(sample("d", at("10:00:00"), good("power_kw", 2)))
	e.Process(sample("d", at("10:01:00"), good("power_kw", 4)))
	e.Process(sample("d", at("10:02:00"), good("power_kw", 0)))
	l := e.Live(at("10:02:30"))
	d := l.Devices[0]
	if d.State != kpi.StateIdle || !d.Since.Equal(at("10:02:00")) || len(d.Windows) != 3 {
		t.Fatalf("live %+v", d)
	}
	h := d.Windows[1]
	if h.Window != "1h" || !h.Start.Equal(at("10:00:00")) || !h.End.Equal(at("11:00:00")) {
		t.Errorf("hour window %+v", h)
	}
	// 150 s so far: running 120, idle 30. Energy (2+4)/2 kW × 1 min + (4+0)/2 kW × 1 min
	// = 3 × 60/3600 + 2 × 60/3600 = 0.05 + 0.0333… kWh, summed in float64.
	first, second := 3.0*60e9/3600e9, 2.0*60e9/3600e9
	kwh := first + second
	want := map[string]float64{"running_s": 120, "idle_s": 30, "setup_s": 0, "alarm_s": 0,
		"offline_s": 0, "unknown_s": 0, "availability": 120.0 / 150, "energy_kwh": kwh}
	for k, w := range want {
		if g, ok := h.Field(k); !ok || g != w {
			t.Errorf("%s = %v (%v), want %v", k, g, ok, w)
		}
	}
	if v, ok := l.Workshop[1].Field("equipment_networked"); !ok || v != 1 {
		t.Errorf("workshop networked %v %v", v, ok)
	}
	// Live commits nothing: the hour still comes out whole.
	r := collect(e.Tick(at("11:00:30")))
	r.expect(t, "device_kpi", "d", "1h", at("10:00:00"),
		with(states(120, 3480, 0, 0, 0, 0), "availability", 120.0/3600, "energy_kwh", kwh))
}

// Process, SourceState, Tick, Live and SaveState may run concurrently (go test -race).
func TestConcurrentUse(t *testing.T) {
	e := newEngine(t, kpi.Config{}, kpi.Device{ID: "d", Kind: "cnc", Source: "s",
		Signals: []string{"machinery_item_state", "parts_total"}})
	e.Tick(at("10:00:00"))
	done := make(chan struct{})
	for g := range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 300 {
				ts := at("10:00:00").Add(time.Duration(i) * time.Second)
				e.Process(sample("d", ts, good("machinery_item_state", float64(2+i%2)), good("parts_total", float64(i))))
				if g == 0 && i%50 == 0 {
					e.SourceState("s", i%100 != 0, ts)
				}
			}
		}()
	}
	var out []point.Batch
	for i := range 20 {
		now := at("10:00:00").Add(time.Duration(i) * 15 * time.Second)
		out = append(out, e.Tick(now))
		e.Live(now)
		if err := e.SaveState(&bytes.Buffer{}, now); err != nil {
			t.Error(err)
		}
	}
	for range 3 {
		<-done
	}
	out = append(out, e.Tick(at("10:10:00")))
	for _, b := range out {
		finiteAll(t, b)
	}
}
