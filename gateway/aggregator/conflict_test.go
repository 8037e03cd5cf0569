package aggregator

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/service"
	"github.com/ganlink/ganlink/internal/testsrv"
	igtu "github.com/ganlink/ganlink/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	instA = "aaaaaaaaaaaaaaa1"
	instB = "bbbbbbbbbbbbbbb2"
	instC = "ccccccccccccccc3"
	instD = "ddddddddddddddd4"
	instE = "eeeeeeeeeeeeeee5"
	instF = "fffffffffffffff6"
	instG = "0000000000000007"
)

// conflictLines: E1-w01 written by two instances (A all 24 hours with 100 parts per
// window, B hours 10 to 19 with 52 parts per window), E1-w02 by one instance (C, 24
// hours, 100 parts per window), E1-w03 by D (hours 0 to 11, 100 parts) and then E
// (hours 12 to 23, 30 parts): a succession, E1-w04 by F (hours 0 to 9, 10 parts) and
// G (hours 5 to 14, 20 parts): a conflict with a tie.
func conflictLines() string {
	var b strings.Builder
	shop := func(shop, inst string, from, to int, parts float64) {
		for h := from; h < to; h++ {
			fmt.Fprintf(&b, "workshop_kpi,enterprise=%s,gateway_instance=%s,park=nc-base,region=360102,window=1h,workshop=%s "+
				"equipment_total=20,equipment_key=10,equipment_cnc_key=7,equipment_digital=16,equipment_networked=15,"+
				"parts=%g,output_value_yuan=%g,energy_kwh=10,energy_kgce=1.229 %d\n",
				uscc("E1"), inst, shop, parts, parts*150, day.Add(time.Duration(h)*time.Hour).UnixNano())
		}
	}
	shop("E1-w01", instA, 0, 24, 100)
	shop("E1-w01", instB, 10, 20, 52)
	shop("E1-w02", instC, 0, 24, 100)
	shop("E1-w03", instD, 0, 12, 100)
	shop("E1-w03", instE, 12, 24, 30)
	shop("E1-w04", instF, 0, 10, 10)
	shop("E1-w04", instG, 5, 15, 20)
	return b.String()
}

