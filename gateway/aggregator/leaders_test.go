package aggregator

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// leaderEnt is an enterprise of the leaders test: its key, region, industry, optional
// value-added rate, and its workshops.
type leaderEnt struct {
	key, region, industry, rate string
	shops                       []leaderShop
}

// leaderShop is a workshop: its energy intensity per 10 000 yuan of output value (kgce,
// even), the hours it reported (of 24), whether it has a water meter (water intensity
// = energy ÷ 16), zero output value, a suspect step, a second gateway instance.
type leaderShop struct {
	id        string
	intensity float64
	hours     int
	noWater   bool
	noOutput  bool
	suspect   bool
	conflict  bool
}

// leaderEnts: 30 workshops of 7 enterprises in 3 industries. C3421 (machine tools,
// value_added_rates C34: 0.2, E1 its own 0.25): 12 workshops; C1311 (grain milling,
// national default 0.244): 10; C3071 (sanitary ceramics, default 0.275): 8.
var leaderEnts = []leaderEnt{
	{"E1", "360100", "C3421", "0.25", []leaderShop{{id: "s01", intensity: 20}, {id: "s02", intensity: 12}, {id: "s03", intensity: 16},
		{id: "s04", intensity: 12}, {id: "s05", intensity: 30, hours: 20}}},
	{"E2", "360200", "3421", "", []leaderShop{{id: "s06", intensity: 24}, {id: "s07", intensity: 10, conflict: true},
		{id: "s08", intensity: 28}, {id: "s09", intensity: 8, suspect: true}}},
	{"E3", "360100", "C3421", "", []leaderShop{{id: "s10", intensity: 18}, {id: "s11", intensity: 22}, {id: "s12", intensity: 26, noWater: true}}},
	{"F1", "360100", "C1311", "", []leaderShop{{id: "f01", intensity: 4}, {id: "f02", intensity: 6}, {id: "f03", intensity: 8},
		{id: "f04", intensity: 10}, {id: "f05", intensity: 12}, {id: "f06", intensity: 14}, {id: "f09", intensity: 2, hours: 12}}},
	{"F2", "360400", "1311", "", []leaderShop{{id: "f07", intensity: 16}, {id: "f08", intensity: 18}, {id: "f10", intensity: 20}}},
	{"G1", "360200", "C3071", "", []leaderShop{{id: "g01", intensity: 40}, {id: "g02", intensity: 36}, {id: "g03", intensity: 32},
		{id: "g04", intensity: 28}}},
	{"G2", "360200", "C3071", "", []leaderShop{{id: "g05", intensity: 24}, {id: "g06", intensity: 20}, {id: "g07", intensity: 16},
		{id: "g08", intensity: 12, noOutput: true}}},
}

func leaderUSCC(key string) string {
	first := "91360100MA35L00" + key
	c, err := registry.USCCCheck(first)
	if err != nil {
		panic(err)
	}
	return first + string(c)
}

