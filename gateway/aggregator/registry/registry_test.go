package registry

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCheckRegionCode(t *testing.T) {
	tests := []struct {
		code    string
		level   Level
		wantErr string
	}{
		{"360000", Province, ""},
		{"360100", City, ""},
		{"360102", County, ""},
		{"429004", County, ""},
		{"110101", County, ""},
		{"36010", 0, `invalid region code "36010": want 6 digits`},
		{"36010a", 0, `invalid region code "36010a": want 6 digits`},
		{"3601000", 0, `invalid region code "3601000": want 6 digits`},
		{"990100", 0, `invalid region code "990100": unknown province "99"`},
		{"", 0, `invalid region code "": want 6 digits`},
	}
	for _, tt := range tests {
		l, err := CheckRegionCode(tt.code)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("CheckRegionCode(%q) = %v, want error %q", tt.code, err, tt.wantErr)
			}
			continue
		}
		if err != nil || l != tt.level {
			t.Errorf("CheckRegionCode(%q) = %v, %v; want %v", tt.code, l, err, tt.level)
		}
	}
}

func TestCheckUSCC(t *testing.T) {
	tests := []struct{ code, wantErr string }{
		{"91330100799655058B", ""},
		{"9144030071526726XG", ""},
		{"914403001922038216", ""},
		{"91360100MA35HT001T", ""},
		{"91360100MA35HT001X", `invalid unified social credit code "91360100MA35HT001X": check character 'X', want 'T'`},
		{"91360100MA35HT001", `invalid unified social credit code "91360100MA35HT001": want 18 characters`},
		{"91360100MI35HT001T", `invalid unified social credit code "91360100MI35HT001T": invalid character 'I' at position 10`},
		{"91360100MA35HT001Z", `invalid unified social credit code "91360100MA35HT001Z": invalid character 'Z' at position 18`},
		{"91360100ma35ht001t", `invalid unified social credit code "91360100ma35ht001t": invalid character 'm' at position 9`},
	}
	for _, tt := range tests {
		err := CheckUSCC(tt.code)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("CheckUSCC(%q) = %q, want %q", tt.code, got, tt.wantErr)
		}
	}
}

