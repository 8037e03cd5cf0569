// Command gen writes Ganlink's Grafana dashboards as JSON files:
//
//	go run ./deployments/grafana/gen -out deployments/grafana/dashboards
//
// The dashboards query the TSDB schema of docs/metrics.md (device_kpi, workshop_kpi and
// the raw signals the gateway writes) and the aggregator's write-back (region_kpi,
// programme_progress) in VictoriaMetrics through the datasource provisioned with uid
// "ganlink-victoriametrics". The files are checked in; a test regenerates them and
// fails when they differ.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "deployments/grafana/dashboards", "directory to write the dashboard JSON files to")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	files, err := Dashboards()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return fmt.Errorf("write dashboard: %w", err)
		}
	}
	return nil
}