func writeLeaders(t *testing.T, dir string) {
	t.Helper()
	var reg strings.Builder
	reg.WriteString(`regions:
  - {code: "360000", name: 江西省}
  - {code: "360100", name: 南昌市}
  - {code: "360200", name: 景德镇市}
  - {code: "360400", name: 九江市}
value_added_rates: {C34: 0.2}
enterprises:
`)
	var shops strings.Builder
	shops.WriteString("id,name,enterprise\n")
	for _, e := range leaderEnts {
		fmt.Fprintf(&reg, "  - {id: %s, name: 企业%s, region: %q, industry: %q", leaderUSCC(e.key), e.key, e.region, e.industry)
		if e.rate != "" {
			fmt.Fprintf(&reg, ", value_added_rate: %s", e.rate)
		}
		reg.WriteString("}\n")
		for _, s := range e.shops {
			name := "车间" + s.id
			if s.id == "g01" {
				name = "=HYPERLINK(\"http://x\")" // a hostile name: a text cell in CSV
			}
			fmt.Fprintf(&shops, "%s,\"%s\",%s\n", s.id, strings.ReplaceAll(name, `"`, `""`), leaderUSCC(e.key))
		}
	}
	reg.WriteString("workshops_csv: workshops.csv\n")
	files := map[string]string{"registry.yaml": reg.String(), "workshops.csv": shops.String(),
		"tokens.yaml": fmt.Sprintf("tokens:\n  - {name: province, sha256: %s, region: \"360000\"}\n  - {name: nanchang, sha256: %s, region: \"360100\"}\n",
			api.HashToken("tok-province"), api.HashToken("tok-nanchang"))}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// leaderLines: per reported hour 50 parts worth 5000 yuan, intensity ÷ 2 kgce and
// intensity ÷ 32 m³; so over 24 hours 120 000 yuan, 12 × intensity kgce and 0.75 ×
// intensity m³: intensity kgce and intensity ÷ 16 m³ per 10 000 yuan. A conflicting
// workshop has a second instance writing hours 0–2 with 100 kgce per hour (its figures
// are the first instance's, with most windows).
func leaderLines() string {
	var b strings.Builder
	for _, e := range leaderEnts {
		for _, s := range e.shops {
			hours := s.hours
			if hours == 0 {
				hours = 24
			}
			write := func(inst string, h int, energy float64) {
				output := 5000.0
				if s.noOutput {
					output = 0
				}
				fmt.Fprintf(&b, "workshop_kpi,enterprise=%s,gateway_instance=%s,region=%s,window=1h,workshop=%s equipment_total=10,parts=50,"+
					"output_value_yuan=%g,energy_kgce=%g", leaderUSCC(e.key), inst, e.region, s.id, output, energy)
				if !s.noWater {
					fmt.Fprintf(&b, ",water_m3=%g", s.intensity/32)
				}
				if s.suspect && h == 5 {
					b.WriteString(",suspect=1")
				}
				fmt.Fprintf(&b, " %d\n", day.Add(time.Duration(h)*time.Hour).UnixNano())
			}
			for h := range hours {
				write("a-"+s.id, h, s.intensity/2)
			}
			if s.conflict {
				for h := range 3 {
					write("b-"+s.id, h, 100)
				}
			}
		}
	}
	return b.String()
}

// leaderRow formats a row of /api/v1/leaders: id, eligibility and reasons, then per
// metric intensity per output value / per value added, rank, percentile, gap,
// reduction, leader.
func leaderRow(r map[string]any) string {
	st := func(m any) string {
		s := m.(map[string]any)
		return fmt.Sprintf("%v/%v r%v p%v g%v red%v L%v %v", s["per_10k_yuan_output_value"], s["per_10k_yuan_value_added"], s["rank"],
			s["percentile"], s["gap"], s["reduction"], s["leader"], s["unranked"])
	}
	return fmt.Sprintf("%s %v %v | E %s | W %s", r["id"], r["eligible"], r["reasons"], st(r["energy"]), st(r["water"]))
}

func leaderRows(m map[string]any) []string {
	var out []string
	for _, r := range m["rows"].([]any) {
		out = append(out, leaderRow(r.(map[string]any)))
	}
	return out
}

func checkLeaderLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLeaders: /api/v1/leaders and the workshops' benchmarks on VictoriaMetrics (PromQL)
// and InfluxDB 1.8 (InfluxQL), 30 workshops in 3 industries, with figures computed by
// hand (leaderEnts, leaderLines).
func TestLeaders(t *testing.T) {
	dir := t.TempDir()
	writeLeaders(t, dir)
	lines := leaderLines()
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", lines)
	vm.Flush()
	in := testsrv.StartInflux(t, "ganlink")
	post(t, in.URL+"/api/v2/write?bucket=ganlink&org=x", lines)
	for _, be := range []struct{ name, yaml string }{
		{"promql", fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL)},
		{"influxql", fmt.Sprintf("backend: {type: influxql, url: %q, database: ganlink}\n", in.URL)},
	} {
		t.Run(be.name, func(t *testing.T) {
			_, c, _ := startApp(t, dir, be.yaml)
			checkLeaders(t, c)
		})
	}
}

const leaderPeriod = "&from=2024-05-01&to=2024-05-02"

