package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/backend"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var (
	cst = time.FixedZone("CST", 8*3600)
	day = time.Date(2024, 5, 1, 0, 0, 0, 0, cst)
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"30d", 30 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"6h", 6 * time.Hour, ""},
		{"90s", 90 * time.Second, ""},
		{"d", 0, `invalid duration "d"`},
		{"-1d", 0, `invalid duration "-1d"`},
		{"1dx", 0, `invalid duration "1dx"`},
		{"", 0, `invalid duration ""`},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
	for d, want := range map[time.Duration]string{24 * time.Hour: "1d", 48 * time.Hour: "2d", 6 * time.Hour: "6h0m0s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWindowGrid(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	spring := time.Date(2024, 3, 31, 0, 0, 0, 0, berlin) // 23-hour day
	tests := []struct {
		name     string
		g        windowGrid
		from, to time.Time
		want     int
	}{
		{"hours of a day", windowGrid{time.Hour, cst}, day, day.Add(24 * time.Hour), 24},
		{"minutes of 6h", windowGrid{time.Minute, cst}, day.Add(6 * time.Hour), day.Add(12 * time.Hour), 360},
		{"days of May", windowGrid{24 * time.Hour, cst}, day, day.AddDate(0, 1, 0), 31},
		{"partial first hour", windowGrid{time.Hour, cst}, day.Add(30 * time.Minute), day.Add(3 * time.Hour), 2},
		{"15m over two days", windowGrid{15 * time.Minute, cst}, day.Add(23 * time.Hour), day.Add(25 * time.Hour), 8},
		{"spring-forward hours", windowGrid{time.Hour, berlin}, spring, spring.AddDate(0, 0, 1), 23},
		{"spring-forward day", windowGrid{24 * time.Hour, berlin}, spring, spring.AddDate(0, 0, 1), 1},
	}
	for _, tt := range tests {
		if got := tt.g.count(tt.from, tt.to); got != tt.want {
			t.Errorf("%s: count = %d, want %d", tt.name, got, tt.want)
		}
	}
	g := windowGrid{time.Hour, cst}
	if !g.aligned(day.Add(5*time.Hour)) || g.aligned(day.Add(5*time.Hour+time.Second)) {
		t.Error("aligned")
	}
	if got := g.floor(day.Add(5*time.Hour + 59*time.Minute)); !got.Equal(day.Add(5 * time.Hour)) {
		t.Errorf("floor = %v", got)
	}
	g = windowGrid{24 * time.Hour, cst}
	if got := g.floor(day.Add(-time.Minute)); !got.Equal(day.AddDate(0, 0, -1)) {
		t.Errorf("day floor = %v", got)
	}
}

const testRegistry = `regions:
  - {code: "360000", name: 江西省, baseline: {year: 2020, energy_kgce_per_10k_yuan: 400, water_m3_per_10k_yuan: 10}}
  - {code: "360100", name: 南昌市}
parks: [{id: p1, name: 园区, region: "360100", designated_base: true}]
enterprises: [{id: 91360100MA35HT001T, name: 甲, park: p1, smart_equipment_maker: true, vendors: [jia]}]
workshops: [{id: w1, name: 一, enterprise: 91360100MA35HT001T}]
`

