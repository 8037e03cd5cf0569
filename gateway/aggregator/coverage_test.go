package aggregator

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// coverageDir writes a registry of two workshops of one enterprise and a token for the
// province.
func coverageDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"registry.yaml": `regions:
  - {code: "360000", name: 江西省}
  - {code: "360100", name: 南昌市}
enterprises: [{id: 91360100MA35HT001T, name: 甲, region: "360100"}]
workshops:
  - {id: w1, name: 一车间, enterprise: 91360100MA35HT001T}
  - {id: w2, name: 二车间, enterprise: 91360100MA35HT001T}
`,
		"tokens.yaml": fmt.Sprintf("tokens:\n  - {name: province, sha256: %s, region: \"360000\"}\n", api.HashToken("tok")),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// coverageLines: w1 reports two hourly windows; in the first its gateway delivered data
// for 36 of 60 minutes (unknown_s 1440), in the second for all of it. w2 reports every
// hour of the day, fully observed. Both meet every other criterion.
func coverageLines() string {
	var b strings.Builder
	shop := func(id string, h int, running, unknown float64) {
		ts := day.Add(time.Duration(h) * time.Hour).UnixNano()
		fmt.Fprintf(&b, "workshop_kpi,enterprise=91360100MA35HT001T,region=360100,window=1h,workshop=%s equipment_total=10,equipment_key=5,"+
			"equipment_cnc_key=4,equipment_digital=8,equipment_networked=8,parts=10 %d\n", id, ts)
		fmt.Fprintf(&b, "device_kpi,device=d1,enterprise=91360100MA35HT001T,region=360100,window=1h,workshop=%s "+
			"running_s=%g,idle_s=0,setup_s=0,alarm_s=0,offline_s=0,unknown_s=%g %d\n", id, running, unknown, ts)
	}
	shop("w1", 0, 2160, 1440)
	shop("w1", 1, 3600, 0)
	for h := range 24 {
		shop("w2", h, 3600, 0)
	}
	return b.String()
}

