package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestDamagedKPIState: a KPI state file whose next windows are set to 1970 (the rest
// intact) made the gateway write every window since then: 8 GB in 25 s, SIGTERM
// unanswered. Now the gateway starts at once, drops and counts the file's windows,
// logs them, stays small and stops promptly on SIGTERM.
func TestDamagedKPIState(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	vm := testsrv.StartVictoria(t)
	cfg := defaultGWConfig(t, broker.URL, vm.URL, 1)
	gw := newGateway(t, cfg)
	// With one-minute windows the damaged file has about 29 million windows due.
	conf, err := os.ReadFile(gw.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	conf = bytes.Replace(conf, []byte(`windows: ["24h"]`), []byte(`windows: ["1m", "24h"]`), 1)
	if err := os.WriteFile(gw.cfgPath, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	gw.Start()
	gw.Stop() // saves the state
	statePath := filepath.Join(filepath.Dir(cfg.QueueDir), "kpi-state.json")
	state, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	next := regexp.MustCompile(`"next":\[[0-9]+,[0-9]+\]`)
	if !next.Match(state) {
		t.Fatalf("state file has no next windows for two lengths: %.300s", state)
	}
	state = next.ReplaceAll(state, []byte(`"next":[0,0]`))
	if err := os.WriteFile(statePath, state, 0o644); err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Open []json.RawMessage `json:"open"`
	}
	if err := json.Unmarshal(state, &snap); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	gw.Start()
	t.Logf("ready %s after start with the damaged state", time.Since(start))
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("ready only after %s", d)
	}
	time.Sleep(2 * time.Second) // a couple of ticks
	rss := testsrv.ProcMemory(t, gw.Pid(), "VmRSS")
	t.Logf("RSS %d MiB", rss>>20)
	if rss > 200<<20 {
		t.Errorf("RSS %d MiB, want under 200 MiB", rss>>20)
	}
	m := gw.Metrics()
	if got, want := m[`ganlink_kpi_windows_dropped_total{reason="inconsistent"}`], float64(len(snap.Open)); got != want || want == 0 {
		t.Errorf(`ganlink_kpi_windows_dropped_total{reason="inconsistent"} = %v, want %v (the file's open windows)`, got, want)
	}
	if got := m[`ganlink_kpi_windows_dropped_total{reason="expired"}`]; got != 0 {
		t.Errorf("expired windows %v, want 0", got)
	}
	run := gw.logTail(1 << 20)
	run = run[strings.LastIndex(run, "=== start "):]
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(0, 0).In(loc).Format(time.RFC3339) // the zone puts local noon near now
	for _, want := range []string{`msg="kpi state: windows dropped, not replayed"`, `file=` + statePath,
		`window=1m reason=inconsistent`, `detail="next 1m window ` + epoch} {
		if !strings.Contains(run, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	stop := time.Now()
	gw.Stop()
	t.Logf("stopped %s after SIGTERM", time.Since(stop))
	if d := time.Since(stop); d > 10*time.Second {
		t.Errorf("stopped only %s after SIGTERM", d)
	}
}
