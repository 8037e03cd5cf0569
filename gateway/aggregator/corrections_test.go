package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/service"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// corrDir writes a registry of two cities — w1 and w2 in Nanchang (360100), w3 in
// Jiujiang (360400) — and four tokens: the province and Nanchang may record
// corrections, Jiujiang and a read-only province token may not.
func corrDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"registry.yaml": `regions:
  - {code: "360000", name: 江西省}
  - {code: "360100", name: 南昌市}
  - {code: "360400", name: 九江市}
enterprises:
  - {id: 91360100MA35HT001T, name: 甲, region: "360100"}
  - {id: 91360400MA35HT002D, name: 乙, region: "360400"}
workshops:
  - {id: w1, name: 一车间, enterprise: 91360100MA35HT001T}
  - {id: w2, name: 二车间, enterprise: 91360100MA35HT001T}
  - {id: w3, name: 三车间, enterprise: 91360400MA35HT002D}
`,
		"tokens.yaml": fmt.Sprintf(`tokens:
  - {name: province, sha256: %s, region: "360000", corrections: true}
  - {name: nanchang, sha256: %s, region: "360100", corrections: true}
  - {name: jiujiang, sha256: %s, region: "360400"}
`, api.HashToken("tok-p"), api.HashToken("tok-nc"), api.HashToken("tok-jj")),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// corrLines: four hourly windows from 00:00 of the test day. w1 makes 10, 20, 30, 40
// parts and 100, 200, 300, 400 kWh, with 2 suspect steps at 01:00 and 5 at 03:00; w2
// one part an hour; w3 100 parts an hour. Gateway corrections: g-w3 leaves w3's 02:00
// window out; g-w2 (for w2's 00:00 window) is revoked by a second point; r-w2 is a
// counter replacement (leaves nothing out).
func corrLines() string {
	var b strings.Builder
	shop := func(id, region, ent string, h int, parts, kwh, suspect float64) {
		ts := day.Add(time.Duration(h) * time.Hour).UnixNano()
		sus := ""
		if suspect > 0 {
			sus = fmt.Sprintf(",%s=%g", schema.FieldSuspect, suspect)
		}
		fmt.Fprintf(&b, "%s,enterprise=%s,region=%s,window=1h,workshop=%s equipment_total=10,equipment_key=5,"+
			"equipment_cnc_key=4,equipment_digital=8,equipment_networked=8,parts=%g,energy_kwh=%g,output_value_yuan=%g%s %d\n",
			schema.WorkshopKPI, ent, region, id, parts, kwh, parts*100, sus, ts)
		fmt.Fprintf(&b, "%s,device=d1,enterprise=%s,region=%s,smart=1,vendor=v1,window=1h,workshop=%s "+
			"running_s=3600,idle_s=0,setup_s=0,alarm_s=0,offline_s=0,unknown_s=0 %d\n", schema.DeviceKPI, ent, region, id, ts)
	}
	for h := range 4 {
		sus := 0.0
		switch h {
		case 1:
			sus = 2
		case 3:
			sus = 5
		}
		shop("w1", "360100", "91360100MA35HT001T", h, float64(10*(h+1)), float64(100*(h+1)), sus)
		shop("w2", "360100", "91360100MA35HT001T", h, 1, 10, 0)
		shop("w3", "360400", "91360400MA35HT002D", h, 100, 50, 0)
	}
	corr := func(id, kind, shop, region string, from, until time.Time, active int, at time.Time) {
		fmt.Fprintf(&b, "%s,%s=%s,%s=%s,%s=gw-ops,%s=test\\ run,%s=inst-1,region=%s,workshop=%s %s=%d,%s=%d %d\n",
			schema.Correction, schema.TagCorrection, id, schema.TagCorrectionKind, kind, schema.TagBy, schema.TagReason,
			schema.TagInstance, region, shop, schema.FieldUntil, until.Unix(), schema.FieldActive, active, at.UnixNano())
	}
	h := func(n int) time.Time { return day.Add(time.Duration(n) * time.Hour) }
	corr("g-w3", schema.CorrectionInvalid, "w3", "360400", h(2), h(3), 1, h(2))
	corr("g-w2", schema.CorrectionInvalid, "w2", "360100", h(0), h(1), 1, h(0))
	corr("g-w2", schema.CorrectionInvalid, "w2", "360100", h(0), h(1), 0, h(5)) // the revocation
	corr("r-w2", schema.CorrectionReplacement, "w2", "360100", h(3), h(3), 1, h(3))
	return b.String()
}