func TestLoadExample(t *testing.T) {
	r, err := Load("../../../configs/registry.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var regions []string
	for _, reg := range r.Regions() {
		regions = append(regions, reg.Code+" "+reg.Name+" "+reg.Level.String()+" parent="+reg.Parent)
	}
	want := []string{
		"360000 江西省 province parent=",
		"360100 南昌市 city parent=360000",
		"360111 青山湖区 county parent=360100",
		"360200 景德镇市 city parent=360000",
		"360203 珠山区 county parent=360200",
		"360400 九江市 city parent=360000",
	}
	if !reflect.DeepEqual(regions, want) {
		t.Errorf("regions:\n%s\nwant:\n%s", strings.Join(regions, "\n"), strings.Join(want, "\n"))
	}
	var shops []string
	for _, w := range r.Workshops() {
		shops = append(shops, w.ID+" "+w.Enterprise+" "+w.Region+" "+w.Park+" "+w.Pos)
	}
	wantShops := []string{
		"jdz-ws1 91360200MA35JD001R 360203 jdz-ceramics ../../../configs/registry.workshops.example.csv:3",
		"jj-ws1 91360400MA35JJ0018 360400  ../../../configs/registry.workshops.example.csv:4",
		"ws1 91360100MA35HT001T 360111 nc-hitech ../../../configs/registry.example.yaml:67",
		"ws2 91360100MA35HT001T 360111 nc-hitech ../../../configs/registry.workshops.example.csv:2",
	}
	if !reflect.DeepEqual(shops, wantShops) {
		t.Errorf("workshops:\n%s\nwant:\n%s", strings.Join(shops, "\n"), strings.Join(wantShops, "\n"))
	}
	if m := r.MakerByVendor("瓷都智能"); m == nil || m.ID != "91360200MA35JD001R" {
		t.Errorf("MakerByVendor(瓷都智能) = %+v", m)
	}
	if m := r.MakerByVendor("ncjg"); m == nil || m.ID != "91360100MA35HT001T" || m.Region != "360111" || m.Park != "nc-hitech" {
		t.Errorf("MakerByVendor(ncjg) = %+v", m)
	}
	if m := r.MakerByVendor("91360400MA35JJ0018"); m != nil {
		t.Errorf("non-maker found by vendor: %+v", m)
	}
	if p := r.Park("nc-hitech"); p == nil || !p.DesignatedBase || p.Region != "360100" {
		t.Errorf("park nc-hitech = %+v", p)
	}
	b, from := r.BaselineFor("360111")
	if b == nil || from != "360100" || b.EnergyKgcePer10kYuan != 380 || b.WaterM3Per10kYuan != 10.2 || b.Year != 2020 {
		t.Errorf("BaselineFor(360111) = %+v from %q", b, from)
	}
	if _, from := r.BaselineFor("360203"); from != "360000" {
		t.Errorf("BaselineFor(360203) from %q, want 360000", from)
	}
	if tg := r.Region("360000").Targets; tg == nil || *tg != (Targets{10000, 1000, 100, 10}) {
		t.Errorf("targets = %+v", tg)
	}
	if got := r.Subtree("360100"); !reflect.DeepEqual(got, []string{"360100", "360111"}) {
		t.Errorf("Subtree(360100) = %v", got)
	}
	if got := r.Subtree("360000"); !reflect.DeepEqual(got, []string{"360000", "360100", "360111", "360200", "360203", "360400"}) {
		t.Errorf("Subtree(360000) = %v", got)
	}
	if !r.Within("360111", "360000") || r.Within("360111", "360200") || !r.Within("360100", "360100") || r.Within("360000", "360100") {
		t.Error("Within wrong")
	}
	if got := r.Ancestors("360111"); !reflect.DeepEqual(got, []string{"360111", "360100", "360000"}) {
		t.Errorf("Ancestors = %v", got)
	}
	// industry and value_added_rate (YAML and CSV), and value_added_rates: C35 overrides
	// the default 0.192 of division 35.
	var inds []string
	for _, e := range r.Enterprises() {
		inds = append(inds, fmt.Sprintf("%s %s %g %s", e.ID, e.Industry, e.ValueAddedRate, e.ValueAddedRateFrom))
	}
	wantInds := []string{
		"91360100MA35HT001T C3421 0.27 enterprise",
		"91360200MA35JD001R C3599 0.23 value_added_rates C35",
		"91360400MA35JJ0018 C3734 0.18 enterprise",
	}
	if !reflect.DeepEqual(inds, wantInds) {
		t.Errorf("industries:\n%s\nwant:\n%s", strings.Join(inds, "\n"), strings.Join(wantInds, "\n"))
	}
}

const okRegions = `regions:
  - {code: "360000", name: 江西省}
  - {code: "360100", name: 南昌市}
  - {code: "360200", name: 景德镇市}
parks:
  - {id: p1, name: 园区一, region: "360100", designated_base: true}
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		csv  map[string]string
		want string
	}{
		{"syntax", "regions: [\n", nil, "r.yaml:1: did not find expected node content"},
		{"empty", "", nil, "r.yaml: empty registry"},
		{"unknown top key", "region: []\n", nil,
			"r.yaml:1: region: unknown key (want one of regions, parks, enterprises, enterprises_csv, workshops, workshops_csv, value_added_rates)"},
		{"bad codes", `regions:
  - code: "36010"
    name: x
  - code: "990000"
    name: y
  - code: "360000"
  - {code: "360000", name: z}
`, nil, `r.yaml:2: regions[0].code: invalid region code "36010": want 6 digits
r.yaml:4: regions[1].code: invalid region code "990000": unknown province "99"
r.yaml:6: regions[2].name: required
r.yaml:7: regions[3].code: duplicate region "360000" (first at r.yaml:6)`},
		{"unknown parents", `regions:
  - {code: "360100", name: 南昌市}
  - {code: "360102", name: 东湖区}
  - {code: "429004", name: 仙桃市}
`, nil, `r.yaml:2: regions[0].code: unknown parent region "360000"
r.yaml:4: regions[2].code: unknown parent region "429000"`},
		{"direct county", `regions:
  - {code: "420000", name: 湖北省}
  - {code: "429004", name: 仙桃市}
parks: [{id: p, name: x, region: "429005"}]
`, nil, `r.yaml:4: parks[0].region: unknown region "429005"`},
		{"baseline", `regions:
  - code: "360000"
    name: 江西省
    baseline:
      year: 1800
      energy_kgce_per_10k_yuan: -1
      colour: red
  - code: "360100"
    name: 南昌市
    baseline: {year: 2020}
    targets: {smart_equipment: -1, smart_bases: x}
`, nil, `r.yaml:4: regions[0].baseline.water_m3_per_10k_yuan: required
r.yaml:5: regions[0].baseline.year: invalid year "1800"
r.yaml:6: regions[0].baseline.energy_kgce_per_10k_yuan: -1 is not positive
r.yaml:7: regions[0].baseline.colour: unknown key (want one of year, energy_kgce_per_10k_yuan, water_m3_per_10k_yuan)
r.yaml:10: regions[1].baseline.energy_kgce_per_10k_yuan: required
r.yaml:10: regions[1].baseline.water_m3_per_10k_yuan: required
r.yaml:11: regions[1].targets.smart_equipment: -1 is negative
r.yaml:11: regions[1].targets.smart_bases: invalid number "x"`},
		{"parks", okRegions + `  - {id: p1, name: again, region: "360100"}
  - {id: p2, name: x, region: "360199", designated_base: maybe}
  - {id: p3, region: "360100", colour: red}
  - id: p4
    name: [a]
    region: "360100"
`, nil, `r.yaml:7: parks[1].id: duplicate park "p1" (first at r.yaml:6)
r.yaml:8: parks[2].designated_base: invalid boolean "maybe" (want true or false)
r.yaml:8: parks[2].region: unknown region "360199"
r.yaml:9: parks[3].colour: unknown key (want one of id, name, region, designated_base)
r.yaml:9: parks[3].name: required
r.yaml:11: parks[4].name: want a single value`},
		{"enterprises", okRegions + `enterprises:
  - {id: 91360100MA35HT001T, name: a, park: p1, smart_equipment_maker: true, vendors: [v1]}
  - {id: 91360100MA35HT001X, name: b, region: "360100"}
  - {id: 91360100MA35HT001T, name: c, region: "360100"}
  - {id: 91360100MA35HT002X, name: d, park: p9}
  - {id: 91360100MA35HT0031, name: e}
  - {id: 91360200MA35JD001R, name: f, region: "360200", park: p1}
  - {id: 91360400MA35JJ0018, name: g, region: "360100", vendors: [v2]}
  - {id: 91360100MA35XXXX0W, name: h, region: "360100", smart_equipment_maker: 是, vendors: [v1, ""]}
`, nil, `r.yaml:9: enterprises[1].id: invalid unified social credit code "91360100MA35HT001X": check character 'X', want 'T'
r.yaml:10: enterprises[2].id: duplicate enterprise "91360100MA35HT001T" (first at r.yaml:8)
r.yaml:11: enterprises[3].park: unknown park "p9"
r.yaml:12: enterprises[4].region: required (no park to take it from)
r.yaml:13: enterprises[5].region: region "360200" and park "p1" (region "360100") do not overlap
r.yaml:14: enterprises[6].vendors: vendors given for an enterprise that is not a smart-equipment maker
r.yaml:15: enterprises[7].vendors: vendor "v1" already names enterprise "91360100MA35HT001T" (r.yaml:8)
r.yaml:15: enterprises[7].vendors: empty vendor name`},
		{"workshops", okRegions + `enterprises:
  - {id: 91360100MA35HT001T, name: a, park: p1}
  - {id: 91360200MA35JD001R, name: b, region: "360200"}
workshops:
  - {id: w1, name: a, enterprise: 91360100MA35HT001T}
  - {id: w1, name: b, enterprise: 91360100MA35HT001T}
  - {id: w2, name: c, enterprise: 91360100MA35HT002X}
  - {id: w3, name: d}
  - {id: w4, name: e, enterprise: 91360200MA35JD001R, park: p1}
  - {id: "w5\u0007", name: f, enterprise: 91360200MA35JD001R}
`, nil, `r.yaml:12: workshops[1].id: duplicate workshop "w1" (first at r.yaml:11)
r.yaml:13: workshops[2].enterprise: unknown enterprise "91360100MA35HT002X"
r.yaml:14: workshops[3].enterprise: required
r.yaml:16: workshops[5].id: invalid "w5\a": control character`},
		{"csv", okRegions + `enterprises_csv: e.csv
workshops_csv: [w.csv, missing.csv]
`, map[string]string{
			"e.csv": "\uFEFF统一社会信用代码,企业名称,行政区划代码,园区,智能装备制造商,设备厂商标识\n" +
				"91360100MA35HT001T,甲,,p1,是,\"v1; v2\"\n" +
				"91360100MA35HT001X,乙,360100,,否,\n" +
				"91360200MA35JD001R,丙,360299,,,\n" +
				"91360400MA35JJ0018,丁,360100\n" +
				"91360100MA35XXXX0W,\"多行\n名称\",360100,,maybe,\n",
			"w.csv": "id,name,enterprise,park\nw1,一,91360100MA35HT001T,\n\nw2,二,91360100MA35HT002X,\nw1,三,91360100MA35HT001T,p1\n",
		}, `r.yaml:8: workshops_csv[1]: file "missing.csv" does not exist
e.csv:3: id: invalid unified social credit code "91360100MA35HT001X": check character 'X', want 'T'
e.csv:4: region: unknown region "360299"
e.csv:5: 3 fields, want 6 (as the header)
e.csv:6: name: invalid "多行\n名称": control character
e.csv:7: smart_equipment_maker: invalid boolean "maybe" (want true or false)
w.csv:4: enterprise: unknown enterprise "91360100MA35HT002X"
w.csv:5: id: duplicate workshop "w1" (first at w.csv:2)`},
		{"csv header", okRegions + "enterprises_csv: [a.csv, b.csv, c.csv, d.csv, e.csv]\n", map[string]string{
			"a.csv": "id,name,colour\n",
			"b.csv": "id,region\n",
			"c.csv": "",
			"d.csv": "id,name\n\xb9\xe3\xd6\xdd,x\n",
			"e.csv": "id,name\n\"unterminated,x\n",
		}, `a.csv:1: colour: unknown column (want id,name,region,park,smart_equipment_maker,vendors,industry,value_added_rate)
b.csv:1: name: missing column
c.csv: empty file (want a header row: id,name,region,park,smart_equipment_maker,vendors,industry,value_added_rate)
d.csv:2: not UTF-8 text (save the sheet as "CSV UTF-8")
e.csv:2: extraneous or missing " in quoted-field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(tt.yaml), func(name string) (string, []byte, error) {
				s, ok := tt.csv[name]
				if !ok {
					return name, nil, os.ErrNotExist
				}
				return name, []byte(s), nil
			})
			if err == nil {
				t.Fatalf("no error, want:\n%s", tt.want)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", err, tt.want)
			}
		})
	}
}

