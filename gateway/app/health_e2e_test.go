package app_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/status"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestHealthSeriesReachTSDB: a running gateway writes its own health through its sink
// queue: with one MQTT source up (its broker running) and one down (nothing listens on
// its port), one good message and one whose power value is text, VictoriaMetrics holds
// gateway_health with exactly these figures under the gateway's identity, instance and
// version, and one gateway_source point per source naming which is down.
func TestHealthSeriesReachTSDB(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	vm := testsrv.StartVictoria(t)
	dir := t.TempDir()
	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws-health}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %s}
health: {interval: 1s}
sources:
  mqtt:
    - {name: meters, broker: %s, client_id: health-gw, subscribe: ["plant/ws1/#"]}
    - {name: spare, broker: "tcp://127.0.0.1:%d", client_id: health-gw-2, subscribe: ["plant/ws2/#"]}
sinks:
  influx:
    - {name: vm, url: %s, bucket: ganlink, flush_interval: 100ms}
devices:
  - id: em1
    kind: energy_meter
    source: meters
    topic: plant/ws1/meter/em1
    signals:
      energy_kwh_total: {path: kwh, counter: true}
      power_kw: {path: kw}
  - id: em2
    kind: energy_meter
    source: spare
    topic: plant/ws2/meter/em2
    signals:
      power_kw: {path: kw}
`, filepath.Join(dir, "queue"), broker.URL, testsrv.FreePort(t), vm.URL)
	a, _ := runGateway(t, yml, app.Options{Version: "v9.9.9-test"})
	waitStatus(t, a.AdminAddr(), 10*time.Second, func(st status.Status) string {
		if st.Sources[0].State != "up" {
			return "the mqtt source is not up"
		}
		return ""
	})
	pub := publisher(t, broker.URL)
	for _, payload := range []string{`{"kwh": 10.5, "kw": 1.5}`, `{"kwh": 10.6, "kw": "high"}`} {
		if tok := pub.Publish("plant/ws1/meter/em1", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	id := a.Instance()
	labels := `gateway_instance="` + id + `",version="v9.9.9-test",region="360100",park="p1",enterprise="e1",workshop="ws-health"`
	// The newest point of each series, once a point taken after both messages is there.
	latest := func(name string) (float64, bool) {
		ss := vm.Export(`{__name__="` + name + `",` + labels + `}`)
		if len(ss) == 0 {
			return 0, false
		}
		newest := ss[0]
		for _, s := range ss {
			if s.Timestamp > newest.Timestamp {
				newest = s
			}
		}
		return newest.Value, true
	}
	want := map[string]float64{"gateway_health_sources": 2, "gateway_health_sources_up": 1, "gateway_health_devices": 2,
		"gateway_health_points_dropped": 0, "gateway_health_signal_errors": 1}
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		for name, v := range want {
			if got, ok := latest(name); !ok || got != v {
				return fmt.Sprintf("%s = %v (present %v), want %v", name, got, ok, v)
			}
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	for _, name := range []string{"gateway_health_uptime_s", "gateway_health_last_data_age_s", "gateway_health_queue_points",
		"gateway_health_queue_oldest_age_s", "gateway_health_devices_offline"} {
		v, ok := latest(name)
		if !ok || v < 0 || v > 60 {
			t.Errorf("%s = %v (present %v), want a small figure", name, v, ok)
		}
	}
	for src, up := range map[string]float64{"meters": 1, "spare": 0} {
		ss := vm.Export(`{__name__="gateway_source_up",source="` + src + `",` + labels + `}`)
		if len(ss) == 0 || ss[len(ss)-1].Value != up {
			t.Errorf("gateway_source_up{source=%q}: %+v, want %v", src, ss, up)
		}
	}
	if ss := vm.Export(`{__name__="gateway_source_errors",source="meters",` + labels + `}`); len(ss) == 0 || ss[len(ss)-1].Value != 1 {
		t.Errorf("gateway_source_errors{source=meters}: %+v, want 1 at the end", ss)
	}

	// health.interval 0s: a gateway that writes no health series, while the first one
	// writes three more points.
	off := strings.ReplaceAll(strings.Replace(yml, "health: {interval: 1s}", "health: {interval: 0s}", 1), "ws-health", "ws-health-off")
	off = strings.Replace(off, filepath.Join(dir, "queue"), filepath.Join(t.TempDir(), "queue"), 1)
	off = strings.ReplaceAll(off, "client_id: health-gw", "client_id: health-off")
	runGateway(t, off, app.Options{})
	before := len(vm.Export(`{__name__="gateway_health_uptime_s",` + labels + `}`))
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		if n := len(vm.Export(`{__name__="gateway_health_uptime_s",` + labels + `}`)); n < before+3 {
			return fmt.Sprintf("the first gateway wrote %d more health points, want 3", n-before)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	if ss := vm.Export(`{__name__=~"gateway_(health|source)_.*",workshop="ws-health-off"}`); len(ss) != 0 {
		t.Errorf("with health.interval 0s the gateway wrote %d health samples", len(ss))
	}
}
