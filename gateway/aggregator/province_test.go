package aggregator

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/service"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The synthetic province: 江西 with three cities, six enterprises and 36 registered
// workshops of known archetypes, one day (2024-05-01, UTC+8) of hourly workshop_kpi
// windows, device_kpi points with vendors, plus noise the aggregator must ignore.

var (
	cst = time.FixedZone("CST", 8*3600)
	day = time.Date(2024, 5, 1, 0, 0, 0, 0, cst)
)

// archetype is one kind of workshop: its inventory and networking per window, the smart
// equipment in service, the hours it reported and whether it has a water meter.
type archetype struct {
	total, key, cnc, digital, networked, smart float64
	hours                                      int
	water                                      bool
}

var archetypes = map[byte]*archetype{
	'Q': {20, 10, 7, 16, 15, 3, 24, true},  // qualifies
	'C': {20, 10, 5, 16, 15, 1, 24, true},  // CNC rate 0.5
	'N': {20, 10, 7, 16, 12, 1, 24, true},  // networking rate 0.75
	'V': {20, 10, 7, 16, 15, 1, 20, true},  // coverage 20/24
	'D': {20, 10, 7, 12, 12, 1, 24, false}, // digital ratio 0.6, no water meter
	'S': nil,                               // registered, silent
}

type enterprise struct {
	key, region, park string
	maker             bool
	vendors           []string
	shops             string // archetype per workshop
}

var enterprises = []enterprise{
	{"E1", "360102", "nc-base", true, []string{"ncjg"}, "QQQCNS"},
	{"E2", "360111", "nc-base", false, nil, "QQQVDQ"},
	{"E3", "360203", "jdz-base", true, nil, "QQQQCNVD"},
	{"E4", "360400", "jj-park", true, []string{"jjzb"}, "QQQQQQCC"},
	{"E5", "360400", "", false, nil, "QVDS"},
	{"E6", "360200", "", true, []string{"cdzn"}, "QQSQ"},
}

// outputPerWindow is each city's output value per window (yuan).
var outputPerWindow = map[string]float64{"360100": 40000, "360200": 20000, "360400": 80000}

// uscc returns a valid unified social credit code for an enterprise key.
func uscc(key string) string {
	for _, e := range enterprises {
		if e.key == key {
			first := fmt.Sprintf("91%s000000%s0", e.region, key)
			c, err := registry.USCCCheck(first)
			if err != nil {
				panic(err)
			}
			return first + string(c)
		}
	}
	panic(key)
}

func writeProvince(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"registry.yaml": `regions:
  - code: "360000"
    name: 江西省
    baseline: {year: 2020, energy_kgce_per_10k_yuan: 400, water_m3_per_10k_yuan: 10}
  - code: "360100"
    name: 南昌市
    baseline: {year: 2020, energy_kgce_per_10k_yuan: 300, water_m3_per_10k_yuan: 8}
  - {code: "360102", name: 东湖区}
  - {code: "360111", name: 青山湖区}
  - {code: "360200", name: 景德镇市}
  - {code: "360203", name: 珠山区}
  - {code: "360400", name: 九江市}
parks:
  - {id: nc-base, name: 南昌智能制造基地, region: "360100", designated_base: true}
  - {id: jdz-base, name: 景德镇智能制造基地, region: "360203", designated_base: true}
  - {id: jj-park, name: 九江经开区, region: "360400"}
enterprises_csv: enterprises.csv
workshops_csv: workshops.csv
`,
	}
	var ents, shops strings.Builder
	ents.WriteString("统一社会信用代码,企业名称,行政区划代码,园区,智能装备制造商,设备厂商标识\n")
	shops.WriteString("id,name,enterprise\n")
	for _, e := range enterprises {
		fmt.Fprintf(&ents, "%s,企业%s,%s,%s,%t,%s\n", uscc(e.key), e.key, e.region, e.park, e.maker, strings.Join(e.vendors, ";"))
		for i := range e.shops {
			fmt.Fprintf(&shops, "%s-w%02d,车间%s-%d,%s\n", e.key, i+1, e.key, i+1, uscc(e.key))
		}
	}
	files["enterprises.csv"] = ents.String()
	files["workshops.csv"] = shops.String()
	hash := func(s string) string { return api.HashToken(s) }
	files["tokens.yaml"] = fmt.Sprintf(`tokens:
  - {name: province, sha256: %s, region: "360000"}
  - {name: nanchang, sha256: %s, region: "360100"}
  - {name: nowhere, sha256: %s, region: "360500"}
`, hash("tok-province"), hash("tok-nanchang"), hash("tok-nowhere"))
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func cityOf(region string) string { return region[:4] + "00" }

