package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/gateway/schema"
)

const regenerate = "go run ./deployments/grafana/gen -out deployments/grafana/dashboards"

// TestCheckedInDashboardsAreGenerated: regenerating gives byte-identical files, and the
// directory holds no other dashboard.
func TestCheckedInDashboardsAreGenerated(t *testing.T) {
	files, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "dashboards")
	want := map[string]bool{}
	for _, f := range files {
		want[f.Name] = true
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Errorf("%v (run %s)", err, regenerate)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s differs from the generator's output: run %s", f.Name, regenerate)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("%s in %s is not generated", e.Name(), dir)
		}
	}
	// Generating twice gives the same bytes (no map-order or clock dependence).
	again, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if !bytes.Equal(files[i].Data, again[i].Data) {
			t.Errorf("%s: two runs differ", files[i].Name)
		}
	}
}

// TestWriteCreatesFiles: the command writes every dashboard into a new directory.
func TestWriteCreatesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := write(dir); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), "park.json province.json workshop.json"; got != want {
		t.Errorf("files %q, want %q", got, want)
	}
}

// TestDashboardStructure: unique uids and panel ids, a RefId on every target (unique in
// its panel), every target and query variable on the provisioned VictoriaMetrics
// datasource, every variable a query uses defined, panels inside the 24-column grid.
func TestDashboardStructure(t *testing.T) {
	builtin := map[string]bool{"__range": true, "__range_s": true, "__range_ms": true, "__interval": true,
		"__interval_ms": true, "__rate_interval": true}
	uids := map[string]bool{}
	for name, d := range loadDashboards(t) {
		data, _ := os.ReadFile(filepath.Join("..", "dashboards", name))
		var meta struct {
			UID string `json:"uid"`
		}
		json.Unmarshal(data, &meta)
		if meta.UID == "" || uids[meta.UID] {
			t.Errorf("%s: uid %q empty or not unique", name, meta.UID)
		}
		uids[meta.UID] = true
		defined := map[string]bool{}
		for _, v := range d.Templating.List {
			for _, ref := range varRef.FindAllStringSubmatch(v.Query, -1) {
				if n := ref[1] + ref[2]; !defined[n] {
					t.Errorf("%s: variable %s uses %s before it is defined", name, v.Name, n)
				}
			}
			defined[v.Name] = true
		}
		ids := map[int]bool{}
		for _, p := range d.allPanels() {
			if p.ID == 0 || ids[p.ID] {
				t.Errorf("%s: panel %q id %d zero or repeated", name, p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && (p.Datasource == nil || p.Datasource.UID != VictoriaUID) {
				t.Errorf("%s: panel %q datasource %+v", name, p.Title, p.Datasource)
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", name, p.Title)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: panel %q: refId %q empty or repeated", name, p.Title, tg.RefID)
				}
				refs[tg.RefID] = true
				if tg.Datasource == nil || tg.Datasource.UID != VictoriaUID || tg.Datasource.Type != "prometheus" {
					t.Errorf("%s: panel %q %s: datasource %+v", name, p.Title, tg.RefID, tg.Datasource)
				}
				if tg.Instant == tg.Range {
					t.Errorf("%s: panel %q %s: instant %v, range %v", name, p.Title, tg.RefID, tg.Instant, tg.Range)
				}
				for _, ref := range varRef.FindAllStringSubmatch(tg.Expr, -1) {
					if n := ref[1] + ref[2]; !defined[n] && !builtin[n] {
						t.Errorf("%s: panel %q %s uses undefined variable %s", name, p.Title, tg.RefID, n)
					}
				}
			}
		}
		var grid struct {
			Panels []struct {
				Title   string                `json:"title"`
				GridPos struct{ X, W, H int } `json:"gridPos"`
			} `json:"panels"`
		}
		json.Unmarshal(data, &grid)
		for _, p := range grid.Panels {
			if p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: panel %q gridPos %+v", name, p.Title, p.GridPos)
			}
		}
	}
}