// TestCoverageObservedTime: coverage is the observed share of the period, not the
// share of windows; the 千 rule uses it; the default period is the month to date and
// periods past the settled data are clipped or refused.
func TestCoverageObservedTime(t *testing.T) {
	dir := coverageDir(t)
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", coverageLines())
	vm.Flush()
	// The clock is 2024-05-02 00:10 (UTC+8): the settled data end at 00:00.
	_, c, _ := startApp(t, dir, fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL))
	keys := []string{"workshop", "windows", "window_coverage", "unobserved_share", "coverage", "qualified", "missed"}

	// The first hour: one window of one reported, observed 36 of 60 minutes.
	m := c.json("tok", "/api/v1/workshops?from=2024-05-01T00:00&to=2024-05-01T01:00")
	checkRows(t, "first hour", pick(m["rows"], keys...), []map[string]any{
		{"workshop": "w1", "windows": 1.0, "window_coverage": 1.0, "unobserved_share": 0.4, "coverage": 0.6, "qualified": false,
			"missed": []any{"data_coverage"}},
		{"workshop": "w2", "windows": 1.0, "window_coverage": 1.0, "unobserved_share": 0.0, "coverage": 1.0, "qualified": true,
			"missed": []any{}},
	})
	crit := m["rows"].([]any)[0].(map[string]any)["criteria"].(map[string]any)["data_coverage"]
	if want := map[string]any{"value": 0.6, "threshold": 0.9, "met": false, "margin": -0.3, "reason": ""}; !reflect.DeepEqual(crit, want) {
		t.Errorf("w1 data_coverage = %v, want %v", crit, want)
	}
	// Two hours: 2 of 2 windows, 1440 of 7200 device-seconds unknown: 0.8.
	m = c.json("tok", "/api/v1/workshops?from=2024-05-01T00:00&to=2024-05-01T02:00")
	checkRows(t, "two hours", pick(m["rows"], keys...)[:1], []map[string]any{
		{"workshop": "w1", "windows": 2.0, "window_coverage": 1.0, "unobserved_share": 0.2, "coverage": 0.8, "qualified": false,
			"missed": []any{"data_coverage"}},
	})
	p := c.json("tok", "/api/v1/programme?from=2024-05-01T00:00&to=2024-05-01T01:00")
	if got := p["progress"].(map[string]any)["digital_workshops"].(map[string]any)["value"]; got != 1.0 {
		t.Errorf("first hour: 千 = %v, want 1 (w2 only)", got)
	}

	// The default period: the month to date, 2024-05-01 00:00 to the settled end.
	m = c.json("tok", "/api/v1/workshops")
	if m["from"] != "2024-05-01T00:00:00+08:00" || m["to"] != "2024-05-02T00:00:00+08:00" || m["expected_windows"] != 24.0 ||
		m["clipped_from_to"] != nil {
		t.Errorf("default period: from %v to %v expected %v clipped %v", m["from"], m["to"], m["expected_windows"], m["clipped_from_to"])
	}
	checkRows(t, "default period", pick(m["rows"], keys...), []map[string]any{
		{"workshop": "w1", "windows": 2.0, "window_coverage": 0.083333333, "unobserved_share": 0.2, "coverage": 0.066666667,
			"qualified": false, "missed": []any{"data_coverage"}},
		{"workshop": "w2", "windows": 24.0, "window_coverage": 1.0, "unobserved_share": 0.0, "coverage": 1.0, "qualified": true,
			"missed": []any{}},
	})
	p = c.json("tok", "/api/v1/programme")
	if p["from"] != "2024-05-01T00:00:00+08:00" || p["to"] != "2024-05-02T00:00:00+08:00" {
		t.Errorf("programme default period: %v to %v", p["from"], p["to"])
	}
	// Only to: the calendar month before it (here: April, no data).
	m = c.json("tok", "/api/v1/workshops?to=2024-05-01")
	if m["from"] != "2024-04-01T00:00:00+08:00" || m["to"] != "2024-05-01T00:00:00+08:00" || m["expected_windows"] != 720.0 {
		t.Errorf("to only: from %v to %v expected %v", m["from"], m["to"], m["expected_windows"])
	}

	// A period past the settled data is clipped, and the response says so.
	m = c.json("tok", "/api/v1/workshops?from=2024-05-01&to=2024-05-03")
	if m["from"] != "2024-05-01T00:00:00+08:00" || m["to"] != "2024-05-02T00:00:00+08:00" ||
		m["clipped_from_to"] != "2024-05-03T00:00:00+08:00" ||
		m["note"] != "to is after the end of the settled data: the period was clipped to end there" || m["expected_windows"] != 24.0 {
		t.Errorf("clipped: from %v to %v clipped %v note %q expected %v", m["from"], m["to"], m["clipped_from_to"], m["note"], m["expected_windows"])
	}
	// With buckets: clipped to a whole number of steps (4 × 5h of the 30 asked for).
	m = c.json("tok", "/api/v1/kpi/regions?from=2024-05-01&to=2024-05-02T06:00&step=5h")
	if m["to"] != "2024-05-01T20:00:00+08:00" || m["clipped_from_to"] != "2024-05-02T06:00:00+08:00" {
		t.Errorf("clipped with step: to %v clipped %v", m["to"], m["clipped_from_to"])
	}
	for _, tt := range []struct{ path, want string }{
		{"/api/v1/workshops?from=2024-05-02&to=2024-05-03",
			`{"error":"from 2024-05-02T00:00:00+08:00 is not before the end of the settled data 2024-05-02T00:00:00+08:00: the period lies in the future"}`},
		{"/api/v1/programme?from=2024-06-01T00:00&to=2024-06-02T00:00",
			`{"error":"from 2024-06-01T00:00:00+08:00 is not before the end of the settled data 2024-05-02T00:00:00+08:00: the period lies in the future"}`},
		{"/api/v1/kpi/regions?from=2024-05-01T20:00&to=2024-05-02T06:00&step=5h",
			`{"error":"from 2024-05-01T20:00:00+08:00: no whole step of 5h0m0s ends before the end of the settled data 2024-05-02T00:00:00+08:00"}`},
	} {
		code, _, b := c.get("tok", tt.path)
		if code != 400 || strings.TrimSpace(string(b)) != tt.want {
			t.Errorf("GET %s: %d %s, want 400 %s", tt.path, code, b, tt.want)
		}
	}
}