func checkLeaders(t *testing.T, c *client) {
	// C3421, province: eligible s01 s02 s03 s04 s06 s08 s10 s11 s12 (s05 reported 20 of
	// 24 hours: coverage 0.833; s07 in conflict; s09 with a suspect step). Energy sorted
	// 12 12 16 18 20 22 24 26 28: median 20, best ⌈0.1 × 9⌉ = 1 → threshold 12, s02 and
	// s04 tie at it. Percentile = ranked peers strictly higher ÷ 9. Per value added:
	// E1 rate 0.25 (intensity × 4), E2 and E3 0.2 from value_added_rates C34 (× 5).
	// Water = energy ÷ 16; s12 has none: 8 ranked, median (1.125 + 1.25) ÷ 2.
	m := c.json("tok-province", "/api/v1/leaders?industry=C3421"+leaderPeriod)
	wantEnv := map[string]any{
		"industry": map[string]any{"code": "C3421", "level": "class", "section": "C"},
		"rule":     map[string]any{"basis": "output_value", "share": 0.1, "top": 0.0, "min_coverage": 0.9, "min_peers": 3.0},
		"workshops": map[string]any{
			"energy": map[string]any{"ranked": 9.0, "leaders": 2.0, "leaders_wanted": 1.0, "median": 20.0, "threshold": 12.0},
			"water":  map[string]any{"ranked": 8.0, "leaders": 2.0, "leaders_wanted": 1.0, "median": 1.1875, "threshold": 0.75}},
		// Enterprises: E1 has s05 (coverage 0.833), E2 s07 (conflict) and s09 (suspect):
		// only E3 is ranked, fewer than min_peers 3, no threshold. E3's water: s12 has
		// no meter, so none.
		"enterprises": map[string]any{
			"energy": map[string]any{"ranked": 1.0, "leaders": 0.0, "leaders_wanted": 0.0, "median": 22.0, "threshold": nil},
			"water":  map[string]any{"ranked": 0.0, "leaders": 0.0, "leaders_wanted": 0.0, "median": nil, "threshold": nil}},
		"expected_windows": 24.0,
	}
	if got := pickMap(m, "industry", "rule", "workshops", "enterprises", "expected_windows"); !reflect.DeepEqual(got, wantEnv) {
		t.Errorf("C3421 envelope:\ngot  %v\nwant %v", got, wantEnv)
	}
	checkLeaderLines(t, "C3421 province", leaderRows(m), []string{
		"s02 true [] | E 12/48 r1 p0.777777778 g0 red0 Ltrue  | W 0.75/3 r1 p0.75 g0 red0 Ltrue ",
		"s04 true [] | E 12/48 r1 p0.777777778 g0 red0 Ltrue  | W 0.75/3 r1 p0.75 g0 red0 Ltrue ",
		"s03 true [] | E 16/64 r3 p0.666666667 g4 red0.25 Lfalse  | W 1/4 r3 p0.625 g0.25 red0.25 Lfalse ",
		"s10 true [] | E 18/90 r4 p0.555555556 g6 red0.333333333 Lfalse  | W 1.125/5.625 r4 p0.5 g0.375 red0.333333333 Lfalse ",
		"s01 true [] | E 20/80 r5 p0.444444444 g8 red0.4 Lfalse  | W 1.25/5 r5 p0.375 g0.5 red0.4 Lfalse ",
		"s11 true [] | E 22/110 r6 p0.333333333 g10 red0.454545455 Lfalse  | W 1.375/6.875 r6 p0.25 g0.625 red0.454545455 Lfalse ",
		"s06 true [] | E 24/120 r7 p0.222222222 g12 red0.5 Lfalse  | W 1.5/7.5 r7 p0.125 g0.75 red0.5 Lfalse ",
		"s12 true [] | E 26/130 r8 p0.111111111 g14 red0.538461538 Lfalse  | W <nil>/<nil> r<nil> p<nil> g<nil> red<nil> Lfalse no_data",
		"s08 true [] | E 28/140 r9 p0 g16 red0.571428571 Lfalse  | W 1.75/8.75 r8 p0 g1 red0.571428571 Lfalse ",
		"s05 false [low_coverage] | E 30/120 r<nil> p0 g18 red0.6 Lfalse not_eligible | W 1.875/7.5 r<nil> p0 g1.125 red0.6 Lfalse not_eligible",
		"s07 false [conflict] | E 10/50 r<nil> p1 g-2 red0 Lfalse not_eligible | W 0.625/3.125 r<nil> p1 g-0.125 red0 Lfalse not_eligible",
		"s09 false [suspect_steps] | E 8/40 r<nil> p1 g-4 red0 Lfalse not_eligible | W 0.5/2.5 r<nil> p1 g-0.25 red0 Lfalse not_eligible",
		// E3: (18 + 22 + 26) × 12 kgce ÷ 36 (× 10 000 yuan) = 22; per value added ÷ 0.2.
		"" + leaderUSCC("E3") + " true [] | E 22/110 r1 p0 g<nil> red<nil> Lfalse  | W <nil>/<nil> r<nil> p<nil> g<nil> red<nil> Lfalse no_data",
		// E1: (20 + 12 + 16 + 12) × 12 + 30 × 10 = 1020 kgce ÷ 58 = 17.586206897 (÷ 0.25
		// per value added), water (15 + 9 + 12 + 9 + 18.75) ÷ 58; percentile against E3.
		// E2: (24 + 10 + 28 + 8) × 12 ÷ 48 = 17.5.
		leaderUSCC("E1") + " false [low_coverage] | E 17.586206897/70.344827586 r<nil> p1 g<nil> red<nil> Lfalse not_eligible | W 1.099137931/4.396551724 r<nil> p<nil> g<nil> red<nil> Lfalse not_eligible",
		leaderUSCC("E2") + " false [conflict suspect_steps] | E 17.5/87.5 r<nil> p1 g<nil> red<nil> Lfalse not_eligible | W 1.09375/5.46875 r<nil> p<nil> g<nil> red<nil> Lfalse not_eligible",
	})
	first := m["rows"].([]any)[0].(map[string]any)
	if got := pickMap(first, "kind", "enterprise", "industry", "region", "value_added_rate", "value_added_rate_from", "output_value_yuan",
		"value_added_yuan", "energy_kgce", "water_m3", "coverage", "conflict", "suspect_steps"); !reflect.DeepEqual(got, map[string]any{
		"kind": "workshop", "enterprise": leaderUSCC("E1"), "industry": "C3421", "region": "360100", "value_added_rate": 0.25,
		"value_added_rate_from": "enterprise", "output_value_yuan": 120000.0, "value_added_yuan": 30000.0, "energy_kgce": 144.0,
		"water_m3": 9.0, "coverage": 1.0, "conflict": false, "suspect_steps": 0.0}) {
		t.Errorf("s02 row: %v", got)
	}

	// The division and the section select by prefix: C34 is C3421 here; C is all three
	// manufacturing classes (30 workshops, 7 enterprises), ranked together.
	if d := c.json("tok-province", "/api/v1/leaders?industry=34"+leaderPeriod); !reflect.DeepEqual(leaderRows(d), leaderRows(m)) ||
		!reflect.DeepEqual(d["industry"], map[string]any{"code": "C34", "level": "division", "section": "C"}) {
		t.Errorf("industry=34: %v", d["industry"])
	}
	sec := c.json("tok-province", "/api/v1/leaders?industry=C"+leaderPeriod)
	if n := len(sec["rows"].([]any)); n != 37 {
		t.Errorf("industry=C: %d rows, want 30 workshops + 7 enterprises", n)
	}
	// C1311 (9 eligible: f09 covered 12 of 24 hours) and C3071 (7: g08 has no output).
	if got := pickMap(sec["workshops"].(map[string]any), "energy")["energy"].(map[string]any)["ranked"]; got != 25.0 {
		t.Errorf("industry=C: %v energy ranked, want 9 + 9 + 7", got)
	}
	g := c.json("tok-province", "/api/v1/leaders?industry=C3071"+leaderPeriod)
	if got := g["workshops"].(map[string]any)["energy"]; !reflect.DeepEqual(got, map[string]any{"ranked": 7.0, "leaders": 1.0,
		"leaders_wanted": 1.0, "median": 28.0, "threshold": 16.0}) {
		t.Errorf("C3071 energy: %v", got)
	}
	checkLeaderLines(t, "C3071 no output", leaderRows(g)[7:8], []string{
		"g08 false [no_output] | E <nil>/<nil> r<nil> p<nil> g<nil> red<nil> Lfalse not_eligible | W <nil>/<nil> r<nil> p<nil> g<nil> red<nil> Lfalse not_eligible"})

	// A city token sees and ranks its city's workshops only: C1311 in 360100 is F1's
	// f01–f06 (ranked: 4 6 8 10 12 14, median 9, threshold 4) and f09 (low coverage).
	f := c.json("tok-nanchang", "/api/v1/leaders?industry=C1311"+leaderPeriod)
	if got := f["workshops"].(map[string]any)["energy"]; !reflect.DeepEqual(got, map[string]any{"ranked": 6.0, "leaders": 1.0,
		"leaders_wanted": 1.0, "median": 9.0, "threshold": 4.0}) {
		t.Errorf("nanchang C1311 energy: %v", got)
	}
	checkLeaderLines(t, "nanchang C1311", leaderRows(f), []string{
		"f01 true [] | E 4/16.393442623 r1 p0.833333333 g0 red0 Ltrue  | W 0.25/1.024590164 r1 p0.833333333 g0 red0 Ltrue ",
		"f02 true [] | E 6/24.590163934 r2 p0.666666667 g2 red0.333333333 Lfalse  | W 0.375/1.536885246 r2 p0.666666667 g0.125 red0.333333333 Lfalse ",
		"f03 true [] | E 8/32.786885246 r3 p0.5 g4 red0.5 Lfalse  | W 0.5/2.049180328 r3 p0.5 g0.25 red0.5 Lfalse ",
		"f04 true [] | E 10/40.983606557 r4 p0.333333333 g6 red0.6 Lfalse  | W 0.625/2.56147541 r4 p0.333333333 g0.375 red0.6 Lfalse ",
		"f05 true [] | E 12/49.180327869 r5 p0.166666667 g8 red0.666666667 Lfalse  | W 0.75/3.073770492 r5 p0.166666667 g0.5 red0.666666667 Lfalse ",
		"f06 true [] | E 14/57.37704918 r6 p0 g10 red0.714285714 Lfalse  | W 0.875/3.586065574 r6 p0 g0.625 red0.714285714 Lfalse ",
		"f09 false [low_coverage] | E 2/8.196721311 r<nil> p1 g-2 red0 Lfalse not_eligible | W 0.125/0.512295082 r<nil> p1 g-0.125 red0 Lfalse not_eligible",
		// F1: f09 covered 0.5, so the enterprise is not eligible: (4 + 6 + … + 14) × 12 + 12
		// = 660 kgce ÷ 78 (× 10 000 yuan) = 8.461538462, ÷ 0.244 per value added; water
		// (40.5 + 0.75) ÷ 78.
		leaderUSCC("F1") + " false [low_coverage] | E 8.461538462/34.678436318 r<nil> p<nil> g<nil> red<nil> Lfalse not_eligible | W 0.528846154/2.16740227 r<nil> p<nil> g<nil> red<nil> Lfalse not_eligible",
	})
	if e := f["rows"].([]any)[0].(map[string]any); e["value_added_rate"] != 0.244 || e["value_added_rate_from"] != "default C13" {
		t.Errorf("f01 rate %v from %v", e["value_added_rate"], e["value_added_rate_from"])
	}
	if g := c.json("tok-nanchang", "/api/v1/leaders?industry=C3071"+leaderPeriod); len(g["rows"].([]any)) != 0 {
		t.Errorf("nanchang sees C3071 rows of 360200: %v", g["rows"])
	}
	for _, tt := range []struct {
		token, path string
		code        int
		body        string
	}{
		{"tok-nanchang", "/api/v1/leaders?industry=C3071&region=360200" + leaderPeriod, 403,
			`{"error":"region \"360200\" is outside the scope of token \"nanchang\" (region 360100)"}`},
		{"tok-province", "/api/v1/leaders?" + leaderPeriod[1:], 400,
			`{"error":"industry: required (a GB/T 4754-2017 section C, division C34, group C341 or class C3411)"}`},
		{"tok-province", "/api/v1/leaders?industry=D3421" + leaderPeriod, 400,
			`{"error":"industry: invalid industry code \"D3421\": division 34 is in section C, not D"}`},
		{"tok-province", "/api/v1/leaders?industry=C3421&park=x" + leaderPeriod, 400, `{"error":"unknown parameter \"park\""}`},
		{"", "/api/v1/leaders?industry=C3421", 401, `{"error":"missing bearer token"}`},
	} {
		code, _, b := c.get(tt.token, tt.path)
		if code != tt.code || strings.TrimSpace(string(b)) != tt.body {
			t.Errorf("GET %s: %d %s, want %d %s", tt.path, code, b, tt.code, tt.body)
		}
	}

	// CSV: one line per row, nested fields as columns, the hostile name as text.
	code, hdr, b := c.get("tok-province", "/api/v1/leaders?industry=C3071&format=csv"+leaderPeriod)
	csvLines := strings.Split(strings.TrimSpace(strings.TrimPrefix(string(b), "\uFEFF")), "\n")
	if code != 200 || hdr.Get("Content-Type") != "text/csv; charset=utf-8" || len(csvLines) != 1+8+2 {
		t.Fatalf("csv: %d %s %d lines:\n%s", code, hdr.Get("Content-Type"), len(csvLines), b)
	}
	wantHeader := "kind,id,name,enterprise,industry,region,park,value_added_rate_from,value_added_rate,output_value_yuan,value_added_yuan," +
		"energy_kgce,water_m3,coverage,conflict,suspect_steps,eligible,reasons," +
		"energy.per_10k_yuan_output_value,energy.per_10k_yuan_value_added,energy.rank,energy.ranked,energy.percentile,energy.leader," +
		"energy.median,energy.threshold,energy.gap,energy.reduction,energy.unranked," +
		"water.per_10k_yuan_output_value,water.per_10k_yuan_value_added,water.rank,water.ranked,water.percentile,water.leader," +
		"water.median,water.threshold,water.gap,water.reduction,water.unranked"
	if csvLines[0] != wantHeader {
		t.Errorf("csv header:\n%s\nwant:\n%s", csvLines[0], wantHeader)
	}
	// g07 is the best (16); g01, named like a formula, the worst (40).
	wantG01 := "workshop,g01,\"'=HYPERLINK(\"\"http://x\"\")\"," + leaderUSCC("G1") + ",C3071,360200,,default C30,0.275,120000,33000,480,30,1,false,0,true,," +
		"40,145.454545455,7,7,0,false,28,16,24,0.6,,2.5,9.090909091,7,7,0,false,1.75,1,1.5,0.6,"
	if csvLines[7] != wantG01 {
		t.Errorf("csv g01:\n%s\nwant:\n%s", csvLines[7], wantG01)
	}

	// /api/v1/workshops: each workshop's benchmark within its class and the request's
	// region; the KPIs per value added next to those per output value.
	w := c.json("tok-province", "/api/v1/workshops?enterprise="+leaderUSCC("E1")+leaderPeriod)
	var bench []string
	for _, r := range w["rows"].([]any) {
		r := r.(map[string]any)
		bm := r["benchmark"].(map[string]any)
		en := bm["energy"].(map[string]any)
		bench = append(bench, fmt.Sprintf("%s %s %v %v r%v p%v median %v threshold %v gap %v red %v | %v %v %v", r["workshop"], bm["industry"],
			bm["eligible"], bm["reasons"], en["rank"], en["percentile"], en["median"], en["threshold"], en["gap"], en["reduction"],
			r["value_added_yuan"], r["energy_kgce_per_10k_yuan"], r["energy_kgce_per_10k_yuan_value_added"]))
	}
	checkLeaderLines(t, "workshops benchmark", bench, []string{
		"s01 C3421 true [] r5 p0.444444444 median 20 threshold 12 gap 8 red 0.4 | 30000 20 80",
		"s02 C3421 true [] r1 p0.777777778 median 20 threshold 12 gap 0 red 0 | 30000 12 48",
		"s03 C3421 true [] r3 p0.666666667 median 20 threshold 12 gap 4 red 0.25 | 30000 16 64",
		"s04 C3421 true [] r1 p0.777777778 median 20 threshold 12 gap 0 red 0 | 30000 12 48",
		"s05 C3421 false [low_coverage] r<nil> p0 median 20 threshold 12 gap 18 red 0.6 | 25000 30 120",
	})
	// The enterprise roll-up: 1020 kgce ÷ (580 000 yuan × 0.25 ÷ 10 000).
	k := c.json("tok-province", "/api/v1/kpi/enterprises?enterprise="+leaderUSCC("E1")+leaderPeriod)
	row := k["rows"].([]any)[0].(map[string]any)
	if row["value_added_yuan"] != 145000.0 || math.Abs(row["energy_kgce_per_10k_yuan_value_added"].(float64)-1020/14.5) > 1e-9 ||
		math.Abs(row["water_m3_per_10k_yuan_value_added"].(float64)-63.75/14.5) > 1e-9 {
		t.Errorf("E1 roll-up: value added %v, energy %v, water %v", row["value_added_yuan"], row["energy_kgce_per_10k_yuan_value_added"],
			row["water_m3_per_10k_yuan_value_added"])
	}
}

