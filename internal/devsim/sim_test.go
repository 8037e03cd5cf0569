package devsim

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var shanghai = DefaultLocation()

func mustNew(t testing.TB, cfg Config) *Sim {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jitteredSteps steps every second plus 0, 300 or 600 ms, so steps do not fall on
// window boundaries.
func jitteredSteps(s *Sim, n int) {
	start := s.Config().Start
	for i := 1; i <= n; i++ {
		s.Step(start.Add(time.Duration(i)*time.Second + time.Duration(i%3)*300*time.Millisecond))
	}
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Machines: 3, EnergyMeters: 2, WaterMeters: 1, Seed: 42, TimeScale: 0.05,
		Start: time.Date(2026, 3, 2, 9, 30, 0, 0, shanghai), MeterReplaceProb: 0.001, RecordLimit: 1 << 20}
	run := func(cfg Config) ([]Record, []WindowTruth) {
		s := mustNew(t, cfg)
		jitteredSteps(s, 1800)
		tr, err := s.Truth(time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return s.Produced(), tr
	}
	p1, t1 := run(cfg)
	p2, t2 := run(cfg)
	if !reflect.DeepEqual(p1, p2) {
		t.Errorf("two runs with seed 42 produced different records (%d and %d)", len(p1), len(p2))
	}
	if !reflect.DeepEqual(t1, t2) {
		t.Errorf("two runs with seed 42 gave different truth")
	}
	cfg.Seed = 43
	p3, _ := run(cfg)
	if reflect.DeepEqual(p1, p3) {
		t.Errorf("seeds 42 and 43 produced the same records")
	}
	if len(p1) < 1000 {
		t.Errorf("only %d records in 30 minutes", len(p1))
	}
}

// TestInitialValues pins the model: the first values of seed 1 at 09:00:00 local.
func TestInitialValues(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, shanghai)
	s := mustNew(t, Config{Machines: 1, EnergyMeters: 1, WaterMeters: 1, Seed: 1, Start: start, RecordLimit: 100})
	got := s.Produced()
	want := []Record{
		{"m1", SigItemState, start.UTC(), ItemStateExecuting},
		{"m1", SigOperationMode, start.UTC(), ModeProcessing},
		{"m1", SigChannelState, start.UTC(), ChannelActive},
		{"m1", SigPartsTotal, start.UTC(), uint32(0)},
		{"m1", SigSpindleSpeed, start.UTC(), 2599.3},
		{"m1", SigFeedOverride, start.UTC(), 100.0},
		{"m1", SigActiveProgram, start.UTC(), "O1012"},
		{"m1", SigAlarm, start.UTC(), false},
		{"em1", SigEnergyTotal, start.UTC(), 14365.2},
		{"em1", SigPower, start.UTC(), 12.419},
		{"wm1", SigWaterTotal, start.UTC(), 1851.1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("initial records\n got %v\nwant %v", got, want)
	}
	msgs := s.mq.take(10)
	wantMsgs := []mqttMsg{
		{"plant/ws1/meter/em1", []byte(`{"ts":1772413200000,"kwh":14365.2,"kw":12.419}`)},
		{"plant/ws1/meter/wm1", []byte(`{"ts":1772413200000,"m3":1851.1}`)},
	}
	if !reflect.DeepEqual(msgs, wantMsgs) {
		t.Errorf("initial messages\n got %q\nwant %q", msgs, wantMsgs)
	}
}

// observer recomputes the truth from the published records alone, as a perfect
// gateway would: states hold from one change to the next, counter increases count at
// their time (UInt32 wrap), meter consumption between two reports is the difference
// of the readings (the new reading after a decrease: a replaced meter) spread evenly.
type observer struct {
	base time.Duration
	loc  *time.Location
	acc  map[string]map[time.Time]*acc
}

func (o *observer) at(dev string, t time.Time) *acc {
	if o.acc[dev] == nil {
		o.acc[dev] = map[time.Time]*acc{}
	}
	k := align(t, o.base, o.loc)
	if o.acc[dev][k] == nil {
		o.acc[dev][k] = &acc{}
	}
	return o.acc[dev][k]
}

func (o *observer) spread(dev string, from, to time.Time, f func(a *acc, d time.Duration)) {
	for cur := from; cur.Before(to); {
		end := align(cur, o.base, o.loc).Add(o.base)
		if end.After(to) {
			end = to
		}
		f(o.at(dev, cur), end.Sub(cur))
		cur = end
	}
}

func observe(recs []Record, base time.Duration, loc *time.Location, now time.Time) *observer {
	o := &observer{base: base, loc: loc, acc: map[string]map[time.Time]*acc{}}
	type mstate struct {
		item, mode uint32
		alarm      bool
		since      time.Time
		parts      uint32
		partsSeen  bool
	}
	type mtr struct {
		t      time.Time
		v      float64
		seen   bool
		energy bool
	}
	machines := map[string]*mstate{}
	var order []string
	meters := map[string]*mtr{}
	flush := func(dev string, m *mstate, until time.Time) {
		st := Classify(m.item, m.mode, m.alarm)
		o.spread(dev, m.since, until, func(a *acc, d time.Duration) { a.state[st] += d; a.covered += d })
		m.since = until
	}
	for _, r := range recs {
		switch r.Signal {
		case SigItemState, SigOperationMode, SigAlarm, SigPartsTotal:
			m := machines[r.Device]
			if m == nil {
				m = &mstate{since: r.Time}
				machines[r.Device] = m
				order = append(order, r.Device)
			}
			if r.Time.After(m.since) {
				flush(r.Device, m, r.Time)
			}
			switch r.Signal {
			case SigItemState:
				m.item = r.Value.(uint32)
			case SigOperationMode:
				m.mode = r.Value.(uint32)
			case SigAlarm:
				m.alarm = r.Value.(bool)
			case SigPartsTotal:
				v := r.Value.(uint32)
				if m.partsSeen {
					o.at(r.Device, r.Time).parts += uint64(v - m.parts)
				}
				m.parts, m.partsSeen = v, true
			}
		case SigEnergyTotal, SigWaterTotal:
			v := r.Value.(float64)
			m := meters[r.Device]
			if m == nil {
				m = &mtr{}
				meters[r.Device] = m
			}
			if m.seen {
				delta := v - m.v
				if v < m.v {
					delta = v
					o.at(r.Device, m.t).replacements++
				}
				total := r.Time.Sub(m.t)
				o.spread(r.Device, m.t, r.Time, func(a *acc, d time.Duration) {
					a.amount += delta * float64(d) / float64(total)
					a.covered += d
				})
			}
			m.t, m.v, m.seen = r.Time, v, true
		}
	}
	for _, dev := range order {
		flush(dev, machines[dev], now)
	}
	return o
}

func TestTruthMatchesObserver(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		steps int
	}{
		{"shift end, replacements", Config{Machines: 3, EnergyMeters: 2, WaterMeters: 1, Seed: 3, TimeScale: 0.05,
			Shifts: []Shift{{8 * time.Hour, 10 * time.Hour}}, Start: time.Date(2026, 3, 2, 9, 30, 20, 500e6, shanghai),
			MeterReplaceProb: 0.003}, 3600},
		{"real time scale, 5s meters", Config{Machines: 4, EnergyMeters: 1, WaterMeters: 2, Seed: 9,
			MeterInterval: 5 * time.Second, Start: time.Date(2026, 3, 2, 7, 59, 0, 0, shanghai)}, 7200},
		{"night shift across midnight", Config{Machines: 2, EnergyMeters: 1, Seed: 5, TimeScale: 0.1,
			Shifts: []Shift{{22 * time.Hour, 6 * time.Hour}}, Start: time.Date(2026, 3, 2, 23, 40, 0, 0, shanghai),
			TruthWindow: 10 * time.Minute}, 2400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.RecordLimit = 1 << 22
			s := mustNew(t, tt.cfg)
			jitteredSteps(s, tt.steps)
			base := s.Config().TruthWindow
			o := observe(s.Produced(), base, s.Config().Location, s.Now())
			for _, w := range []time.Duration{base, 2 * base, time.Hour} {
				wins, err := s.Truth(w)
				if err != nil {
					t.Fatal(err)
				}
				var parts, replacements int
				var states time.Duration
				for _, wt := range wins {
					want := WindowTruth{Device: wt.Device, Kind: wt.Kind, Start: wt.Start, Window: w, Final: wt.Final}
					for st := wt.Start; st.Before(wt.Start.Add(w)); st = st.Add(base) {
						a := o.acc[wt.Device][st]
						if a == nil {
							continue
						}
						want.Covered += a.covered
						want.Running += a.state[StateRunning]
						want.Idle += a.state[StateIdle]
						want.Setup += a.state[StateSetup]
						want.Alarm += a.state[StateAlarm]
						want.Parts += a.parts
						want.Replacements += a.replacements
						if wt.Kind == KindEnergyMeter {
							want.EnergyKWh += a.amount
						} else {
							want.WaterM3 += a.amount
						}
					}
					if math.Abs(want.EnergyKWh-wt.EnergyKWh) < 1e-6 && math.Abs(want.WaterM3-wt.WaterM3) < 1e-6 {
						want.EnergyKWh, want.WaterM3 = wt.EnergyKWh, wt.WaterM3
					}
					if want != wt {
						t.Errorf("%s window:\n truth    %+v\n observer %+v", w, wt, want)
					}
					if sum := wt.Running + wt.Idle + wt.Setup + wt.Alarm; wt.Kind == KindCNC && sum != wt.Covered {
						t.Errorf("%s %s: state time %v, covered %v", wt.Device, wt.Start, sum, wt.Covered)
					}
					if wt.Kind == KindCNC && wt.Final && wt.Start.After(s.Config().Start) && !wt.Complete() {
						t.Errorf("%s %s: final window covers %v of %v", wt.Device, wt.Start, wt.Covered, w)
					}
					parts += int(wt.Parts)
					replacements += wt.Replacements
					states += wt.Running + wt.Setup + wt.Alarm
				}
				if parts == 0 || states == 0 {
					t.Errorf("%s windows: %d parts, %v running/setup/alarm: the machines did nothing", w, parts, states)
				}
				if tt.cfg.MeterReplaceProb > 0 && replacements == 0 {
					t.Errorf("no meter replaced")
				}
			}
		})
	}
}

