package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestDemoIdentities: two demos, one with the default identity and seed and one with
// -workshop ws2 -seed 2, write to one VictoriaMetrics; the aggregator with the example
// registry and tokens lists both workshops, each with its own windows, its own parts and
// no conflict, placed where the registry places them with no placement mismatch; and
// the two simulations differ.
func TestDemoIdentities(t *testing.T) {
	stdlog.SetOutput(io.Discard) // the simulated OPC UA server's library
	t.Cleanup(func() { stdlog.SetOutput(os.Stderr) })
	vm := testsrv.StartVictoria(t)
	start := time.Now()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func(c Config) *Demo {
		c.Listen, c.DataDir, c.InfluxURL = "127.0.0.1:0", t.TempDir(), vm.URL
		c.KPIWindows, c.KPILateness = []time.Duration{5 * time.Second}, time.Second
		c.TimeScale = 0.05
		d, err := New(c, log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("demo %s: %v", c.Workshop, err)
			}
		})
		return d
	}
	a := run(Config{})
	b := run(Config{Workshop: "ws2", Seed: 2})
	if a.App().Instance() == b.App().Instance() {
		t.Fatal("both demos have one instance id")
	}
	parts := func(ws string) (n int, total float64) {
		for _, s := range vm.Export(`workshop_kpi_parts{window="5s",workshop="` + ws + `"}`) {
			n++
			total += s.Value
		}
		return
	}
	if msg := testsrv.WaitFor(60*time.Second, func() string {
		for _, ws := range []string{"ws1", "ws2"} {
			if n, total := parts(ws); n < 3 || total == 0 {
				return fmt.Sprintf("%s: %d windows, %v parts", ws, n, total)
			}
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	if s := vm.Export(`workshop_kpi_parts{workshop="ws1",region="360111",park="nc-hitech",enterprise="91360100MA35HT001T"}`); len(s) == 0 {
		t.Fatal("ws1 not written under the example registry's identity")
	}
	if s := vm.Export(`{__name__=~"cnc_.*",workshop="ws2"}`); len(s) == 0 {
		t.Fatal("ws2 wrote no machine data")
	}

	// The aggregator with the example registry and tokens.
	dir := t.TempDir()
	root, _ := filepath.Abs("../..")
	cfgPath := filepath.Join(dir, "aggregator.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`listen: "127.0.0.1:0"
registry: %s/configs/registry.example.yaml
tokens_file: %s/configs/aggregator.tokens.example.yaml
window: 5s
settle: 2s
backend: {type: promql, url: %q}
`, root, root, vm.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := aggregator.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	agg, err := aggregator.Build(cfg, log, aggregator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agg.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	get := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+agg.Addr().String()+path, nil)
		req.Header.Set("Authorization", "Bearer example-province-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	period := "from=" + url.QueryEscape(start.Add(-time.Minute).Truncate(5*time.Second).UTC().Format(time.RFC3339)) +
		"&to=" + url.QueryEscape(time.Now().Truncate(5*time.Second).UTC().Format(time.RFC3339))
	var ws struct {
		Rows []map[string]any `json:"rows"`
	}
	get("/api/v1/workshops?"+period, &ws)
	seen := map[string]map[string]any{}
	for _, r := range ws.Rows {
		seen[fmt.Sprint(r["workshop"])] = r
	}
	var figures []string
	for _, id := range []string{"ws1", "ws2"} {
		r := seen[id]
		if r == nil {
			t.Fatalf("workshop %s not listed: %v", id, ws.Rows)
		}
		w, _ := r["windows"].(float64)
		c, _ := r["conflict"].(map[string]any)
		if w < 2 || r["region"] != "360111" || r["park"] != "nc-hitech" || c == nil || c["active"] != false {
			t.Errorf("%s: windows %v region %v park %v conflict %v", id, r["windows"], r["region"], r["park"], r["conflict"])
		}
		figures = append(figures, fmt.Sprint(r["parts"]))
		t.Logf("%s: parts %v energy_kwh %v intensity %v", id, r["parts"], r["energy_kwh"], r["energy_kgce_per_10k_yuan"])
	}
	if figures[0] == figures[1] {
		t.Errorf("ws1 and ws2 report the same parts %s: the seeds made no difference", figures[0])
	}
	var cons map[string]any
	get("/api/v1/consistency?"+period, &cons)
	if b, _ := json.Marshal(cons); strings.Contains(string(b), `"ws1"`) || strings.Contains(string(b), `"ws2"`) {
		t.Errorf("consistency names a demo workshop: %s", b)
	}
}
