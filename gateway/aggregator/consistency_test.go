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

// TestConsistencyAPI: /api/v1/consistency lists, over the period, the registered
// workshops whose telemetry tags disagree with the registry (one row per tag) and, for a
// province token only, the telemetry workshops that are not registered.
func TestConsistencyAPI(t *testing.T) {
	dir := coverageDir(t)
	if err := os.WriteFile(filepath.Join(dir, "tokens.yaml"), []byte(fmt.Sprintf(
		"tokens:\n  - {name: province, sha256: %s, region: \"360000\"}\n  - {name: city, sha256: %s, region: \"360100\"}\n",
		api.HashToken("tok"), api.HashToken("tok-city"))), 0o644); err != nil {
		t.Fatal(err)
	}
	const ent = "91360100MA35HT001T"
	var b strings.Builder
	line := func(shop, tags string, h int) {
		fmt.Fprintf(&b, "workshop_kpi,%s,window=1h,workshop=%s equipment_total=1 %d\n", tags, shop, day.Add(time.Duration(h)*time.Hour).UnixNano())
	}
	line("w1", "enterprise="+ent+",region=360100", 0) // as registered
	line("w1", "enterprise=OTHER,region=360100", 1)   // a second enterprise tag
	line("w2", "enterprise="+ent+",park=nc-base,region=360111", 0)
	line("ghost", "enterprise=X,region=360100", 2)
	line("ghost", "enterprise=X,region=360100", 30) // outside the period
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", b.String())
	vm.Flush()
	_, c, _ := startApp(t, dir, fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL))

	m := c.json("tok", "/api/v1/consistency")
	wantMis := []any{
		map[string]any{"workshop": "w1", "tag": "enterprise", "registry": ent, "telemetry": []any{ent, "OTHER"}},
		map[string]any{"workshop": "w2", "tag": "region", "registry": "360100", "telemetry": []any{"360111"}},
		map[string]any{"workshop": "w2", "tag": "park", "registry": "", "telemetry": []any{"nc-base"}},
	}
	wantUnreg := []any{map[string]any{"workshop": "ghost", "region": []any{"360100"}, "park": []any{}, "enterprise": []any{"X"}}}
	if !reflect.DeepEqual(m["mismatches"], wantMis) || !reflect.DeepEqual(m["unregistered_workshops"], wantUnreg) {
		t.Errorf("province:\nmismatches %v\nunregistered %v\nwant\n%v\n%v", m["mismatches"], m["unregistered_workshops"], wantMis, wantUnreg)
	}
	if m["from"] != "2024-05-01T00:00:00+08:00" || m["to"] != "2024-05-02T00:00:00+08:00" {
		t.Errorf("period %v to %v", m["from"], m["to"])
	}
	// The first hour only: w1 as registered.
	m = c.json("tok", "/api/v1/consistency?from=2024-05-01T00:00&to=2024-05-01T01:00")
	if !reflect.DeepEqual(m["mismatches"], wantMis[1:]) || !reflect.DeepEqual(m["unregistered_workshops"], []any{}) {
		t.Errorf("first hour: %v %v", m["mismatches"], m["unregistered_workshops"])
	}
	// A city token sees its workshops' mismatches, not the unregistered workshops.
	m = c.json("tok-city", "/api/v1/consistency")
	if _, ok := m["unregistered_workshops"]; ok || !reflect.DeepEqual(m["mismatches"], wantMis) {
		t.Errorf("city: %v", m)
	}
	code, _, body := c.get("tok", "/api/v1/consistency?format=csv")
	wantCSV := "\ufeffworkshop,tag,registry,telemetry\nw1,enterprise," + ent + "," + ent + ";OTHER\nw2,region,360100,360111\nw2,park,,nc-base\n"
	if code != 200 || string(body) != wantCSV {
		t.Errorf("csv: %d %q, want %q", code, body, wantCSV)
	}
}