func TestWindowsSumToWindow(t *testing.T) {
	start := time.Date(2026, 3, 2, 6, 0, 0, 0, shanghai)
	s := mustNew(t, Config{Machines: 5, EnergyMeters: 1, Seed: 11, Start: start})
	s.StepUntil(start.Add(6 * time.Hour))
	wins, err := s.Truth(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	states := map[State]time.Duration{}
	for _, w := range wins {
		if w.Kind != KindCNC {
			continue
		}
		if sum := w.Running + w.Idle + w.Setup + w.Alarm; sum != time.Minute || !w.Complete() || !w.Final {
			t.Fatalf("%s %s: states sum to %v, covered %v, final %v; want a full minute", w.Device, w.Start, sum, w.Covered, w.Final)
		}
		states[StateRunning] += w.Running
		states[StateIdle] += w.Idle
		states[StateSetup] += w.Setup
		states[StateAlarm] += w.Alarm
	}
	// Before 08:00 every machine is idle; over the 4 working hours all states occur.
	for st, d := range states {
		if d == 0 {
			t.Errorf("no time in state %s", st)
		}
	}
	if want := 5 * 6 * time.Hour; states[StateRunning]+states[StateIdle]+states[StateSetup]+states[StateAlarm] != want {
		t.Errorf("total %v, want %v", states, want)
	}
	for _, w := range wins {
		if w.Kind == KindCNC && w.Start.Before(start.Add(2*time.Hour)) && w.Idle != time.Minute {
			t.Fatalf("%s %s before the shift: %+v, want idle", w.Device, w.Start, w)
		}
	}
}

func TestPartsCounterWraps(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, shanghai)
	const partsStart = math.MaxUint32 - 20
	s := mustNew(t, Config{Machines: 3, Seed: 2, Start: start, PartsStart: partsStart, TimeScale: 0.01,
		Shifts: []Shift{{0, 24 * time.Hour}}, RecordLimit: 1 << 20})
	s.StepUntil(start.Add(15 * time.Minute))
	last := map[string]uint32{}
	total := map[string]uint64{}
	wrapped := map[string]bool{}
	for _, r := range s.Produced() {
		if r.Signal != SigPartsTotal {
			continue
		}
		v := r.Value.(uint32)
		if prev, ok := last[r.Device]; ok {
			if v < prev {
				wrapped[r.Device] = true
			}
			total[r.Device] += uint64(v - prev)
		} else if v != partsStart {
			t.Errorf("%s starts at %d, want %d", r.Device, v, partsStart)
		}
		last[r.Device] = v
	}
	wins, err := s.Truth(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]uint64{}
	for _, w := range wins {
		truth[w.Device] += w.Parts
	}
	for m := 1; m <= 3; m++ {
		id := MachineID(m)
		if !wrapped[id] || total[id] <= 20 {
			t.Errorf("%s: counter did not wrap (%d parts, last value %d)", id, total[id], last[id])
		}
		v, _, _ := s.Value(m, SigPartsTotal)
		if v != last[id] || uint64(v.(uint32)) != (partsStart+total[id])%(1<<32) {
			t.Errorf("%s: node value %v, want %d", id, v, (partsStart+total[id])%(1<<32))
		}
		if truth[id] != total[id] {
			t.Errorf("%s: truth %d parts, counter deltas %d", id, truth[id], total[id])
		}
	}
}