// provinceLines is the TSDB content in line protocol.
func provinceLines() string {
	var b strings.Builder
	shop := func(id, region, park, ent string, a *archetype, output float64) {
		tags := fmt.Sprintf("workshop_kpi,enterprise=%s,park=%s,region=%s,window=1h,workshop=%s", ent, park, region, id)
		if park == "" {
			tags = fmt.Sprintf("workshop_kpi,enterprise=%s,region=%s,window=1h,workshop=%s", ent, region, id)
		}
		for h := 0; h < a.hours; h++ {
			ts := day.Add(time.Duration(h) * time.Hour).UnixNano()
			fmt.Fprintf(&b, "%s equipment_total=%g,equipment_key=%g,equipment_cnc_key=%g,cnc_rate=%g,equipment_digital=%g,"+
				"equipment_networked=%g,networked_rate=%g,smart_equipment_in_service=%g,parts=100,output_value_yuan=%g,"+
				"energy_kwh=10000,energy_kgce=1229", tags, a.total, a.key, a.cnc, a.cnc/a.key, a.digital, a.networked,
				a.networked/a.digital, a.smart, output)
			if a.water {
				b.WriteString(",water_m3=5")
			}
			fmt.Fprintf(&b, " %d\n", ts)
		}
		// Noise: a day window and an hour window of the day before.
		fmt.Fprintf(&b, "%s equipment_total=999,parts=999999,smart_equipment_in_service=99 %d\n",
			strings.Replace(tags, "window=1h", "window=1d", 1), day.UnixNano())
		fmt.Fprintf(&b, "%s equipment_total=1,equipment_networked=0,equipment_digital=1,parts=777,smart_equipment_in_service=50 %d\n",
			tags, day.Add(-time.Hour).UnixNano())
	}
	for _, e := range enterprises {
		for i := range e.shops {
			if a := archetypes[e.shops[i]]; a != nil {
				shop(fmt.Sprintf("%s-w%02d", e.key, i+1), e.region, e.park, uscc(e.key), a, outputPerWindow[cityOf(e.region)])
			}
		}
	}
	shop("ghost-ws", "360100", "nc-base", uscc("E1"), archetypes['Q'], 40000) // not registered
	// dev writes a device_kpi point; tags is "" or ",smart=1" (tags sort before vendor).
	dev := func(shop, device, tags, vendor, field string, v float64, h int) {
		fmt.Fprintf(&b, "device_kpi,device=%s,kind=cnc,region=360100%s,vendor=%s,window=1h,workshop=%s %s=%g %d\n",
			device, tags, vendor, shop, field, v, day.Add(time.Duration(h)*time.Hour).UnixNano())
	}
	const smart = ",smart=1"
	// E2-w01 (smart_equipment_in_service 3 per window): four smart devices online (d1, d2,
	// d4, d7), so 万 counts 4 from device_kpi.
	dev("E2-w01", "d1", smart, "ncjg", "running_s", 1800, 3)   // E1 in service
	dev("E2-w01", "d2", smart, uscc("E3"), "idle_s", 600, 5)   // E3 in service (vendor = its id)
	dev("E2-w01", "d3", smart, "jjzb", "offline_s", 3600, 5)   // E4: only offline, not in service
	dev("E2-w01", "d4", smart, "cdzn", "alarm_s", 60, 23)      // E6 in service (alarm is online)
	dev("E2-w01", "d5", "", "foreign", "running_s", 3600, 1)   // not a registered maker, not smart
	dev("E2-w01", "d6", smart, "jjzb", "running_s", 3600, -2)  // E4, before the period
	dev("E2-w01", "d7", smart, "foreign", "running_s", 600, 4) // smart, online in two windows:
	dev("E2-w01", "d7", smart, "foreign", "idle_s", 600, 6)    // counts once
	// E1-w04 (smart_equipment_in_service 1 per window): two smart devices online in
	// different windows, one of them with the id of a device of E2-w01. The per-window
	// maximum is 1, the distinct devices 2.
	dev("E1-w04", "d1", smart, "foreign", "running_s", 900, 2)
	dev("E1-w04", "s2", smart, "foreign", "setup_s", 300, 10)
	dev("E1-w04", "s3", "", "foreign", "running_s", 3600, 11) // not smart
	// Noise: a smart device of E1-w04 in the day window series.
	fmt.Fprintf(&b, "device_kpi,device=s9,kind=cnc,region=360100,smart=1,vendor=foreign,window=1d,workshop=E1-w04 running_s=3600 %d\n",
		day.UnixNano())
	return b.String()
}

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write %s: %s: %s", url, resp.Status, msg)
	}
}