// TestWorkshopConflict: a workshop written by two gateway instances is flagged in
// /api/v1/workshops with both instances, its figures are those of the instance with
// most windows alone (never summed), the enterprise's roll-up holds each workshop once,
// a log line names it and the write-back sets the conflict metrics; with VictoriaMetrics
// (PromQL) and InfluxDB 1.8 (InfluxQL).
func TestWorkshopConflict(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	lines := conflictLines()
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
			var logs igtu.LogBuffer
			a, c, reg := startConflictApp(t, dir, be.yaml, &logs)
			m := c.json("tok-province", "/api/v1/workshops?enterprise="+uscc("E1")+"&"+period)
			rows := m["rows"].([]any)
			got := map[string]map[string]any{}
			for _, r := range rows {
				r := r.(map[string]any)
				got[r["workshop"].(string)] = r
			}
			w1, w2, w3, w4 := got["E1-w01"], got["E1-w02"], got["E1-w03"], got["E1-w04"]
			if w1 == nil || w2 == nil || w3 == nil || w4 == nil {
				t.Fatalf("rows: %v", rows)
			}
			// E1-w03: D then E, 12 + 12 windows, 1200 + 360 parts, no conflict.
			if w3["windows"] != 24.0 || w3["parts"] != 1560.0 {
				t.Errorf("E1-w03 windows %v parts %v, want 24 and 1560", w3["windows"], w3["parts"])
			}
			// E1-w04: F and G 10 windows each; G's id is the smaller: G counts.
			if w4["windows"] != 10.0 || w4["parts"] != 200.0 {
				t.Errorf("E1-w04 windows %v parts %v, want 10 and 200", w4["windows"], w4["parts"])
			}
			// A: 24 windows, 2400 parts; B (10 windows, 520 parts) is not added.
			for k, want := range map[string]any{"windows": 24.0, "parts": 2400.0, "output_value_yuan": 360000.0} {
				if w1[k] != want || w2[k] != want {
					t.Errorf("%s: E1-w01 %v, E1-w02 %v, want %v", k, w1[k], w2[k], want)
				}
			}
			cov := w1["criteria"].(map[string]any)["data_coverage"].(map[string]any)["value"]
			if cov != 1.0 {
				t.Errorf("E1-w01 data_coverage = %v, want 1", cov)
			}
			wantConflict := map[string]any{"active": true, "instances": []any{instA, instB}, "counted": instA,
				"since": "2024-05-01T10:00:00+08:00"}
			if fmt.Sprint(w1["conflict"]) != fmt.Sprint(wantConflict) {
				t.Errorf("E1-w01 conflict = %v, want %v", w1["conflict"], wantConflict)
			}
			noConflict := map[string]any{"active": false, "instances": []any{}, "counted": "", "since": nil}
			for _, w := range []map[string]any{w2, w3} {
				if fmt.Sprint(w["conflict"]) != fmt.Sprint(noConflict) {
					t.Errorf("%s conflict = %v, want %v", w["workshop"], w["conflict"], noConflict)
				}
			}
			tie := map[string]any{"active": true, "instances": []any{instG, instF}, "counted": instG,
				"since": "2024-05-01T05:00:00+08:00"}
			if fmt.Sprint(w4["conflict"]) != fmt.Sprint(tie) {
				t.Errorf("E1-w04 conflict = %v, want %v", w4["conflict"], tie)
			}
			// The enterprise roll-up: 2400 + 2400 + 1560 + 200 parts, not 2400 + 520 + 2400 + 1560 + 100 + 200.
			e := c.json("tok-province", "/api/v1/kpi/enterprises?enterprise="+uscc("E1")+"&"+period)["rows"].([]any)
			if len(e) != 1 || e[0].(map[string]any)["parts"] != 6560.0 {
				t.Errorf("enterprise E1 rows = %v, want parts 6560", e)
			}
			wantLog := `level=ERROR msg="workshop written by more than one gateway instance: only the counted instance's figures are used" workshop=E1-w01 instances=` +
				instA + "," + instB + " counted=" + instA + " from=2024-05-01T00:00:00+08:00 to=2024-05-02T00:00:00+08:00 since=2024-05-01T10:00:00+08:00"
			wantLog4 := `level=ERROR msg="workshop written by more than one gateway instance: only the counted instance's figures are used" workshop=E1-w04 instances=` +
				instG + "," + instF + " counted=" + instG + " from=2024-05-01T00:00:00+08:00 to=2024-05-02T00:00:00+08:00 since=2024-05-01T05:00:00+08:00"
			if strings.Count(logs.String(), wantLog) != 1 || strings.Count(logs.String(), wantLog4) != 1 || strings.Count(logs.String(), "\n") != 2 {
				t.Errorf("log, want once each\n%s\n%s\ngot\n%s", wantLog, wantLog4, logs.String())
			}
			if _, err := a.Service().WriteBackPoints(context.Background(), service.Period{From: day, To: day.Add(24 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ganlink_aggregator_workshop_conflict_instances Gateway instances that wrote the registered workshop in the last write-back period, for the workshops in conflict.
# TYPE ganlink_aggregator_workshop_conflict_instances gauge
ganlink_aggregator_workshop_conflict_instances{workshop="E1-w01"} 2
ganlink_aggregator_workshop_conflict_instances{workshop="E1-w04"} 2
# HELP ganlink_aggregator_workshop_conflicts Registered workshops written by more than one gateway instance in the last write-back period (docs/aggregator.md, Conflicts).
# TYPE ganlink_aggregator_workshop_conflicts gauge
ganlink_aggregator_workshop_conflicts 2
`), "ganlink_aggregator_workshop_conflicts", "ganlink_aggregator_workshop_conflict_instances"); err != nil {
				t.Error(err)
			}
		})
	}
}

// startConflictApp is startApp with the log kept in logs.
func startConflictApp(t *testing.T, dir, backendYAML string, logs *igtu.LogBuffer) (*App, *client, *prometheus.Registry) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	return startAppLog(t, dir, backendYAML, log)
}