func TestMeterReplacement(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, shanghai)
	s := mustNew(t, Config{Machines: 2, EnergyMeters: 1, WaterMeters: 1, Seed: 4, Start: start,
		MeterReplaceProb: 0.02, RecordLimit: 1 << 20})
	s.StepUntil(start.Add(20 * time.Minute))
	type rd struct {
		t     time.Time
		v, kw float64
	}
	series := map[string][]rd{}
	for _, r := range s.Produced() {
		switch r.Signal {
		case SigEnergyTotal, SigWaterTotal:
			series[r.Device] = append(series[r.Device], rd{t: r.Time, v: r.Value.(float64)})
		case SigPower:
			series[r.Device][len(series[r.Device])-1].kw = r.Value.(float64)
		}
	}
	wins, err := s.Truth(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"em1", "wm1"} {
		var truth float64
		var truthRepl int
		for _, w := range wins {
			if w.Device == dev {
				truth += w.EnergyKWh + w.WaterM3
				truthRepl += w.Replacements
			}
		}
		rs := series[dev]
		var deltas, physical float64
		var decreases int
		for i := 1; i < len(rs); i++ {
			d := rs[i].v - rs[i-1].v
			if d < 0 {
				decreases++
				d = rs[i].v
			}
			deltas += d
			if dev == "em1" {
				physical += rs[i-1].kw * rs[i].t.Sub(rs[i-1].t).Hours()
			}
		}
		if decreases < 5 || truthRepl != decreases {
			t.Errorf("%s: %d counter decreases, truth %d replacements; want equal and several", dev, decreases, truthRepl)
		}
		if math.Abs(truth-deltas) > 1e-6 {
			t.Errorf("%s: truth %.9f, counter deltas with resets %.9f", dev, truth, deltas)
		}
		if dev == "em1" && math.Abs(truth-physical) > 1e-6 {
			t.Errorf("%s: truth %.9f kWh, reported power integrates to %.9f", dev, truth, physical)
		}
		if len(rs) != 20*60+1 {
			t.Errorf("%s: %d reports in 20 minutes at 1s, want 1201", dev, len(rs))
		}
	}
}