type fixture struct {
	svc *Service
	reg *prometheus.Registry
	now time.Time
	mu  sync.Mutex
	vm  *testsrv.Victoria
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t *testing.T, ttl time.Duration) *fixture {
	t.Helper()
	f := &fixture{now: day.Add(24*time.Hour + 5*time.Minute), reg: prometheus.NewRegistry()}
	f.vm = testsrv.StartVictoria(t)
	var b strings.Builder
	for h := 0; h < 24; h++ {
		fmt.Fprintf(&b, "workshop_kpi,region=360100,window=1h,workshop=w1 equipment_total=10,equipment_key=5,equipment_cnc_key=4,"+
			"equipment_digital=8,equipment_networked=8,smart_equipment_in_service=2,parts=10,output_value_yuan=1000,energy_kwh=100,energy_kgce=12.29 %d\n",
			day.Add(time.Duration(h)*time.Hour).UnixNano())
	}
	fmt.Fprintf(&b, "device_kpi,device=d1,vendor=jia,window=1h,workshop=w1 idle_s=10 %d\n", day.UnixNano())
	resp, err := http.Post(f.vm.URL+"/api/v2/write", "text/plain", strings.NewReader(b.String()))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("write: %v %v", err, resp)
	}
	resp.Body.Close()
	f.vm.Flush()
	reg, err := registry.Parse("r.yaml", []byte(testRegistry), func(n string) (string, []byte, error) { return n, nil, os.ErrNotExist })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	be, err := backend.NewPromQL(backend.PromQLConfig{URL: f.vm.URL, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = New(be, registry.NewStore("r.yaml", reg, log), rules.Default(), Options{Window: "1h", WindowSize: time.Hour,
		Location: cst, CacheTTL: ttl, CacheEntries: 2, MaxBuckets: 48, Now: f.clock}, NewMetrics(f.reg), log)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCheckPeriod(t *testing.T) {
	s, err := New(nil, nil, rules.Default(), Options{Window: "1h", WindowSize: time.Hour, Location: cst, MaxBuckets: 48,
		MaxRange: 10 * 24 * time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		p    Period
		want string
	}{
		{Period{From: day, To: day.Add(24 * time.Hour)}, ""},
		{Period{From: day, To: day.Add(24 * time.Hour), Step: time.Hour}, ""},
		{Period{From: day, To: day}, "from 2024-05-01T00:00:00+08:00 is not before to 2024-05-01T00:00:00+08:00"},
		{Period{From: day, To: day.AddDate(0, 0, 11)}, "range 11d is longer than 10d"},
		{Period{From: day.Add(time.Minute), To: day.Add(time.Hour)}, "from 2024-05-01T00:01:00+08:00 is not on a 1h window boundary"},
		{Period{From: day, To: day.Add(90 * time.Minute)}, "to 2024-05-01T01:30:00+08:00 is not on a 1h window boundary"},
		{Period{From: day, To: day.Add(2 * time.Hour), Step: 30 * time.Minute}, "step 30m0s is not a multiple of the 1h window"},
		{Period{From: day, To: day.Add(5 * time.Hour), Step: 2 * time.Hour}, "step 2h0m0s does not divide the range 5h0m0s"},
		{Period{From: day, To: day.AddDate(0, 0, 3), Step: time.Hour}, "72 buckets, at most 48"},
		{Period{From: day, To: day.Add(time.Hour), Step: -time.Hour}, "negative step"},
	}
	for _, tt := range tests {
		err := s.CheckPeriod(tt.p)
		got := ""
		if err != nil {
			got = err.Error()
			if !IsPeriodError(err) {
				t.Errorf("%v is not a PeriodError", err)
			}
		}
		if got != tt.want {
			t.Errorf("CheckPeriod(%v) = %q, want %q", tt.p, got, tt.want)
		}
	}
	_, err = New(nil, nil, rules.Default(), Options{Window: "7h", WindowSize: 7 * time.Hour}, nil, nil)
	if err == nil || err.Error() != `new aggregator service: window "7h" (7h0m0s) must divide a day` {
		t.Errorf("New with 7h window: %v", err)
	}
}

func TestSnapshotCache(t *testing.T) {
	f := newFixture(t, time.Minute)
	ctx := context.Background()
	p := Period{From: day, To: day.Add(24 * time.Hour)}
	a, err := f.svc.Snapshot(ctx, p, true)
	if err != nil {
		t.Fatal(err)
	}
	s := a.Shops[0]["w1"]
	if a.Expected[0] != 24 || s.Windows != 24 || s.Parts != 240 || s.EquipmentCNCKey != 4 || s.Networked != 192 ||
		s.SmartInService != 2 || a.Vendors["jia"] != 10 {
		t.Fatalf("snapshot = %+v %+v %v", a, s, a.Vendors)
	}
	b, _ := f.svc.Snapshot(ctx, p, true)
	if b != a {
		t.Error("second snapshot not from the cache")
	}
	f.advance(61 * time.Second)
	c, _ := f.svc.Snapshot(ctx, p, true)
	if c == a {
		t.Error("expired snapshot served")
	}
	// Two more periods evict the oldest entry (2 entries at most).
	for h := 1; h <= 2; h++ {
		if _, err := f.svc.Snapshot(ctx, Period{From: day, To: day.Add(time.Duration(h) * time.Hour)}, false); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := f.svc.Snapshot(ctx, p, true); d == c {
		t.Error("evicted snapshot served")
	}
	if hits, misses := testutil.ToFloat64(f.svc.m.cacheHits), testutil.ToFloat64(f.svc.m.cacheMisses); hits != 1 || misses != 5 {
		t.Errorf("cache hits %v misses %v, want 1 and 5", hits, misses)
	}
	// Concurrent requests for one period share a fetch.
	var wg sync.WaitGroup
	snaps := make([]*Snapshot, 8)
	p2 := Period{From: day.Add(time.Hour), To: day.Add(3 * time.Hour)}
	for i := range snaps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snaps[i], _ = f.svc.Snapshot(ctx, p2, false)
		}()
	}
	wg.Wait()
	for _, sn := range snaps {
		if sn != snaps[0] || sn == nil {
			t.Fatal("concurrent snapshots differ")
		}
	}
	if _, err := f.svc.Snapshot(ctx, Period{From: day, To: day.Add(30 * time.Minute)}, false); !IsPeriodError(err) {
		t.Errorf("unaligned period: %v", err)
	}
}

func TestWriteBack(t *testing.T) {
	f := newFixture(t, 0)
	// A server that refuses writes: the round fails and is counted.
	bad, _ := NewWriter(WriterConfig{URL: f.vm.URL + "/nothing-here", Bucket: "b"})
	if err := f.svc.WriteBackOnce(context.Background(), bad, 24*time.Hour); err == nil ||
		!strings.HasPrefix(err.Error(), "write back: status 4") {
		t.Errorf("bad writer: %v", err)
	}
	w, err := NewWriter(WriterConfig{URL: f.vm.URL, Bucket: "ganlink", Token: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.RunWriteBack(ctx, w, time.Hour, 24*time.Hour) }()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(f.svc.m.wbPoints) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(f.svc.m.wbPoints); n != 5 { // 2 regions × 2 + 1 workshop_info
		t.Errorf("points written %v, want 5", n)
	}
	if n := testutil.ToFloat64(f.svc.m.wbErrors); n != 1 {
		t.Errorf("errors %v, want 1", n)
	}
	var keys []string
	for _, s := range f.vm.Export(`{__name__=~"region_kpi_.*|programme_progress_.*",region="360100"}`) {
		keys = append(keys, s.Key())
	}
	ts := day.Add(24 * time.Hour).UnixMilli()
	want := []string{}
	for _, kv := range []string{"cnc_rate=0.8", "energy_intensity_change=-0.69275", "energy_intensity_change_target=-0.18",
		"energy_kgce_per_10k_yuan=122.9", "energy_kwh=2400", "energy_target_met=1", "energy_tce=0.29496",
		"equipment_cnc_key=4", "equipment_digital=8", "equipment_key=5", "equipment_total=10", "networked_rate=1",
		"output_value_yuan=24000", "parts=240", "smart_equipment_in_service=2", "suspect=0", "water_intensity_change_target=-0.1",
		"workshops=1", "workshops_reporting=1"} {
		k, v, _ := strings.Cut(kv, "=")
		want = append(want, fmt.Sprintf("region_kpi_%s{level=city,region=360100} %d=%s", k, ts, v))
	}
	for _, kv := range []string{"digital_workshops=1", "smart_bases=0", "smart_equipment_makers=1", "smart_equipment=2"} {
		k, v, _ := strings.Cut(kv, "=")
		want = append(want, fmt.Sprintf("programme_progress_%s{level=city,region=360100} %d=%s", k, ts, v))
	}
	got := map[string]bool{}
	for _, k := range keys {
		got[k] = true
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("missing %s", k)
		}
	}
	if len(keys) != len(want) {
		t.Errorf("written %d series for 360100, want %d:\n%s", len(keys), len(want), strings.Join(keys, "\n"))
	}
	// The province has the baseline and the targets.
	var prov []string
	for _, s := range f.vm.Export(`{__name__=~"region_kpi_.*change.*|region_kpi_.*met|programme_progress_.*target",region="360000"}`) {
		prov = append(prov, strings.SplitN(s.Key(), "{", 2)[0]+"="+fmt.Sprint(s.Value))
	}
	sort.Strings(prov)
	wantProv := "programme_progress_digital_workshops_target=1000 programme_progress_smart_bases_target=10 " +
		"programme_progress_smart_equipment_makers_target=100 programme_progress_smart_equipment_target=10000 " +
		"region_kpi_energy_intensity_change=-0.69275 region_kpi_energy_intensity_change_target=-0.18 " +
		"region_kpi_energy_target_met=1 region_kpi_water_intensity_change_target=-0.1"
	if strings.Join(prov, " ") != wantProv {
		t.Errorf("province:\n%s\nwant\n%s", strings.Join(prov, " "), wantProv)
	}
	if problems, err := testutil.GatherAndLint(f.reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

func TestKPIFields(t *testing.T) {
	rc := rules.Default()
	k := rc.Rollup(nil)
	got := KPIFields(&k)
	want := []point.Field{{Key: "workshops"}, {Key: "workshops_reporting"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("empty KPI fields = %v", got)
	}
}

// TestSnapshotCachePoints: the cache holds at most 2 × MaxPoints per-workshop points in
// all, evicting the entry expiring first, and a period over MaxPoints is refused.
func TestSnapshotCachePoints(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.svc.opt.MaxPoints, f.svc.opt.CacheEntries = 24, 64 // one workshop: 24 buckets at most, 48 points cached
	ctx := context.Background()
	a1, err := f.svc.Snapshot(ctx, Period{From: day, To: day.Add(24 * time.Hour), Step: time.Hour}, false) // 24 points
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := f.svc.Snapshot(ctx, Period{From: day, To: day.Add(24 * time.Hour), Step: 2 * time.Hour}, false) // 12
	if f.svc.cachePoints != 36 || len(f.svc.cache) != 2 {
		t.Fatalf("cache: %d points in %d entries, want 36 in 2", f.svc.cachePoints, len(f.svc.cache))
	}
	c1, _ := f.svc.Snapshot(ctx, Period{From: day.Add(time.Hour), To: day.Add(25 * time.Hour), Step: time.Hour}, false) // 24: a1 goes
	if f.svc.cachePoints != 36 || len(f.svc.cache) != 2 || c1 == nil {
		t.Fatalf("cache: %d points in %d entries, want 36 in 2", f.svc.cachePoints, len(f.svc.cache))
	}
	if a2, _ := f.svc.Snapshot(ctx, Period{From: day, To: day.Add(24 * time.Hour), Step: time.Hour}, false); a2 == a1 {
		t.Error("evicted snapshot served")
	}
	// 36 + 24 > 48 dropped the entry expiring first (b1, older on the tie); 24 + 24 fits.
	if f.svc.cachePoints != 48 || len(f.svc.cache) != 2 {
		t.Errorf("cache: %d points in %d entries, want 48 in 2", f.svc.cachePoints, len(f.svc.cache))
	}
	if b2, _ := f.svc.Snapshot(ctx, Period{From: day, To: day.Add(24 * time.Hour), Step: 2 * time.Hour}, false); b2 == b1 {
		t.Error("evicted snapshot served")
	}
	_, err = f.svc.Snapshot(ctx, Period{From: day, To: day.Add(25 * time.Hour), Step: time.Hour}, false)
	var te *TooManyPointsError
	if !errors.As(err, &te) || !IsPeriodError(err) || err.Error() != "the period would read 25 points from the time-series database "+
		"(1 registered workshops × 25 buckets), at most 24: raise step or shorten the period" {
		t.Errorf("25 buckets: %v", err)
	}
}