// TestDominantStateExpr pins the machine-state expression's shape: one term per state
// code, in priority order, each against the largest state seconds of the window.
func TestDominantStateExpr(t *testing.T) {
	got := dominantStateExpr(`workshop="w",window="1m"`)
	largest := `max without () ({__name__=~"device_kpi_(offline|alarm|setup|running|idle|unknown)_s",workshop="w",window="1m"})`
	var want []string
	for _, s := range []struct {
		field string
		code  int
	}{{"offline_s", 1}, {"alarm_s", 2}, {"setup_s", 3}, {"running_s", 4}, {"idle_s", 5}, {"unknown_s", 0}} {
		want = append(want, fmt.Sprintf(`(device_kpi_%s{workshop="w",window="1m"} == %s) * 0 + %d`, s.field, largest, s.code))
	}
	if w := strings.Join(want, "\nor "); got != w {
		t.Errorf("dominantStateExpr:\n%s\nwant\n%s", got, w)
	}
}

// TestProvisioning: the datasources carry the uids and types the dashboards use, the
// dashboard provider reads the directory the compose file mounts the dashboards at.
func TestProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name     string         `yaml:"name"`
			UID      string         `yaml:"uid"`
			Type     string         `yaml:"type"`
			Access   string         `yaml:"access"`
			URL      string         `yaml:"url"`
			JSONData map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, "../provisioning/datasources/ganlink.yaml", &ds)
	got := map[string]string{}
	for _, d := range ds.Datasources {
		got[d.UID] = fmt.Sprintf("%s %s %s", d.Type, d.Access, d.URL)
		if d.Type == "influxdb" {
			got[d.UID] += fmt.Sprintf(" %v %v", d.JSONData["version"], d.JSONData["dbName"])
		}
	}
	want := map[string]string{
		VictoriaUID: "prometheus proxy http://vmauth:8427",
		InfluxUID:   "influxdb proxy http://influxdb:8086 InfluxQL ganlink",
	}
	if ds.APIVersion != 1 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("datasources (apiVersion %d):\n%v\nwant\n%v", ds.APIVersion, got, want)
	}

	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "../provisioning/dashboards/ganlink.yaml", &dp)
	if dp.APIVersion != 1 || len(dp.Providers) != 1 || dp.Providers[0].Type != "file" ||
		dp.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provider: %+v", dp)
	}
	compose, err := os.ReadFile("../../compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, mount := range []string{"../grafana/dashboards:/var/lib/grafana/dashboards", "../grafana/provisioning:/etc/grafana/provisioning"} {
		if !bytes.Contains(compose, []byte(mount)) {
			t.Errorf("compose file does not mount %s", mount)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestQueriesUseSchemaNames: every series name a dashboard query or variable selects is
// one the gateway or the aggregator writes: a field of a measurement of gateway/schema
// (or the raw power signal of the energy meters).
func TestQueriesUseSchemaNames(t *testing.T) {
	known := map[string]bool{schema.VMName(schema.KindEnergyMeter, schema.RawPowerKW): true,
		// suspect: written by the gateways (only when not 0) and the aggregator's
		// write-back, not yet in schema.Measurements' field lists.
		schema.VMName(schema.WorkshopKPI, schema.FieldSuspect): true, schema.VMName(schema.RegionKPI, schema.FieldSuspect): true}
	prefixes := []string{regexp.QuoteMeta(schema.KindEnergyMeter), regexp.QuoteMeta(schema.KindCNC)}
	for m, fields := range schema.Measurements() {
		prefixes = append(prefixes, regexp.QuoteMeta(m))
		for _, f := range fields {
			known[schema.VMName(m, f)] = true
		}
	}
	sort.Strings(prefixes)
	name := regexp.MustCompile(`\b((?:` + strings.Join(prefixes, "|") + `)_\w+)`)
	used := map[string]bool{}
	for file, d := range loadDashboards(t) {
		var exprs []string
		for _, v := range d.Templating.List {
			exprs = append(exprs, v.Query)
		}
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
		}
		for _, e := range exprs {
			for _, m := range name.FindAllStringSubmatch(e, -1) {
				used[m[1]] = true
				if !known[m[1]] {
					t.Errorf("%s: %s is not in the TSDB schema", file, m[1])
				}
			}
		}
	}
	var list []string
	for n := range used {
		list = append(list, n)
	}
	sort.Strings(list)
	if len(list) < 20 {
		t.Errorf("only %d series names found: %v", len(list), list)
	}
}