func TestStepIgnoresPastAndTruncates(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := mustNew(t, Config{Machines: 1, Start: start})
	s.Step(start)
	s.Step(start.Add(-time.Second))
	if st := s.Stats(); st.Steps != 0 {
		t.Errorf("steps %d after stepping to the start and before it, want 0", st.Steps)
	}
	s.Step(start.Add(1500*time.Millisecond + 999*time.Microsecond))
	if got, want := s.Now(), start.Add(1500*time.Millisecond); !got.Equal(want) {
		t.Errorf("now %v, want %v", got, want)
	}
}

func TestRecordLimitKeepsNewest(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := mustNew(t, Config{EnergyMeters: 1, Start: start, RecordLimit: 4})
	s.StepUntil(start.Add(3 * time.Second))
	got := s.Produced()
	var times []int
	for _, r := range got {
		times = append(times, int(r.Time.Sub(start)/time.Second))
	}
	if !reflect.DeepEqual(times, []int{2, 2, 3, 3}) || got[3].Signal != SigPower {
		t.Errorf("kept records at seconds %v (%v), want the last two reports", times, got)
	}
	if d := s.Stats().RecordsDropped; d != 4 {
		t.Errorf("dropped %d records, want 4", d)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"negative machines", func(c *Config) { c.Machines = -1 }, "machines: -1 is not 0..100000"},
		{"too many meters", func(c *Config) { c.WaterMeters = MaxDevices + 1 }, "water meters: 100001 is not 0..100000"},
		{"workshop with slash", func(c *Config) { c.Workshop = "a/b" }, `workshop "a/b": must not contain '/', '+' or '#'`},
		{"rate", func(c *Config) { c.Rate = time.Microsecond }, "rate: 1µs is below 1ms"},
		{"shift", func(c *Config) { c.Shifts = []Shift{{25 * time.Hour, time.Hour}} }, "shifts[0]: 25:00-01:00 is not within a day"},
		{"probability", func(c *Config) { c.MeterReplaceProb = 2 }, "meter replace probability: 2 is not 0..1"},
		{"truth window", func(c *Config) { c.TruthWindow = 7 * time.Minute }, "truth window: 7m0s does not divide an hour in whole parts of 1s or more"},
		{"retention", func(c *Config) { c.TruthRetention = time.Second }, "truth retention: 1s is shorter than the truth window 1m0s"},
		{"time scale NaN", func(c *Config) { c.TimeScale = math.NaN() }, "time scale: NaN is not in (0, 1000]"},
		{"time scale +Inf", func(c *Config) { c.TimeScale = math.Inf(1) }, "time scale: +Inf is not in (0, 1000]"},
		{"time scale -Inf", func(c *Config) { c.TimeScale = math.Inf(-1) }, "time scale: -Inf is not in (0, 1000]"},
		{"time scale negative", func(c *Config) { c.TimeScale = -0.5 }, "time scale: -0.5 is not in (0, 1000]"},
		{"time scale too large", func(c *Config) { c.TimeScale = 1000.5 }, "time scale: 1000.5 is not in (0, 1000]"},
		{"time scale largest", func(c *Config) { c.TimeScale = 1000 }, ""},
		{"time scale zero is the default", func(c *Config) { c.TimeScale = 0 }, ""},
		{"two problems", func(c *Config) { c.Machines, c.RecordLimit = -2, -1 }, "machines: -2 is not 0..100000\nrecord limit: -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := New(Config{Machines: -1}); err == nil || err.Error() != "validate simulator config: machines: -1 is not 0..100000" {
		t.Errorf("New error %v", err)
	}
}