// TestLeadersRule: each key of rules.leaders changes the ranking (VictoriaMetrics).
func TestLeadersRule(t *testing.T) {
	dir := t.TempDir()
	writeLeaders(t, dir)
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", leaderLines())
	vm.Flush()
	be := fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL)
	for _, tt := range []struct {
		name, rule string
		want       map[string]any
		s05        string
	}{
		// Default: 9 ranked, the best 1, threshold 12 (two tied leaders), s05 not eligible.
		{"default", "", map[string]any{"ranked": 9.0, "leaders": 2.0, "leaders_wanted": 1.0, "median": 20.0, "threshold": 12.0}, "false"},
		// min_coverage 0.8 admits s05 (20 of 24 hours, 0.833): 10 ranked, median (20 +
		// 22) ÷ 2; share 0.25: the best ⌈2.5⌉ = 3, threshold 16.
		{"share and min_coverage", "{share: 0.25, min_coverage: 0.8}",
			map[string]any{"ranked": 10.0, "leaders": 3.0, "leaders_wanted": 3.0, "median": 21.0, "threshold": 16.0}, "true"},
		// Per value added (E1 × 4, E2 and E3 × 5): 48 48 64 80 90 110 120 130 140; the
		// best 3: threshold 64.
		{"top and basis", "{top: 3, basis: value_added}",
			map[string]any{"ranked": 9.0, "leaders": 3.0, "leaders_wanted": 3.0, "median": 90.0, "threshold": 64.0}, "false"},
		// 9 ranked are fewer than min_peers 10: no threshold, no leader.
		{"min_peers", "{min_peers: 10}",
			map[string]any{"ranked": 9.0, "leaders": 0.0, "leaders_wanted": 0.0, "median": 20.0, "threshold": nil}, "false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			yml := be
			if tt.rule != "" {
				yml += "rules: {leaders: " + tt.rule + "}\n"
			}
			_, c, _ := startApp(t, dir, yml)
			m := c.json("tok-province", "/api/v1/leaders?industry=C3421"+leaderPeriod)
			if got := m["workshops"].(map[string]any)["energy"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("energy benchmark %v, want %v", got, tt.want)
			}
			for _, r := range m["rows"].([]any) {
				if r := r.(map[string]any); r["id"] == "s05" && fmt.Sprint(r["eligible"]) != tt.s05 {
					t.Errorf("s05 eligible %v, want %s", r["eligible"], tt.s05)
				}
			}
		})
	}
}