func TestParseCSVValues(t *testing.T) {
	r, err := Parse("r.yaml", []byte(okRegions+"enterprises_csv: e.csv\nworkshops_csv: w.csv\n"), func(name string) (string, []byte, error) {
		switch name {
		case "e.csv":
			return name, []byte("\uFEFF统一社会信用代码,企业名称,园区,智能装备制造商,设备厂商标识\r\n" +
				"91360100MA35HT001T, 甲 ,p1,是,\"v1; v2;\"\r\n" +
				"91360200MA35JD001R,\"乙, 有限公司\",p1,no,\r\n"), nil
		case "w.csv":
			return name, []byte("车间编号,车间名称,统一社会信用代码,行政区划代码\nw1,一,91360100MA35HT001T,\nw2,二,91360200MA35JD001R,360100\n"), nil
		}
		return name, nil, os.ErrNotExist
	})
	if err != nil {
		t.Fatal(err)
	}
	e := r.Enterprise("91360100MA35HT001T")
	want := &Enterprise{ID: "91360100MA35HT001T", Name: "甲", Region: "360100", Park: "p1", SmartEquipmentMaker: true,
		Vendors: []string{"v1", "v2"}, Pos: "e.csv:2"}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("enterprise = %+v, want %+v", e, want)
	}
	if e := r.Enterprise("91360200MA35JD001R"); e == nil || e.Name != "乙, 有限公司" || e.SmartEquipmentMaker || e.Vendors != nil {
		t.Errorf("enterprise 2 = %+v", e)
	}
	if w := r.Workshop("w2"); w == nil || w.Region != "360100" || w.Park != "p1" || w.Pos != "w.csv:3" {
		t.Errorf("w2 = %+v", w)
	}
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(okRegions)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(path, log)
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	s.OnReload = func(err error) {
		if err != nil {
			results = append(results, "error")
		} else {
			results = append(results, "ok")
		}
	}
	old := s.Get()
	write(okRegions + "  - {id: p2, name: 园区二, region: \"360200\"}\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if s.Get() == old || s.Get().Park("p2") == nil {
		t.Fatal("reload did not replace the registry")
	}
	good := s.Get()
	write(okRegions + "  - {id: p2, name: 园区二, region: \"360900\"}\n")
	err = s.Reload()
	want := `reload registry "` + path + `": ` + path + `:7: parks[1].region: unknown region "360900"`
	if err == nil || err.Error() != want {
		t.Fatalf("reload error = %v, want %s", err, want)
	}
	if s.Get() != good {
		t.Fatal("failed reload replaced the registry")
	}
	if !reflect.DeepEqual(results, []string{"ok", "error"}) {
		t.Errorf("OnReload results = %v", results)
	}
	if _, err := Open(filepath.Join(dir, "none.yaml"), log); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open missing = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(okRegions+"enterprises_csv: e.csv\n"), []byte("id,name,park,smart_equipment_maker,vendors\n91360100MA35HT001T,甲,p1,是,v1\n"))
	f.Add([]byte(okRegions), []byte("id,name\n\"x"))
	f.Add([]byte("regions: [{code: \"360000\", name: x, baseline: {year: 2020, energy_kgce_per_10k_yuan: 1, water_m3_per_10k_yuan: 1}}]\n"), []byte(""))
	// Shapes that blew the gateway's configuration loader up, and hostile CSV cells.
	f.Add([]byte("regions: "+strings.Repeat("[", 40)+strings.Repeat("]", 40)+"\n"), []byte(""))
	f.Add([]byte("x: &a [{code: \"360000\", name: x}]\nregions: *a\nparks: [*a, *a]\n"), []byte(""))
	f.Add([]byte(okRegions+"regions: []\n"+strings.Repeat("k", 2048)+": 1\n"), []byte(""))
	f.Add([]byte(okRegions+"workshops_csv: w.csv\n"), []byte("\xef\xbb\xbfid,name,enterprise\n\"=cmd|' /C calc'!A0\",\"a\"\"b\",@SUM(1+1)\n,,\n"))
	f.Add([]byte(okRegions+"value_added_rates: {C: 0.3, \"34\": 25%, D34: 1}\nenterprises_csv: e.csv\n"), []byte("id,name,park,industry,value_added_rate\n91360100MA35HT001T,甲,p1,3411,0.2\n"))
	f.Fuzz(func(t *testing.T, yml, csv []byte) {
		r, err := Parse("r.yaml", yml, func(name string) (string, []byte, error) { return name, csv, nil })
		if err != nil {
			if r != nil {
				t.Fatal("registry and error")
			}
			return
		}
		for _, w := range r.Workshops() {
			if r.Region(w.Region) == nil || r.Enterprise(w.Enterprise) == nil || (w.Park != "" && r.Park(w.Park) == nil) {
				t.Fatalf("dangling workshop %+v", w)
			}
		}
		for _, e := range r.Enterprises() {
			if (e.Industry != "" && len(e.Industry) != 5) || e.ValueAddedRate < 0 || e.ValueAddedRate > 1 || (e.ValueAddedRate == 0) != (e.ValueAddedRateFrom == "") {
				t.Fatalf("enterprise industry %+v", e)
			}
		}
		for _, reg := range r.Regions() {
			if reg.Parent != "" && r.Region(reg.Parent) == nil {
				t.Fatalf("dangling region %+v", reg)
			}
		}
	})
}