func TestParseShifts(t *testing.T) {
	tests := []struct {
		in      string
		want    []Shift
		wantErr string
	}{
		{"08:00-14:00,14:00-20:00", DefaultShifts(), ""},
		{"00:00-24:00", []Shift{{0, 24 * time.Hour}}, ""},
		{" 22:30-06:00 ", []Shift{{22*time.Hour + 30*time.Minute, 6 * time.Hour}}, ""},
		{"8-14", nil, `parse shift "8-14": invalid time of day "8"`},
		{"08:00", nil, `parse shift "08:00": want HH:MM-HH:MM`},
		{"24:00-02:00", nil, `parse shift "24:00-02:00": start 24:00 is not a time of day`},
		{"08:60-09:00", nil, `parse shift "08:60-09:00": invalid time of day "08:60"`},
	}
	for _, tt := range tests {
		got, err := ParseShifts(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseShifts(%q) = %v, %q; want %v, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
		}
		if err == nil && strings.TrimSpace(tt.in) != FormatShifts(got) {
			t.Errorf("FormatShifts(%v) = %q, want %q", got, FormatShifts(got), tt.in)
		}
	}
}

func TestCalendar(t *testing.T) {
	day := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, shanghai) }
	tests := []struct {
		name    string
		shifts  []Shift
		at      time.Time
		working bool
		until   time.Time
	}{
		{"before the day shifts", DefaultShifts(), day(7, 0), false, day(8, 0)},
		{"in touching shifts", DefaultShifts(), day(13, 0), true, day(20, 0)},
		{"at the end", DefaultShifts(), day(20, 0), false, day(32, 0)},
		{"night shift before midnight", []Shift{{22 * time.Hour, 6 * time.Hour}}, day(23, 0), true, day(30, 0)},
		{"night shift after midnight", []Shift{{22 * time.Hour, 6 * time.Hour}}, day(5, 59), true, day(6, 0)},
		{"around the clock", []Shift{{0, 24 * time.Hour}}, day(12, 0), true, day(60, 0)},
		{"no shifts", []Shift{}, day(12, 0), false, day(60, 0)},
	}
	for _, tt := range tests {
		c := calendar{shifts: tt.shifts, loc: shanghai}
		working, until := c.at(tt.at)
		if working != tt.working || !until.Equal(tt.until) {
			t.Errorf("%s: at(%v) = %v, %v; want %v, %v", tt.name, tt.at, working, until, tt.working, tt.until)
		}
	}
}

