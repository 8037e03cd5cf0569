package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/status"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

// TestDuplicateWorkshopIdentity: two gateways with one workshop identity (each its own
// data directory) write their KPI points under their own instance id; the second, at
// its start, logs an error naming the first, which it finds through the store it writes
// to (VictoriaMetrics through PromQL, InfluxDB 1.8 through InfluxQL). The first, started
// on an empty store, logs none; restarted, it keeps its id.
func TestDuplicateWorkshopIdentity(t *testing.T) {
	vm := testsrv.StartVictoria(t)
	in := testsrv.StartInflux(t, "ganlink")
	for _, st := range []struct {
		name, url string
		written   func(inst string) bool
	}{
		{"victoriametrics", vm.URL, func(inst string) bool {
			return len(vm.Export(`{__name__="workshop_kpi_equipment_total",window="5s",gateway_instance="`+inst+`"}`)) > 0
		}},
		{"influxdb", in.URL, func(inst string) bool {
			return len(in.Query("ganlink", `SELECT count(equipment_total) FROM workshop_kpi WHERE "window"='5s' AND gateway_instance='`+inst+`'`)) > 0
		}},
	} {
		t.Run(st.name, func(t *testing.T) {
			yml := func(data string) string {
				return fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws-%s}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
kpi: {windows: [5s], allowed_lateness: 1s}
sinks:
  influx:
    - {name: tsdb, url: %q, bucket: ganlink, flush_interval: 100ms}
devices:
  - {id: m1, kind: machine}
`, st.name, filepath.Join(data, "queue"), st.url)
			}
			dirA, dirB := t.TempDir(), t.TempDir()
			var logA, logB testutil.LogBuffer
			a, stopA := runLogged(t, yml(dirA), &logA)
			idA := a.Status().Workshop.Instance
			if msg := testsrv.WaitFor(30*time.Second, func() string {
				if !st.written(idA) {
					return "no workshop_kpi point of instance " + idA
				}
				return ""
			}); msg != "" {
				t.Fatal(msg)
			}
			b, _ := runLogged(t, yml(dirB), &logB)
			idB := b.Status().Workshop.Instance
			if idB == idA {
				t.Fatalf("both gateways have instance %s", idA)
			}
			want := `level=ERROR msg="another gateway instance is writing this workshop identity: the aggregator flags the workshop as a conflict and counts one instance only; ` +
				`stop the gateway that should not write this workshop or give it its own workshop identity (region, park, enterprise, workshop)" ` +
				"workshop=ws-" + st.name + " instance=" + idB + " other_instance=" + idA + " windows="
			if !strings.Contains(logB.String(), want) || !strings.Contains(logB.String(), " within=1h0m0s sink=tsdb\n") {
				t.Errorf("second gateway's log lacks\n%s\n%s", want, logB.String())
			}
			if strings.Contains(logA.String(), "another gateway instance") {
				t.Errorf("first gateway, alone at its start, logged a duplicate:\n%s", logA.String())
			}
			// /api/status shows the instance.
			resp, err := http.Get("http://" + b.AdminAddr() + "/api/status?device_limit=0")
			if err != nil {
				t.Fatal(err)
			}
			var s status.Status
			err = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			if err != nil || s.Workshop.Instance != idB {
				t.Errorf("/api/status workshop.instance = %q (%v), want %q", s.Workshop.Instance, err, idB)
			}
			// Both instances' points are in the store, each under its own tag.
			if msg := testsrv.WaitFor(30*time.Second, func() string {
				if !st.written(idB) {
					return "no workshop_kpi point of instance " + idB
				}
				return ""
			}); msg != "" {
				t.Fatal(msg)
			}
			// A restart keeps the id (and now names B).
			stopA()
			var logA2 testutil.LogBuffer
			a2, _ := runLogged(t, yml(dirA), &logA2)
			if got := a2.Status().Workshop.Instance; got != idA {
				t.Errorf("restarted instance = %s, want %s", got, idA)
			}
			if !strings.Contains(logA2.String(), "instance="+idA+" other_instance="+idB+" windows=") {
				t.Errorf("restarted first gateway does not name the second:\n%s", logA2.String())
			}
		})
	}
}

// runLogged is runGatewayConfig with the gateway's log in logs.
func runLogged(t *testing.T, yml string, logs io.Writer) (*app.App, func()) {
	t.Helper()
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	a, err := app.Build(cfg, log, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	waitReadyz(t, a.AdminAddr())
	return a, stop
}
