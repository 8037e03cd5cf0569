package aggregator

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/testsrv"
	igtu "github.com/ganlink/ganlink/internal/testutil"
)

// TestWorkshopConflictFromGateways: two real gateways with one workshop identity (a
// copied configuration, each its own data directory) write three hourly windows each to
// VictoriaMetrics; the aggregator reports the workshop with 3 windows, not 6, flagged
// with both instance ids since the first window.
func TestWorkshopConflictFromGateways(t *testing.T) {
	dir := t.TempDir()
	writeProvince(t, dir)
	vm := testsrv.StartVictoria(t)
	var clock atomic.Int64
	clock.Store(day.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	yml := func(data string) string {
		return fmt.Sprintf(`workshop: {region: "360102", park: nc-base, enterprise: %s, workshop: E1-w05, timezone: Asia/Shanghai}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
kpi: {windows: [1h], allowed_lateness: 1s}
sinks:
  influx:
    - {name: vm, url: %q, bucket: ganlink, flush_interval: 100ms}
devices:
  - {id: m1, kind: machine, key_process: true}
  - {id: m2, kind: machine}
`, uscc("E1"), filepath.Join(data, "queue"), vm.URL)
	}
	var ids []string
	for range 2 {
		cfg, err := config.Load([]byte(yml(t.TempDir())), func(string) (string, bool) { return "", false }, app.Kinds())
		if err != nil {
			t.Fatal(err)
		}
		gw, err := app.Build(cfg, slog.New(slog.NewTextHandler(tbWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), app.Options{Clock: now})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, gw.Instance())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- gw.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway run: %v", err)
			}
		})
	}
	if ids[0] > ids[1] {
		ids[0], ids[1] = ids[1], ids[0]
	}
	time.Sleep(1500 * time.Millisecond) // both gateways observe from the start of the first window
	// Three hours in steps the gateways' one-second KPI ticks follow (a jump of more than
	// an hour is a gap, not observed).
	for m := 20; m <= 180; m += 20 {
		clock.Store(day.Add(time.Duration(m) * time.Minute).UnixNano())
		time.Sleep(1100 * time.Millisecond)
	}
	clock.Store(day.Add(3*time.Hour + 2*time.Second).UnixNano())
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		if n := len(vm.Export(`{__name__="workshop_kpi_equipment_total",workshop="E1-w05"}`)); n != 6 {
			return fmt.Sprintf("%d workshop_kpi points of E1-w05, want 3 per gateway", n)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}

	var logs igtu.LogBuffer
	_, c, _ := startConflictApp(t, dir, fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL), &logs)
	rows := c.json("tok-province", "/api/v1/workshops?enterprise="+uscc("E1")+"&"+period)["rows"].([]any)
	var w map[string]any
	for _, r := range rows {
		if r := r.(map[string]any); r["workshop"] == "E1-w05" {
			w = r
		}
	}
	if w == nil {
		t.Fatalf("no row of E1-w05 in %v", rows)
	}
	// A tie at 3 windows each: the smaller id counts.
	want := map[string]any{"active": true, "instances": []any{ids[0], ids[1]}, "counted": ids[0], "since": "2024-05-01T00:00:00+08:00"}
	if w["windows"] != 3.0 || w["equipment_total"] != 2.0 || fmt.Sprint(w["conflict"]) != fmt.Sprint(want) {
		t.Errorf("E1-w05: windows %v equipment_total %v conflict %v; want 3, 2, %v", w["windows"], w["equipment_total"], w["conflict"], want)
	}
}