func TestTruthWindowErrors(t *testing.T) {
	s := mustNew(t, Config{Machines: 1, Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	for _, w := range []time.Duration{30 * time.Second, 90 * time.Second, 7 * time.Hour} {
		_, err := s.Truth(w)
		want := "aggregate truth into " + w.String() + " windows: want a multiple of 1m0s that divides a day"
		if err == nil || err.Error() != want {
			t.Errorf("Truth(%v) error %v, want %q", w, err, want)
		}
	}
	if wins, err := s.Truth(time.Minute); err != nil || len(wins) != 0 {
		t.Errorf("Truth(1m) before a step = %v, %v; want no windows", wins, err)
	}
	s.Step(time.Date(2026, 3, 2, 9, 0, 1, 0, time.UTC))
	wins, err := s.Truth(24 * time.Hour)
	if err != nil || len(wins) != 1 || !wins[0].Start.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, shanghai)) || wins[0].Covered != time.Second {
		t.Errorf("Truth(24h) = %v, %v; want one window from local midnight covering 1s", wins, err)
	}
}

func BenchmarkStep(b *testing.B) {
	for _, n := range []struct{ machines, meters int }{{4, 3}, {1000, 100}} {
		b.Run(strconv.Itoa(n.machines)+"machines", func(b *testing.B) {
			start := time.Date(2026, 3, 2, 9, 0, 0, 0, shanghai)
			s := mustNew(b, Config{Machines: n.machines, EnergyMeters: n.meters / 2, WaterMeters: n.meters - n.meters/2,
				Start: start, Shifts: []Shift{{0, 24 * time.Hour}}, MQTTQueue: 1})
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				s.Step(start.Add(time.Duration(i+1) * time.Second))
			}
			b.ReportMetric(float64(s.Stats().NodeChanges)/float64(b.N), "changes/step")
		})
	}
}
