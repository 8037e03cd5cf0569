package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// The checked-in dashboards as the test reads them (only what it needs).
type dashFile struct {
	Title      string      `json:"title"`
	Panels     []dashPanel `json:"panels"`
	Templating struct {
		List []dashVar `json:"list"`
	} `json:"templating"`
}

type dashPanel struct {
	ID         int          `json:"id"`
	Type       string       `json:"type"`
	Title      string       `json:"title"`
	Interval   string       `json:"interval"`
	Datasource *dsRef       `json:"datasource"`
	Targets    []dashTarget `json:"targets"`
	Panels     []dashPanel  `json:"panels"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashTarget struct {
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`
	Instant    bool   `json:"instant"`
	Range      bool   `json:"range"`
	Datasource *dsRef `json:"datasource"`
}

type dashVar struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Query      string `json:"query"`
	Regex      string `json:"regex"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
	Datasource *dsRef `json:"datasource"`
}

func loadDashboards(t *testing.T) map[string]*dashFile {
	t.Helper()
	out := map[string]*dashFile{}
	for _, name := range []string{"workshop.json", "park.json", "enterprise.json", "province.json", "fleet.json"} {
		data, err := os.ReadFile(filepath.Join("..", "dashboards", name))
		if err != nil {
			t.Fatal(err)
		}
		var d dashFile
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = &d
	}
	return out
}

// allPanels flattens rows.
func (d *dashFile) allPanels() []dashPanel {
	var out []dashPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// promSeries is one result series: its labels and finite values.
type promSeries struct {
	Labels map[string]string
	Values map[int64]float64 // unix seconds → value
}

func vmGet(t *testing.T, base, path string, params url.Values) json.RawMessage {
	t.Helper()
	resp, err := http.Get(base + path + "?" + params.Encode())
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 200 || r.Status != "success" {
		t.Fatalf("GET %s %v: status %d: %s", path, params, resp.StatusCode, body)
	}
	return r.Data
}

// promQuery runs an instant query at end, or a range query over [start, end], against
// VictoriaMetrics' Prometheus API.
func promQuery(t *testing.T, base string, expr string, instant bool, start, end time.Time, step time.Duration) []promSeries {
	t.Helper()
	var raw json.RawMessage
	if instant {
		raw = vmGet(t, base, "/api/v1/query", url.Values{"query": {expr}, "time": {unix(end)}})
	} else {
		raw = vmGet(t, base, "/api/v1/query_range", url.Values{"query": {expr}, "start": {unix(start)},
			"end": {unix(end)}, "step": {strconv.Itoa(int(step.Seconds()))}})
	}
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatalf("decode result of %s: %v", expr, err)
	}
	var out []promSeries
	for _, r := range data.Result {
		s := promSeries{Labels: r.Metric, Values: map[int64]float64{}}
		samples := r.Values
		if r.Value != nil {
			samples = [][]any{r.Value}
		}
		for _, sm := range samples {
			v, err := strconv.ParseFloat(sm[1].(string), 64)
			if err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
				s.Values[int64(sm[0].(float64))] = v
			}
		}
		out = append(out, s)
	}
	return out
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// labelValues is Grafana's label_values(selector, label) variable query.
func labelValues(t *testing.T, base, query string, start, end time.Time) []string {
	t.Helper()
	if expr, ok := strings.CutPrefix(query, "query_result("); ok {
		return queryResult(t, base, strings.TrimSuffix(expr, ")"), start, end)
	}
	m := regexp.MustCompile(`^label_values\((?:(.*),\s*)?(\w+)\)$`).FindStringSubmatch(query)
	if m == nil {
		t.Fatalf("variable query %q is not label_values(selector, label)", query)
	}
	params := url.Values{"start": {unix(start)}, "end": {unix(end)}}
	if m[1] != "" {
		params.Set("match[]", m[1])
	}
	var values []string
	if err := json.Unmarshal(vmGet(t, base, "/api/v1/label/"+m[2]+"/values", params), &values); err != nil {
		t.Fatal(err)
	}
	return values
}

// queryResult runs a query_result(expr) variable query as Grafana does: an instant
// query at the range's end ($__range the whole range), each series as
// `name{label="value", ...} value timestamp`, labels sorted.
func queryResult(t *testing.T, base, expr string, start, end time.Time) []string {
	t.Helper()
	expr = strings.ReplaceAll(expr, "$__range", fmt.Sprintf("%ds", int(end.Sub(start).Seconds())))
	var out []string
	for _, r := range promQuery(t, base, expr, true, start, end, time.Minute) {
		keys := make([]string, 0, len(r.Labels))
		for k := range r.Labels {
			if k != "__name__" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%q", k, r.Labels[k]))
		}
		out = append(out, r.Labels["__name__"]+"{"+strings.Join(parts, ", ")+"} 1 "+unix(end))
	}
	return out
}

// applyVarRegex filters and rewrites values as Grafana does with a variable's regex:
// the named groups "value" and "text", else the first group, else the whole match.
func applyVarRegex(t *testing.T, re string, values []string) []string {
	t.Helper()
	if re == "" {
		return values
	}
	rx, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(re, "/"), "/"))
	if err != nil {
		t.Fatalf("variable regex %q: %v", re, err)
	}
	var out []string
	for _, v := range values {
		m := rx.FindStringSubmatch(v)
		switch {
		case m == nil:
			continue
		case rx.SubexpIndex("value") > 0:
			out = append(out, m[rx.SubexpIndex("value")])
		case len(m) > 1:
			out = append(out, m[1])
		default:
			out = append(out, m[0])
		}
	}
	return out
}

var varRef = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// interpolate replaces $name and ${name} as Grafana does for the Prometheus datasource.
func interpolate(s string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := strings.Trim(ref, "${}")
		if v, ok := vars[name]; ok {
			return v
		}
		return ref
	})
}

// scenario is one assignment of every dashboard variable.
type scenario map[string]string

func (s scenario) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		if !strings.HasPrefix(k, "__") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+s[k])
	}
	return strings.Join(parts, ",")
}

// wantValue is the simulated entity every query variable must offer and the test picks.
var wantValue = map[string]string{
	"enterprise": testEnterprise,
	"region":     testRegion,
	"park":       testPark,
	"workshop":   testWorkshop,
	"province":   testProvince[:2],
	"city":       testRegion,
}

// untestable are custom variable values no short simulation can fill, with why.
var untestable = map[string]map[string]string{
	"window": {"1d": "a 1d window is written after its day ends; the simulation spans minutes"},
}

// scenarios resolves the dashboard's variables in order against VictoriaMetrics: every
// query variable must list the simulated entity (a multi-value variable with "All" is
// substituted as Grafana does for All, every value it lists); each testable option of a
// custom variable gives a scenario of its own.
func scenarios(t *testing.T, base string, d *dashFile, start, end time.Time) []scenario {
	t.Helper()
	out := []scenario{{}}
	for _, v := range d.Templating.List {
		var next []scenario
		for _, sc := range out {
			switch v.Type {
			case "query":
				if v.Datasource == nil || v.Datasource.UID != VictoriaUID {
					t.Fatalf("%s: variable %s does not query %s", d.Title, v.Name, VictoriaUID)
				}
				q := interpolate(v.Query, sc)
				values := applyVarRegex(t, v.Regex, labelValues(t, base, q, start, end))
				want, ok := wantValue[v.Name]
				if !ok {
					t.Fatalf("%s: no expected value for variable %s", d.Title, v.Name)
				}
				if !slices.Contains(values, want) {
					t.Fatalf("%s: variable %s (%s) lists %q, want it to include %q", d.Title, v.Name, q, values, want)
				}
				val := want
				if v.Multi && v.IncludeAll {
					val = v.AllValue
					if val == "" {
						esc := make([]string, len(values))
						for i, x := range values {
							esc[i] = regexp.QuoteMeta(x)
						}
						val = "(" + strings.Join(esc, "|") + ")"
					}
				}
				next = append(next, with(sc, v.Name, val))
			case "custom":
				for _, o := range strings.Split(v.Query, ",") {
					o = strings.TrimSpace(o)
					if _, skip := untestable[v.Name][o]; skip {
						continue
					}
					next = append(next, with(sc, v.Name, o))
				}
			default:
				t.Fatalf("%s: variable %s of type %q is not handled", d.Title, v.Name, v.Type)
			}
		}
		out = next
	}
	return out
}

func with(s scenario, k, v string) scenario {
	n := scenario{k: v}
	for a, b := range s {
		n[a] = b
	}
	return n
}

// rangeVars are Grafana's built-in variables for a time range.
func rangeVars(sc scenario, start, end time.Time, step time.Duration) scenario {
	r := end.Sub(start)
	sc = with(sc, "__range", fmt.Sprintf("%ds", int(r.Seconds())))
	sc["__range_s"] = strconv.Itoa(int(r.Seconds()))
	sc["__range_ms"] = strconv.FormatInt(r.Milliseconds(), 10)
	sc["__interval"] = fmt.Sprintf("%ds", int(step.Seconds()))
	sc["__rate_interval"] = fmt.Sprintf("%ds", int(4*step.Seconds()))
	return sc
}

// TestDashboardQueries runs every query of every dashboard, with its variables set to
// the simulated entities, against VictoriaMetrics filled by a simulated workshop, its
// gateway and the aggregator's write-back, and requires data from each. The simulation
// crosses an hour boundary so that 1h windows are written too.
func TestDashboardQueries(t *testing.T) {
	hour := time.Now().Add(-10 * time.Minute).Truncate(time.Hour)
	start := hour.Add(-2 * time.Minute)
	s := startStack(t, start)
	time.Sleep(500 * time.Millisecond) // subscriptions settle
	// To hour + 2m40s: closes the 1m windows up to hour + 2m and the 1h window before
	// hour (30 s lateness); the aggregator then sees two complete 1m windows.
	s.step(4*60+40, 60*time.Millisecond)
	end := s.now()

	// Grafana's time range: from before the first 1h window to the simulated now.
	from := hour.Add(-time.Hour - time.Minute)
	ready := func() string {
		for _, c := range []struct {
			selector string
			minTime  time.Time
			positive bool
		}{
			{`workshop_kpi_equipment_total{window="1h"}`, hour.Add(-time.Hour), false},
			{`device_kpi_running_s{window="1m"}`, hour.Add(time.Minute), false},
			{fmt.Sprintf(`region_kpi_workshops_reporting{region=%q}`, testProvince), hour.Add(time.Minute), true},
			{fmt.Sprintf(`workshop_benchmark_energy_leader{workshop=%q}`, testWorkshop), hour.Add(time.Minute), true},
			{fmt.Sprintf(`workshop_benchmark_water_leader{workshop=%q}`, testWorkshop), hour.Add(time.Minute), true},
		} {
			found := false
			for _, smp := range s.vm.Export(c.selector) {
				if smp.Timestamp >= c.minTime.UnixMilli() && (!c.positive || smp.Value > 0) {
					found = true
				}
			}
			if !found {
				return c.selector
			}
		}
		return ""
	}
	deadline := time.Now().Add(20 * time.Second)
	for msg := ready(); msg != ""; msg = ready() {
		if time.Now().After(deadline) {
			t.Fatalf("no data yet for %s", msg)
		}
		time.Sleep(250 * time.Millisecond)
	}

	dashboards := loadDashboards(t)
	names := make([]string, 0, len(dashboards))
	for n := range dashboards {
		names = append(names, n)
	}
	sort.Strings(names)
	total := 0
	for _, name := range names {
		d := dashboards[name]
		for _, sc := range scenarios(t, s.vm.URL, d, from, end) {
			for _, p := range d.allPanels() {
				for _, tg := range p.Targets {
					step := time.Minute
					if p.Interval != "" {
						iv, err := time.ParseDuration(p.Interval)
						if err != nil {
							t.Fatalf("%s panel %q: interval %q: %v", name, p.Title, p.Interval, err)
						}
						step = max(step, iv)
					}
					qStart := from.Truncate(step) // Grafana aligns range queries to the step
					expr := interpolate(tg.Expr, rangeVars(sc, from, end, step))
					if strings.Contains(expr, "$") {
						t.Errorf("%s panel %q %s: unresolved variable in %s", name, p.Title, tg.RefID, expr)
						continue
					}
					res := promQuery(t, s.vm.URL, expr, tg.Instant, qStart, end, step)
					n := 0
					for _, r := range res {
						n += len(r.Values)
					}
					total++
					if n == 0 {
						t.Errorf("%s [%s] panel %q query %s returned no data:\n%s", name, sc, p.Title, tg.RefID, expr)
					}
				}
			}
		}
	}
	t.Logf("%d queries returned data", total)

	checkStateTimeline(t, s, dashboards["workshop.json"], start, hour.Add(time.Minute))
}

// checkStateTimeline compares the machine-state timeline with the dominant state
// computed from the exported device_kpi state seconds, for every device and 1m window
// in [from, to].
func checkStateTimeline(t *testing.T, s *stack, d *dashFile, from, to time.Time) {
	t.Helper()
	var expr string
	for _, p := range d.allPanels() {
		if p.Type == "state-timeline" {
			expr = p.Targets[0].Expr
		}
	}
	if expr == "" {
		t.Fatal("workshop dashboard has no state timeline")
	}
	// Expected: per device and window start, the state code with the most seconds,
	// ties broken in the documented priority order.
	seconds := map[string]map[int64]map[string]float64{}
	for _, smp := range s.vm.Export(fmt.Sprintf(`{__name__=~"device_kpi_.*_s",window="1m",workshop=%q,kind="cnc"}`, testWorkshop)) {
		ts := smp.Timestamp / 1000
		if ts < from.Unix() || ts > to.Unix() {
			continue
		}
		dev := smp.Labels["device"]
		if seconds[dev] == nil {
			seconds[dev] = map[int64]map[string]float64{}
		}
		if seconds[dev][ts] == nil {
			seconds[dev][ts] = map[string]float64{}
		}
		seconds[dev][ts][strings.TrimPrefix(smp.Labels["__name__"], "device_kpi_")] = smp.Value
	}
	want := map[string]float64{}
	for dev, byTS := range seconds {
		for ts, f := range byTS {
			best, code := -1.0, -1
			for _, st := range states {
				if v, ok := f[st.field]; ok && v > best {
					best, code = v, st.code
				}
			}
			want[fmt.Sprintf("%s@%d", dev, ts)] = float64(code)
		}
	}
	if len(want) < 3*3 {
		t.Fatalf("only %d device windows exported", len(want))
	}
	sc := scenario{"region": testRegion, "park": testPark, "workshop": testWorkshop}
	got := map[string]float64{}
	for _, r := range promQuery(t, s.vm.URL, interpolate(expr, sc), false, from, to, time.Minute) {
		for ts, v := range r.Values {
			got[fmt.Sprintf("%s@%d", r.Labels["device"], ts)] = v
		}
	}
	codes := map[float64]int{}
	for k, w := range want {
		codes[w]++
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("state timeline %s: got %v (present %v), want %v", k, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("state timeline has %d device windows, want %d", len(got), len(want))
	}
	t.Logf("state timeline: %d device windows, codes %v", len(want), codes)
}

// TestStateTimelineOnVictoria runs the workshop dashboard's machine-state query on
// VictoriaMetrics over one 1m window of device_kpi state seconds per case: the state
// with the most seconds wins, ties go to the state first in priority order, unknown
// only when it alone is largest, and meters are left out.
func TestStateTimelineOnVictoria(t *testing.T) {
	vm := testsrv.StartVictoria(t)
	ts := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		device, kind, seconds string
		want                  float64 // -1: absent
	}{
		{"running", "cnc", "running_s=40,idle_s=20", 4},
		{"idle", "cnc", "running_s=10,idle_s=50", 5},
		{"setup", "cnc", "setup_s=31,running_s=29", 3},
		{"alarm", "machine", "alarm_s=45,idle_s=15", 2},
		{"offline", "robot", "offline_s=60", 1},
		{"unknown", "cnc", "unknown_s=35,running_s=25", 0},
		{"tie-running-idle", "cnc", "running_s=30,idle_s=30", 4},
		{"tie-offline-alarm-running", "cnc", "offline_s=20,alarm_s=20,running_s=20", 1},
		{"tie-setup-running", "cnc", "setup_s=30,running_s=30", 3},
		{"tie-unknown-idle", "cnc", "unknown_s=30,idle_s=30", 5},
		{"meter", "energy_meter", "idle_s=60", -1},
	}
	var lines strings.Builder
	for _, tt := range tests {
		fmt.Fprintf(&lines, "device_kpi,device=%s,kind=%s,park=p1,region=360100,window=1m,workshop=w1 %s %d\n",
			tt.device, tt.kind, tt.seconds, ts.UnixNano())
		// Another window length and another workshop must not interfere.
		fmt.Fprintf(&lines, "device_kpi,device=%s,kind=%s,park=p1,region=360100,window=1h,workshop=w1 offline_s=3600 %d\n",
			tt.device, tt.kind, ts.UnixNano())
		fmt.Fprintf(&lines, "device_kpi,device=%s,kind=%s,park=p1,region=360100,window=1m,workshop=w2 alarm_s=60 %d\n",
			tt.device, tt.kind, ts.UnixNano())
	}
	resp, err := http.Post(vm.URL+"/api/v2/write?bucket=ganlink&precision=ns", "text/plain", strings.NewReader(lines.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("write: status %d", resp.StatusCode)
	}
	vm.Flush()

	var expr string
	for _, p := range loadDashboards(t)["workshop.json"].allPanels() {
		if p.Type == "state-timeline" {
			expr = p.Targets[0].Expr
		}
	}
	got := map[string]float64{}
	for _, r := range promQuery(t, vm.URL, interpolate(expr, scenario{"region": "360100", "park": "p1", "workshop": "w1"}),
		true, ts, ts.Add(30*time.Second), time.Minute) {
		for _, v := range r.Values {
			if _, dup := got[r.Labels["device"]]; dup {
				t.Errorf("device %s has more than one series", r.Labels["device"])
			}
			got[r.Labels["device"]] = v
		}
	}
	for _, tt := range tests {
		t.Run(tt.device, func(t *testing.T) {
			v, ok := got[tt.device]
			switch {
			case tt.want < 0 && ok:
				t.Errorf("state %v, want the device left out", v)
			case tt.want >= 0 && (!ok || v != tt.want):
				t.Errorf("state %v (present %v), want %v", v, ok, tt.want)
			}
		})
	}
}