func (c *client) post(token, path, body string) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestCorrections: a central correction recorded through the API leaves exactly the
// windows it overlaps out of every figure (workshops, roll-ups per bucket, programme,
// write-back), its revocation restores them; a gateway's kpi_correction point is
// honoured and listed with source gateway, its revocation too; tokens without the
// permission get 403, a region token sees only its region's corrections; suspect is
// summed per workshop and region. With VictoriaMetrics (PromQL) and InfluxDB 1.8
// (InfluxQL).
func TestCorrections(t *testing.T) {
	lines := corrLines()
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", lines)
	vm.Flush()
	in := testsrv.StartInflux(t, "ganlink")
	post(t, in.URL+"/api/v2/write?bucket=ganlink&org=x", lines)
	for _, be := range []struct{ name, yaml string }{
		{"promql", fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL)},
		{"influxql", fmt.Sprintf("backend: {type: influxql, url: %q, database: ganlink}\n", in.URL)},
	} {
		t.Run(be.name, func(t *testing.T) { checkCorrections(t, be.yaml) })
	}
}

const corrPeriod = "from=2024-05-01T00:00&to=2024-05-01T04:00"

func checkCorrections(t *testing.T, backendYAML string) {
	dir := corrDir(t)
	a, c, reg := startApp(t, dir, backendYAML+"data_dir: state\ncache_ttl: 1h\n")
	keys := []string{"workshop", "windows", "coverage", "parts", "energy_kwh", "suspect_steps", "corrections"}
	none := map[string]any{"ids": []any{}, "windows_left_out": 0.0}
	gw3 := map[string]any{"ids": []any{"g-w3"}, "windows_left_out": 1.0}
	shops := func(what string, want []map[string]any) {
		t.Helper()
		m := c.json("tok-p", "/api/v1/workshops?"+corrPeriod)
		checkRows(t, what, pick(m["rows"], keys...), want)
	}
	regions := func(what string, want map[string][]float64) {
		t.Helper()
		m := c.json("tok-p", "/api/v1/kpi/regions?step=1h&"+corrPeriod)
		got := map[string][]float64{}
		for _, r := range m["rows"].([]any) {
			r := r.(map[string]any)
			num := func(v any) float64 { // null (no workshop reporting): -1
				if f, ok := v.(float64); ok {
					return f
				}
				return -1
			}
			got[r["region"].(string)] = append(got[r["region"].(string)], num(r["parts"]), num(r["suspect_steps"]))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: regions per hour (parts, suspect):\ngot  %v\nwant %v", what, got, want)
		}
	}
	digital := func(what string, want float64) {
		t.Helper()
		p := c.json("tok-p", "/api/v1/programme?region=360100&"+corrPeriod)
		if got := p["progress"].(map[string]any)["digital_workshops"].(map[string]any)["value"]; got != want {
			t.Errorf("%s: 千 of 360100 = %v, want %v", what, got, want)
		}
	}

	// Before: only the gateway's correction of w3's 02:00 window (parts 400 → 300).
	shops("before", []map[string]any{
		{"workshop": "w1", "windows": 4.0, "coverage": 1.0, "parts": 100.0, "energy_kwh": 1000.0, "suspect_steps": 7.0, "corrections": none},
		{"workshop": "w2", "windows": 4.0, "coverage": 1.0, "parts": 4.0, "energy_kwh": 40.0, "suspect_steps": 0.0, "corrections": none},
		{"workshop": "w3", "windows": 3.0, "coverage": 0.75, "parts": 300.0, "energy_kwh": 150.0, "suspect_steps": 0.0, "corrections": gw3},
	})
	regions("before", map[string][]float64{
		"360000": {111, 0, 121, 2, 31, 0, 141, 5},
		"360100": {11, 0, 21, 2, 31, 0, 41, 5},
		"360400": {100, 0, 100, 0, -1, -1, 100, 0},
	})
	digital("before", 2)

	// Refusals: no permission, outside the region, bad fields.
	for _, tt := range []struct {
		token, path, body string
		code              int
		want              string
	}{
		{"tok-jj", "/api/v1/corrections", `{"workshop":"w3","from":"2024-05-01T01:30","until":"2024-05-01T02:00","reason":"x"}`, 403,
			`{"error":"token \"jiujiang\" may not record or revoke corrections (its tokens-file entry needs corrections: true)"}`},
		{"tok-nc", "/api/v1/corrections", `{"workshop":"w3","from":"2024-05-01T01:30","until":"2024-05-01T02:00","reason":"x"}`, 403,
			`{"error":"workshop \"w3\" is outside the scope of token \"nanchang\" (region 360100)"}`},
		{"tok-nc", "/api/v1/corrections", `{"workshop":"w9","from":"2024-05-01T01:30","until":"2024-05-01T02:00","reason":"x"}`, 400,
			`{"error":"workshop: \"w9\" is not in the registry"}`},
		{"tok-nc", "/api/v1/corrections", `{"workshop":"w1","from":"2024-05-01T02:00","until":"2024-05-01T01:30","reason":"x"}`, 400,
			`{"error":"from: 2024-05-01T02:00:00+08:00 is not before until 2024-05-01T01:30:00+08:00"}`},
		{"tok-nc", "/api/v1/corrections", `{"workshop":"w1","from":"2024-05-01T01:30","until":"2024-05-01T02:00"}`, 400,
			`{"error":"reason: required: say why"}`},
		{"tok-nc", "/api/v1/corrections", `{"workshop":"w1","from":"2024-05-01T01:30","until":"2024-05-01T02:00","reason":"x","by":"me"}`, 400,
			`{"error":"body: json: unknown field \"by\""}`},
		{"tok-nc", "/api/v1/corrections/g-w3/revoke", `{"reason":"x"}`, 404,
			`{"error":"correction \"g-w3\" is not in the central store (a gateway's correction is revoked on its gateway)"}`},
	} {
		code, body := c.post(tt.token, tt.path, tt.body)
		if code != tt.code || strings.TrimSpace(string(body)) != tt.want {
			t.Errorf("POST %s %s: %d %s, want %d %s", tt.path, tt.body, code, body, tt.code, tt.want)
		}
	}

	// Nanchang records that w1's meter was swapped between 01:30 and 02:00: the 01:00
	// window (20 parts, 200 kWh, 2 suspect steps) is left out; the 02:00 window is not
	// (until is exclusive).
	code, body := c.post("tok-nc", "/api/v1/corrections",
		`{"workshop":"w1","device":"m1","from":"2024-05-01T01:30","until":"2024-05-01T02:00","reason":"电表更换 meter swap"}`)
	if code != 201 {
		t.Fatalf("add: %d %s", code, body)
	}
	var added struct{ Correction map[string]any }
	if err := json.Unmarshal(body, &added); err != nil {
		t.Fatal(err)
	}
	id, _ := added.Correction["id"].(string)
	wantAdded := map[string]any{"id": id, "source": "central", "kind": "invalid", "workshop": "w1", "device": "m1",
		"from": "2024-05-01T01:30:00+08:00", "until": "2024-05-01T02:00:00+08:00", "by": "nanchang", "reason": "电表更换 meter swap",
		"recorded": "2024-05-02T00:10:00+08:00", "instance": "", "in_force": true, "revoked_at": nil, "revoked_by": "", "revoked_reason": ""}
	if !reflect.DeepEqual(added.Correction, wantAdded) {
		t.Errorf("added:\ngot  %v\nwant %v", added.Correction, wantAdded)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "corrections.jsonl")); err != nil {
		t.Errorf("the store is in data_dir: %v", err)
	}
	cw1 := map[string]any{"ids": []any{id}, "windows_left_out": 1.0}
	shops("corrected", []map[string]any{
		{"workshop": "w1", "windows": 3.0, "coverage": 0.75, "parts": 80.0, "energy_kwh": 800.0, "suspect_steps": 5.0, "corrections": cw1},
		{"workshop": "w2", "windows": 4.0, "coverage": 1.0, "parts": 4.0, "energy_kwh": 40.0, "suspect_steps": 0.0, "corrections": none},
		{"workshop": "w3", "windows": 3.0, "coverage": 0.75, "parts": 300.0, "energy_kwh": 150.0, "suspect_steps": 0.0, "corrections": gw3},
	})
	regions("corrected", map[string][]float64{
		"360000": {111, 0, 101, 0, 31, 0, 141, 5},
		"360100": {11, 0, 1, 0, 31, 0, 41, 5},
		"360400": {100, 0, 100, 0, -1, -1, 100, 0},
	})
	digital("corrected", 1) // w1's coverage is 0.75 now
	e := c.json("tok-p", "/api/v1/kpi/enterprises?enterprise=91360100MA35HT001T&"+corrPeriod)["rows"].([]any)
	if len(e) != 1 || e[0].(map[string]any)["parts"] != 84.0 || e[0].(map[string]any)["energy_kwh"] != 840.0 {
		t.Errorf("enterprise roll-up = %v, want parts 84, energy_kwh 840", e)
	}
	b, err := a.Service().WriteBackPoints(context.Background(), service.Period{From: day, To: day.Add(4 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	wb := map[string]float64{}
	for _, p := range b {
		if p.Measurement != schema.RegionKPI {
			continue
		}
		for _, f := range p.Fields {
			if f.Key == schema.FieldParts || f.Key == schema.FieldSuspect {
				wb[p.Tags[1].Value+" "+f.Key] = f.Value
			}
		}
	}
	if want := map[string]float64{"360000 parts": 384, "360000 suspect": 5, "360100 parts": 84, "360100 suspect": 5,
		"360400 parts": 300, "360400 suspect": 0}; !reflect.DeepEqual(wb, want) {
		t.Errorf("write-back region_kpi = %v, want %v", wb, want)
	}

	// The listing: the province sees all, Nanchang only its region's.
	list := func(token string) []map[string]any {
		t.Helper()
		return pick(c.json(token, "/api/v1/corrections?"+corrPeriod)["rows"], "id", "source", "kind", "workshop", "in_force", "by", "instance")
	}
	wantNC := []map[string]any{
		{"id": id, "source": "central", "kind": "invalid", "workshop": "w1", "in_force": true, "by": "nanchang", "instance": ""},
		{"id": "g-w2", "source": "gateway", "kind": "invalid", "workshop": "w2", "in_force": false, "by": "gw-ops", "instance": "inst-1"},
		{"id": "r-w2", "source": "gateway", "kind": "replacement", "workshop": "w2", "in_force": true, "by": "gw-ops", "instance": "inst-1"},
	}
	g3 := map[string]any{"id": "g-w3", "source": "gateway", "kind": "invalid", "workshop": "w3", "in_force": true, "by": "gw-ops", "instance": "inst-1"}
	checkRows(t, "province list", list("tok-p"), []map[string]any{wantNC[0], wantNC[1], g3, wantNC[2]})
	checkRows(t, "nanchang list", list("tok-nc"), wantNC)
	checkRows(t, "jiujiang list", list("tok-jj"), []map[string]any{g3})
	if code, _, body := c.get("tok-nc", "/api/v1/corrections?workshop=w3&"+corrPeriod); code != 403 ||
		strings.TrimSpace(string(body)) != `{"error":"workshop \"w3\" is outside the scope of token \"nanchang\" (region 360100)"}` {
		t.Errorf("nanchang lists w3: %d %s", code, body)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ganlink_aggregator_corrections_in_force Corrections in force by source (central: the aggregator's store; gateway: kpi_correction points in the TSDB, as of the last read) and kind.
# TYPE ganlink_aggregator_corrections_in_force gauge
ganlink_aggregator_corrections_in_force{kind="invalid",source="central"} 1
ganlink_aggregator_corrections_in_force{kind="invalid",source="gateway"} 1
ganlink_aggregator_corrections_in_force{kind="replacement",source="central"} 0
ganlink_aggregator_corrections_in_force{kind="replacement",source="gateway"} 1
# HELP ganlink_aggregator_correction_refusals_total Requests to record or revoke a correction that were refused, by reason.
# TYPE ganlink_aggregator_correction_refusals_total counter
ganlink_aggregator_correction_refusals_total{reason="already_revoked"} 0
ganlink_aggregator_correction_refusals_total{reason="bad_request"} 4
ganlink_aggregator_correction_refusals_total{reason="forbidden"} 1
ganlink_aggregator_correction_refusals_total{reason="no_store"} 0
ganlink_aggregator_correction_refusals_total{reason="not_found"} 1
ganlink_aggregator_correction_refusals_total{reason="out_of_scope"} 1
ganlink_aggregator_correction_refusals_total{reason="store"} 0
`), "ganlink_aggregator_corrections_in_force", "ganlink_aggregator_correction_refusals_total"); err != nil {
		t.Error(err)
	}

	// The revocation restores the window.
	code, body = c.post("tok-nc", "/api/v1/corrections/"+id+"/revoke", `{"reason":"the swap was on the 2nd"}`)
	if code != 200 || !strings.Contains(string(body), `"in_force":false,"revoked_at":"2024-05-02T00:10:00+08:00","revoked_by":"nanchang","revoked_reason":"the swap was on the 2nd"`) {
		t.Errorf("revoke: %d %s", code, body)
	}
	if code, body := c.post("tok-nc", "/api/v1/corrections/"+id+"/revoke", `{"reason":"again"}`); code != 409 ||
		strings.TrimSpace(string(body)) != `{"error":"correction \"`+id+`\" is already revoked (by \"nanchang\" at 2024-05-01T16:10:00Z)"}` {
		t.Errorf("second revoke: %d %s", code, body)
	}
	shops("revoked", []map[string]any{
		{"workshop": "w1", "windows": 4.0, "coverage": 1.0, "parts": 100.0, "energy_kwh": 1000.0, "suspect_steps": 7.0, "corrections": none},
		{"workshop": "w2", "windows": 4.0, "coverage": 1.0, "parts": 4.0, "energy_kwh": 40.0, "suspect_steps": 0.0, "corrections": none},
		{"workshop": "w3", "windows": 3.0, "coverage": 0.75, "parts": 300.0, "energy_kwh": 150.0, "suspect_steps": 0.0, "corrections": gw3},
	})
	digital("revoked", 2)
}