type client struct {
	t    testing.TB
	base string
}

func (c *client) get(token, path string) (int, http.Header, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (c *client) json(token, path string) map[string]any {
	c.t.Helper()
	code, _, b := c.get(token, path)
	if code != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return m
}

// pick returns the listed keys of each row as a comparable map.
func pick(rows any, keys ...string) []map[string]any {
	var out []map[string]any
	for _, r := range rows.([]any) {
		m := map[string]any{}
		for _, k := range keys {
			m[k] = r.(map[string]any)[k]
		}
		out = append(out, m)
	}
	return out
}

func checkRows(t *testing.T, what string, got, want []map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\ngot  %v\nwant %v", what, got, want)
	}
}

func startApp(t testing.TB, dir, backendYAML string) (*App, *client, *prometheus.Registry) {
	t.Helper()
	return startAppLog(t, dir, backendYAML, slog.New(slog.NewTextHandler(tbWriter{t}, &slog.HandlerOptions{Level: slog.LevelError})))
}

// startAppLog builds the aggregator from backendYAML (with the registry and tokens in
// dir) on a clock 10 minutes into the day after the test day, logging to log, and runs
// it until the test ends.
func startAppLog(t testing.TB, dir, backendYAML string, log *slog.Logger) (*App, *client, *prometheus.Registry) {
	t.Helper()
	cfgPath := filepath.Join(dir, "aggregator-"+fmt.Sprint(time.Now().UnixNano())+".yaml")
	if err := os.WriteFile(cfgPath, []byte(`listen: "127.0.0.1:0"
registry: registry.yaml
tokens_file: tokens.yaml
window: 1h
`+backendYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a, err := Build(cfg, log, Options{Registry: reg, Gatherer: reg,
		Now: func() time.Time { return day.Add(24*time.Hour + 10*time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return a, &client{t: t, base: "http://" + a.Addr().String()}, reg
}

// tbWriter sends the aggregator's error log to the test log.
type tbWriter struct{ t testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestProvince(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	lines := provinceLines()
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", lines)
	vm.Flush()
	in := testsrv.StartInflux(t, "ganlink")
	post(t, in.URL+"/api/v2/write?bucket=ganlink&org=x", lines)

	backends := []struct {
		name, yaml string
		check      func(t *testing.T)
	}{
		{"promql", fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL), func(t *testing.T) {
			got := vm.Export(`{__name__=~"programme_progress_.*|region_kpi_cnc_rate",region="360100"}`)
			var keys []string
			for _, s := range got {
				keys = append(keys, s.Key())
			}
			sort.Strings(keys)
			ts := day.Add(24 * time.Hour).UnixMilli()
			want := []string{
				fmt.Sprintf("programme_progress_digital_workshops{level=city,region=360100} %d=7", ts),
				fmt.Sprintf("programme_progress_smart_bases{level=city,region=360100} %d=1", ts),
				fmt.Sprintf("programme_progress_smart_equipment_makers{level=city,region=360100} %d=1", ts),
				fmt.Sprintf("programme_progress_smart_equipment{level=city,region=360100} %d=27", ts),
				fmt.Sprintf("region_kpi_cnc_rate{level=city,region=360100} %d=0.681818182", ts),
			}
			if !reflect.DeepEqual(keys, want) {
				t.Errorf("written back:\n%s\nwant\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
			}
		}},
		{"influxql", fmt.Sprintf("backend: {type: influxql, url: %q, database: ganlink}\n", in.URL), func(t *testing.T) {
			s := in.Query("ganlink", `SELECT smart_equipment, smart_equipment_target, digital_workshops, digital_workshops_target, smart_equipment_makers, smart_bases FROM programme_progress WHERE region = '360000'`)
			if len(s) != 1 || len(s[0].Values) != 1 {
				t.Fatalf("programme_progress: %+v", s)
			}
			want := []any{float64(day.Add(24 * time.Hour).UnixMilli()), 77.0, 10000.0, 21.0, 1000.0, 3.0, 1.0}
			if !reflect.DeepEqual(s[0].Values[0], want) {
				t.Errorf("programme_progress = %v, want %v", s[0].Values[0], want)
			}
			s = in.Query("ganlink", `SELECT energy_intensity_change, energy_target_met, water_intensity_change FROM region_kpi WHERE region = '360400'`)
			if len(s) != 1 || !reflect.DeepEqual(s[0].Values[0][1:], []any{-0.6159375, 1.0, -0.9375}) {
				t.Errorf("region_kpi 360400: %+v", s)
			}
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			a, c, reg := startApp(t, dir, be.yaml)
			checkProvince(t, c)
			if be.name == "promql" {
				checkAuth(t, c)
			}
			// Write-back of the day ending at the current window (the clock is 2024-05-02 00:10).
			url := vm.URL
			if be.name == "influxql" {
				url = in.URL
			}
			w, err := service.NewWriter(service.WriterConfig{URL: url, Bucket: "ganlink"})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Service().WriteBackOnce(context.Background(), w, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			be.check(t)
			problems, err := testutil.GatherAndLint(reg)
			if err != nil || len(problems) > 0 {
				t.Errorf("metrics lint: %v %+v", err, problems)
			}
			_, _, body := c.get("", "/metrics")
			for _, want := range []string{
				`ganlink_aggregator_api_requests_total{code="200",route="/api/v1/programme"}`,
				`ganlink_aggregator_backend_query_duration_seconds_count{backend="` + be.name + `",measurement="workshop_kpi"}`,
				`ganlink_aggregator_cache_hits_total`,
			} {
				if !bytes.Contains(body, []byte(want)) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

const period = "from=2024-05-01&to=2024-05-02"

func checkProvince(t *testing.T, c *client) {
	t.Run("programme", func(t *testing.T) {
		m := c.json("tok-province", "/api/v1/programme?"+period)
		progress := m["progress"].(map[string]any)
		want := map[string]any{
			"smart_equipment":        map[string]any{"value": 77.0, "target": 10000.0},
			"digital_workshops":      map[string]any{"value": 21.0, "target": 1000.0},
			"smart_equipment_makers": map[string]any{"value": 3.0, "target": 100.0},
			"smart_bases":            map[string]any{"value": 1.0, "target": 10.0},
		}
		if !reflect.DeepEqual(progress, want) {
			t.Errorf("progress = %v", progress)
		}
		if m["from"] != "2024-05-01T00:00:00+08:00" || m["to"] != "2024-05-02T00:00:00+08:00" || m["window"] != "1h" {
			t.Errorf("period = %v %v %v", m["from"], m["to"], m["window"])
		}
		checkRows(t, "regions", pick(m["regions"], "region", "smart_equipment", "digital_workshops", "smart_equipment_makers", "smart_bases", "smart_bases_target"),
			[]map[string]any{
				{"region": "360000", "smart_equipment": 77.0, "digital_workshops": 21.0, "smart_equipment_makers": 3.0, "smart_bases": 1.0, "smart_bases_target": 10.0},
				{"region": "360100", "smart_equipment": 27.0, "digital_workshops": 7.0, "smart_equipment_makers": 1.0, "smart_bases": 1.0, "smart_bases_target": nil},
				{"region": "360200", "smart_equipment": 25.0, "digital_workshops": 7.0, "smart_equipment_makers": 2.0, "smart_bases": 0.0, "smart_bases_target": nil},
				{"region": "360400", "smart_equipment": 25.0, "digital_workshops": 7.0, "smart_equipment_makers": 0.0, "smart_bases": 0.0, "smart_bases_target": nil},
			})
		checkRows(t, "makers", pick(m["makers"], "enterprise", "in_service", "vendors_in_service"), []map[string]any{
			{"enterprise": uscc("E1"), "in_service": true, "vendors_in_service": []any{"ncjg"}},
			{"enterprise": uscc("E6"), "in_service": true, "vendors_in_service": []any{"cdzn"}},
			{"enterprise": uscc("E3"), "in_service": true, "vendors_in_service": []any{uscc("E3")}},
			{"enterprise": uscc("E4"), "in_service": false, "vendors_in_service": []any{}},
		})
		checkRows(t, "bases", pick(m["bases"], "park", "digital_workshops", "qualified"), []map[string]any{
			{"park": "jdz-base", "digital_workshops": 4.0, "qualified": false},
			{"park": "nc-base", "digital_workshops": 7.0, "qualified": true},
		})
		if !reflect.DeepEqual(m["unregistered_workshops"], []any{"ghost-ws"}) {
			t.Errorf("unregistered = %v", m["unregistered_workshops"])
		}
		city := c.json("tok-nanchang", "/api/v1/programme?"+period)
		checkRows(t, "city regions", pick(city["regions"], "region", "smart_equipment", "digital_workshops", "smart_equipment_makers", "smart_bases"),
			[]map[string]any{
				{"region": "360100", "smart_equipment": 27.0, "digital_workshops": 7.0, "smart_equipment_makers": 1.0, "smart_bases": 1.0},
				{"region": "360102", "smart_equipment": 12.0, "digital_workshops": 3.0, "smart_equipment_makers": 1.0, "smart_bases": 0.0},
				{"region": "360111", "smart_equipment": 15.0, "digital_workshops": 4.0, "smart_equipment_makers": 0.0, "smart_bases": 0.0},
			})
		if _, ok := city["unregistered_workshops"]; ok {
			t.Error("a city token sees the unregistered workshops")
		}
		if len(city["makers"].([]any)) != 1 || len(city["bases"].([]any)) != 1 {
			t.Errorf("city makers %v bases %v", city["makers"], city["bases"])
		}
	})
	t.Run("workshops", func(t *testing.T) {
		m := c.json("tok-nanchang", "/api/v1/workshops?qualified=false&"+period)
		if m["expected_windows"] != 24.0 {
			t.Errorf("expected_windows = %v", m["expected_windows"])
		}
		type crit = map[string]any
		c4 := func(value, margin any, met bool, reason string, threshold float64) crit {
			return crit{"value": value, "threshold": threshold, "met": met, "margin": margin, "reason": reason}
		}
		var got []string
		for _, r := range m["rows"].([]any) {
			row := r.(map[string]any)
			b, _ := json.Marshal([]any{row["workshop"], row["qualified"], row["missed"], row["windows"], row["criteria"]})
			got = append(got, string(b))
		}
		enc := func(id string, missed []string, windows float64, crits ...crit) string {
			b, _ := json.Marshal([]any{id, false, missed, windows, map[string]any{"digital_equipment_ratio": crits[0],
				"cnc_rate": crits[1], "networked_rate": crits[2], "data_coverage": crits[3]}})
			return string(b)
		}
		ok8 := c4(0.8, 0.1, true, "", 0.7)
		ok7 := c4(0.7, 0.1, true, "", 0.6)
		net := c4(0.9375, 0.0375, true, "", 0.9)
		full := c4(1.0, 0.1, true, "", 0.9)
		noData := "no data in the period"
		want := []string{
			enc("E1-w04", []string{"cnc_rate"}, 24, ok8, c4(0.5, -0.1, false, "", 0.6), net, full),
			enc("E1-w05", []string{"networked_rate"}, 24, ok8, ok7, c4(0.75, -0.15, false, "", 0.9), full),
			enc("E1-w06", []string{"digital_equipment_ratio", "cnc_rate", "networked_rate", "data_coverage"}, 0,
				c4(nil, nil, false, noData, 0.7), c4(nil, nil, false, noData, 0.6), c4(nil, nil, false, noData, 0.9),
				c4(0.0, -0.9, false, "", 0.9)),
			enc("E2-w04", []string{"data_coverage"}, 20, ok8, ok7, net, c4(0.833333333, -0.066666667, false, "", 0.9)),
			enc("E2-w05", []string{"digital_equipment_ratio"}, 24, c4(0.6, -0.1, false, "", 0.7), ok7, full, full),
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("unqualified workshops:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		m = c.json("tok-province", "/api/v1/workshops?missed=cnc_rate&"+period)
		var ids []string
		for _, r := range m["rows"].([]any) {
			ids = append(ids, r.(map[string]any)["workshop"].(string))
		}
		if !reflect.DeepEqual(ids, []string{"E1-w04", "E1-w06", "E3-w05", "E4-w07", "E4-w08", "E5-w04", "E6-w03"}) {
			t.Errorf("missed cnc_rate: %v", ids)
		}
		m = c.json("tok-province", "/api/v1/workshops?qualified=true&park=nc-base&"+period)
		if n := len(m["rows"].([]any)); n != 7 {
			t.Errorf("qualified in nc-base: %d", n)
		}
		row := c.json("tok-province", "/api/v1/workshops?enterprise="+uscc("E6")+"&"+period)["rows"].([]any)[0].(map[string]any)
		checkRows(t, "workshop KPI", []map[string]any{pickMap(row, "workshop", "parts", "output_value_yuan", "energy_kgce_per_10k_yuan",
			"energy_intensity_change", "baseline_region")}, []map[string]any{{"workshop": "E6-w01", "parts": 2400.0,
			"output_value_yuan": 480000.0, "energy_kgce_per_10k_yuan": 614.5, "energy_intensity_change": 0.53625, "baseline_region": "360000"}})
	})
	kpiKeys := []string{"workshops", "workshops_reporting", "equipment_total", "equipment_cnc_key", "cnc_rate", "networked_rate",
		"smart_equipment_in_service", "parts", "output_value_yuan", "energy_kwh", "energy_tce", "water_m3",
		"energy_kgce_per_10k_yuan", "water_m3_per_10k_yuan", "baseline_region", "energy_intensity_change",
		"energy_target_met", "water_intensity_change", "water_target_met"}
	kpi := func(head map[string]any, vals ...any) map[string]any {
		m := map[string]any{}
		for k, v := range head {
			m[k] = v
		}
		for i, k := range kpiKeys {
			m[k] = vals[i]
		}
		return m
	}
	t.Run("regions", func(t *testing.T) {
		m := c.json("tok-province", "/api/v1/kpi/regions?"+period)
		keys := append([]string{"region", "level"}, kpiKeys...)
		checkRows(t, "province and cities", pick(m["rows"], keys...)[:1], []map[string]any{
			kpi(map[string]any{"region": "360000", "level": "province"}, 36.0, 33.0, 660.0, 223.0, 0.675757576, 0.93011811, 77.0,
				78000.0, 36400000.0, 7800000.0, 958.62, 3540.0, 263.357142857143, 1.07142857142857, "360000", -0.341607143, true, -0.892857143, true),
		})
		m = c.json("tok-province", "/api/v1/kpi/regions?level=city&"+period)
		checkRows(t, "cities", pick(m["rows"], keys...), []map[string]any{
			kpi(map[string]any{"region": "360100", "level": "city"}, 12.0, 11.0, 220.0, 75.0, 0.681818182, 0.924212598, 27.0,
				26000.0, 10400000.0, 2600000.0, 319.54, 1180.0, 307.25, 1.25, "360100", 0.024166667, false, -0.84375, true),
			kpi(map[string]any{"region": "360200", "level": "city"}, 12.0, 11.0, 220.0, 75.0, 0.681818182, 0.924212598, 25.0,
				26000.0, 5200000.0, 2600000.0, 319.54, 1180.0, 614.5, 2.5, "360000", 0.53625, false, -0.75, true),
			kpi(map[string]any{"region": "360400", "level": "city"}, 12.0, 11.0, 220.0, 73.0, 0.663636364, 0.941929134, 25.0,
				26000.0, 20800000.0, 2600000.0, 319.54, 1180.0, 153.625, 0.625, "360000", -0.6159375, true, -0.9375, true),
		})
		m = c.json("tok-province", "/api/v1/kpi/regions?region=360400&step=6h&"+period)
		checkRows(t, "6h buckets", pick(m["rows"], "from", "parts", "networked_rate", "energy_tce", "workshops_reporting"), []map[string]any{
			{"from": "2024-05-01T00:00:00+08:00", "parts": 6600.0, "networked_rate": 0.941860465, "energy_tce": 81.114, "workshops_reporting": 11.0},
			{"from": "2024-05-01T06:00:00+08:00", "parts": 6600.0, "networked_rate": 0.941860465, "energy_tce": 81.114, "workshops_reporting": 11.0},
			{"from": "2024-05-01T12:00:00+08:00", "parts": 6600.0, "networked_rate": 0.941860465, "energy_tce": 81.114, "workshops_reporting": 11.0},
			{"from": "2024-05-01T18:00:00+08:00", "parts": 6200.0, "networked_rate": 0.94214876, "energy_tce": 76.198, "workshops_reporting": 11.0},
		})
		if m["step"] != "6h0m0s" {
			t.Errorf("step = %v", m["step"])
		}
	})
	t.Run("parks and enterprises", func(t *testing.T) {
		m := c.json("tok-province", "/api/v1/kpi/parks?"+period)
		keys := append([]string{"park", "designated_base"}, kpiKeys...)
		rows := pick(m["rows"], keys...)
		checkRows(t, "nc-base", rows[2:3], []map[string]any{
			kpi(map[string]any{"park": "nc-base", "designated_base": true}, 12.0, 11.0, 220.0, 75.0, 0.681818182, 0.924212598, 27.0,
				26000.0, 10400000.0, 2600000.0, 319.54, 1180.0, 307.25, 1.25, "360100", 0.024166667, false, -0.84375, true),
		})
		if rows[0]["park"] != "jdz-base" || rows[1]["park"] != "jj-park" || len(rows) != 3 {
			t.Errorf("parks = %v", rows)
		}
		m = c.json("tok-province", "/api/v1/kpi/enterprises?enterprise="+uscc("E6")+"&"+period)
		checkRows(t, "E6", pick(m["rows"], append([]string{"enterprise", "smart_equipment_maker"}, kpiKeys...)...), []map[string]any{
			kpi(map[string]any{"enterprise": uscc("E6"), "smart_equipment_maker": true}, 4.0, 3.0, 60.0, 21.0, 0.7, 0.9375, 9.0,
				7200.0, 1440000.0, 720000.0, 88.488, 360.0, 614.5, 2.5, "360000", 0.53625, false, -0.75, true),
		})
		// E1: three Q workshops (3 each), E1-w04 with two smart devices online in the first
		// half-day and no smart-tagged data in the second (falls back to 1), E1-w05 (1).
		m = c.json("tok-province", "/api/v1/kpi/enterprises?enterprise="+uscc("E1")+"&step=12h&"+period)
		checkRows(t, "E1 half-days", pick(m["rows"], "from", "smart_equipment_in_service"), []map[string]any{
			{"from": "2024-05-01T00:00:00+08:00", "smart_equipment_in_service": 12.0},
			{"from": "2024-05-01T12:00:00+08:00", "smart_equipment_in_service": 11.0},
		})
		m = c.json("tok-province", "/api/v1/kpi/enterprises?park=jj-park&"+period)
		if rows := pick(m["rows"], "enterprise"); len(rows) != 1 || rows[0]["enterprise"] != uscc("E4") {
			t.Errorf("enterprises in jj-park = %v", rows)
		}
	})
	t.Run("csv", func(t *testing.T) {
		code, h, body := c.get("tok-province", "/api/v1/kpi/regions?level=city&format=csv&"+period)
		if code != 200 || h.Get("Content-Type") != "text/csv; charset=utf-8" ||
			h.Get("Content-Disposition") != `attachment; filename="kpi-regions.csv"` {
			t.Fatalf("csv: %d %v", code, h)
		}
		if !bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")) {
			t.Error("no byte-order mark")
		}
		recs, err := csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 4 || strings.Join(recs[0][:8], ",") != "region,name,level,from,to,workshops,workshops_reporting,equipment_total" {
			t.Fatalf("csv header %v (%d lines)", recs[0], len(recs))
		}
		col := map[string]int{}
		for i, name := range recs[0] {
			col[name] = i
		}
		got := []string{recs[1][col["name"]], recs[1][col["cnc_rate"]], recs[1][col["energy_target_met"]], recs[3][col["water_m3_per_10k_yuan"]]}
		if !reflect.DeepEqual(got, []string{"南昌市", "0.681818182", "false", "0.625"}) {
			t.Errorf("csv cells = %v", got)
		}
		code, _, body = c.get("tok-nanchang", "/api/v1/workshops?format=csv&enterprise="+uscc("E1")+"&"+period)
		recs, err = csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
		if code != 200 || err != nil || len(recs) != 7 {
			t.Fatalf("workshops csv: %d %v %d", code, err, len(recs))
		}
		for i, name := range recs[0] {
			col[name] = i
		}
		got = []string{recs[6][col["workshop"]], recs[6][col["missed"]], recs[6][col["criteria.cnc_rate.reason"]], recs[6][col["criteria.data_coverage.margin"]]}
		if !reflect.DeepEqual(got, []string{"E1-w06", "digital_equipment_ratio;cnc_rate;networked_rate;data_coverage", "no data in the period", "-0.9"}) {
			t.Errorf("workshops csv cells = %v", got)
		}
		code, _, body = c.get("tok-province", "/api/v1/kpi/parks?park=jj-park&format=csv&from=2023-05-01&to=2023-05-02")
		if code != 200 || !strings.Contains(string(body), "jj-park,九江经开区,360400,false,2023-05-01T00:00:00+08:00") {
			t.Errorf("empty period csv: %d %s", code, body)
		}
	})
}

func pickMap(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

func checkAuth(t *testing.T, c *client) {
	tests := []struct {
		name, token, path string
		code              int
		body              string
	}{
		{"no token", "", "/api/v1/programme", 401, `{"error":"missing bearer token"}`},
		{"bad token", "tok-wrong", "/api/v1/programme", 401, `{"error":"invalid bearer token"}`},
		{"out of scope region", "tok-nanchang", "/api/v1/kpi/regions?region=360200&" + period, 403,
			`{"error":"region \"360200\" is outside the scope of token \"nanchang\" (region 360100)"}`},
		{"out of scope province", "tok-nanchang", "/api/v1/programme?region=360000&" + period, 403,
			`{"error":"region \"360000\" is outside the scope of token \"nanchang\" (region 360100)"}`},
		{"out of scope park", "tok-nanchang", "/api/v1/kpi/parks?park=jdz-base&" + period, 403,
			`{"error":"park \"jdz-base\" is outside the scope of token \"nanchang\" (region 360100)"}`},
		{"out of scope enterprise", "tok-nanchang", "/api/v1/workshops?enterprise=" + uscc("E6") + "&" + period, 403,
			`{"error":"enterprise \"` + uscc("E6") + `\" is outside the scope of token \"nanchang\" (region 360100)"}`},
		{"scope not registered", "tok-nowhere", "/api/v1/regions", 403,
			`{"error":"scope region \"360500\" of token \"nowhere\" is not in the registry"}`},
		{"in scope county", "tok-nanchang", "/api/v1/regions?region=360102", 200,
			`{"region":{"code":"360102","name":"东湖区","level":"county"},"rows":[{"region":"360102","name":"东湖区","level":"county","parent":"360100","baseline_year":null,"baseline_energy_kgce_per_10k_yuan":null,"baseline_water_m3_per_10k_yuan":null}]}`},
		{"unknown region", "tok-province", "/api/v1/regions?region=360199", 404, `{"error":"unknown region \"360199\""}`},
		{"invalid region", "tok-province", "/api/v1/regions?region=36", 400, `{"error":"region: invalid region code \"36\": want 6 digits"}`},
		{"unknown park", "tok-province", "/api/v1/kpi/parks?park=nope", 404, `{"error":"unknown park \"nope\""}`},
		{"unknown parameter", "tok-province", "/api/v1/programme?regoin=360100", 400, `{"error":"unknown parameter \"regoin\""}`},
		{"duplicate parameter", "tok-province", "/api/v1/kpi/regions?region=360100&region=360200&" + period, 400,
			`{"error":"duplicate parameter \"region\": give it once"}`},
		{"duplicate format", "tok-province", "/api/v1/regions?format=csv&format=json", 400,
			`{"error":"duplicate parameter \"format\": give it once"}`},
		{"duplicate empty", "tok-province", "/api/v1/workshops?qualified=&qualified=true&" + period, 400,
			`{"error":"duplicate parameter \"qualified\": give it once"}`},
		{"bad escape", "tok-province", "/api/v1/regions?region=%zz", 400, `{"error":"invalid query: bad escape in the value of \"region\""}`},
		{"semicolon", "tok-province", "/api/v1/regions?region=360100;format=csv", 400,
			`{"error":"invalid query: \"region=360100;format=csv\" contains a semicolon (separate parameters with \u0026)"}`},
		{"bad format", "tok-province", "/api/v1/regions?format=xml", 400, `{"error":"format: \"xml\" is not json or csv"}`},
		{"bad time", "tok-province", "/api/v1/programme?from=yesterday", 400,
			`{"error":"from: invalid time \"yesterday\" (want 2006-01-02, 2006-01-02T15:04 or RFC 3339)"}`},
		{"unaligned", "tok-province", "/api/v1/programme?from=2024-05-01T00:30&to=2024-05-02", 400,
			`{"error":"from 2024-05-01T00:30:00+08:00 is not on a 1h window boundary"}`},
		{"bad step", "tok-province", "/api/v1/kpi/regions?step=5h&" + period, 400, `{"error":"step 5h0m0s does not divide the range 1d"}`},
		{"step not allowed", "tok-province", "/api/v1/programme?step=1h&" + period, 400, `{"error":"unknown parameter \"step\""}`},
		{"reversed", "tok-province", "/api/v1/programme?from=2024-05-02&to=2024-05-01", 400,
			`{"error":"from 2024-05-02T00:00:00+08:00 is not before to 2024-05-01T00:00:00+08:00"}`},
		{"bad level", "tok-province", "/api/v1/kpi/regions?level=town&" + period, 400, `{"error":"level: \"town\" is not province, city or county"}`},
		{"bad missed", "tok-province", "/api/v1/workshops?missed=speed&" + period, 400,
			`{"error":"missed: \"speed\" is not one of digital_equipment_ratio, cnc_rate, networked_rate, data_coverage"}`},
		{"too long", "tok-province", "/api/v1/regions?region=" + strings.Repeat("1", 5000), 414, `{"error":"request target longer than 4096 bytes"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := c.get(tt.token, tt.path)
			if code != tt.code || strings.TrimSpace(string(body)) != tt.body {
				t.Errorf("GET %s: %d %s\nwant %d %s", tt.path, code, body, tt.code, tt.body)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), `Bearer realm="ganlink"`) {
				t.Errorf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("openapi without token", func(t *testing.T) {
		code, _, body := c.get("", "/api/v1/openapi.json")
		if code != 200 || !json.Valid(body) {
			t.Errorf("openapi: %d", code)
		}
	})
	t.Run("body too large", func(t *testing.T) {
		req, _ := http.NewRequest("GET", c.base+"/api/v1/regions", strings.NewReader(strings.Repeat("x", 5000)))
		req.Header.Set("Authorization", "Bearer tok-province")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("post", func(t *testing.T) {
		resp, err := http.Post(c.base+"/api/v1/regions", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}
