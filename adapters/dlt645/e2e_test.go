package dlt645_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/status"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestEndToEnd: simulated DL/T 645 meters on a pty bus, configured in YAML, are polled
// by the gateway; their values reach VictoriaMetrics exactly, the energy register's
// steps become the device_kpi energy_kwh of the windows they fall in, and a bad
// checksum is counted in ganlink_source_signal_errors_total with reason "checksum".
func TestEndToEnd(t *testing.T) {
	vm := testsrv.StartVictoria(t)
	em1, em2 := meterAt(t, addr1, 3.3, 1000), meterAt(t, addr2, 1.2, 50.25)
	dead := meterAt(t, addr3, 1, 1)
	dead.Inject(devsim.DLT645FaultSilent, -1)
	tb := ptyTestbed(t, em1, em2, dead)

	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %q}
sources:
  dlt645:
    - {name: bus, endpoint: %q, baud_rate: 9600, response_timeout: 150ms}
sinks:
  influx:
    - {name: tsdb, url: %q, bucket: b, flush_interval: 100ms}
devices:
  - id: em1
    kind: energy_meter
    class: meter
    source: bus
    address: "%s"
    poll_interval: 200ms
    signals:
      energy_kwh_total: {di: "00010000", role: energy_kwh_total, counter: true}
      power_kw: {di: "02030000", role: power_kw}
      voltage_l1_v: {di: "02010100"}
      current_l1_a: {di: "02020100"}
      power_factor: {di: "02060000"}
  - id: em2
    kind: energy_meter
    class: meter
    source: bus
    address: "%s"
    poll_interval: 200ms
    signals:
      energy_kwh_total: {di: "00010000", role: energy_kwh_total, counter: true}
  - id: em3
    kind: energy_meter
    class: meter
    source: bus
    address: "%s"
    poll_interval: 200ms
    signals:
      energy_kwh_total: {di: "00010000", role: energy_kwh_total, counter: true}
`, filepath.Join(t.TempDir(), "queue"), tb.endpoint, vm.URL, addr1, addr2, addr3)
	cfg, err := config.Load([]byte(yml), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		t.Fatal(err)
	}
	var ahead atomic.Int64 // the KPI clock runs ahead of the wall clock by this much
	a, err := app.Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		app.Options{Clock: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// The raw values, exactly, with the devices' identity.
	want := map[string]float64{"em1/energy_meter_energy_kwh_total": 1000, "em1/energy_meter_power_kw": 3.3,
		"em1/energy_meter_voltage_l1_v": 220, "em1/energy_meter_current_l1_a": 5.263, "em1/energy_meter_power_factor": 0.95,
		"em2/energy_meter_energy_kwh_total": 50.25}
	if msg := testsrv.WaitFor(20*time.Second, func() string {
		vm.Flush()
		got := map[string]float64{}
		for _, s := range vm.Export(`{__name__=~"energy_meter_.*"}`) {
			if s.Labels["workshop"] != "ws1" || s.Labels["kind"] != "energy_meter" || s.Labels["region"] != "360100" {
				return "unexpected labels " + s.Key()
			}
			got[s.Labels["device"]+"/"+s.Labels["__name__"]] = s.Value
		}
		var bad []string
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				bad = append(bad, fmt.Sprintf("%s=%v (present %v), want %v", k, g, ok, v))
			}
		}
		if _, ok := got["em3/energy_meter_energy_kwh_total"]; ok {
			bad = append(bad, "a value of the dead meter em3")
		}
		sort.Strings(bad)
		return strings.Join(bad, "; ")
	}); msg != "" {
		t.Fatal(msg)
	}

	// The status page shows the dead meter per device: its signal bad, the others good,
	// the bus up.
	if msg := testsrv.WaitFor(10*time.Second, func() string {
		st, err := apiStatus(a.AdminAddr())
		if err != nil {
			return err.Error()
		}
		var got []string
		for _, d := range st.Devices {
			for _, sg := range d.Signals {
				if sg.Name == "energy_kwh_total" {
					got = append(got, d.ID+" "+d.Connection+" "+sg.Quality)
				}
			}
		}
		if g := strings.Join(got, ", "); g != "em1 up good, em2 up good, em3 up bad" {
			return "status: " + g
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}

	// The register steps 1000 → 1002.5 → 1003.75; each value is in the TSDB before the next.
	for _, kwh := range []float64{1002.5, 1003.75} {
		em1.Set(0x00010000, kwh)
		if msg := testsrv.WaitFor(10*time.Second, func() string {
			vm.Flush()
			for _, s := range vm.Export(`energy_meter_energy_kwh_total{device="em1"}`) {
				if s.Value == kwh {
					return ""
				}
			}
			return fmt.Sprintf("em1 energy %v not in the TSDB", kwh)
		}); msg != "" {
			t.Fatal(msg)
		}
	}
	em2.Inject(devsim.DLT645FaultChecksum, 1)
	if msg := testsrv.WaitFor(10*time.Second, func() string {
		if n := counter(t, a, "ganlink_source_signal_errors_total", "bus", "em2", "checksum"); n != 1 {
			return fmt.Sprintf("checksum errors of em2: %v, want 1", n)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	if n := counter(t, a, "ganlink_source_signal_errors_total", "bus", "em3", "timeout"); n < 1 {
		t.Fatalf("timeouts of em3: %v", n)
	}
	// The dead meter costs the configured response_timeout, as its problem on the status
	// page says; the live meters have none.
	wantErr := `read signal "energy_kwh_total" of device "em3" (meter 000000000003, DI 00010000 total forward active energy): no response within 150ms`
	if msg := testsrv.WaitFor(10*time.Second, func() string {
		st, err := apiStatus(a.AdminAddr())
		if err != nil {
			return err.Error()
		}
		var got []string
		for _, d := range st.Devices {
			p := "none"
			if d.Problem != nil {
				p = d.Problem.Reason + ": " + d.Problem.Error
			}
			got = append(got, d.ID+" "+p)
		}
		if g, w := strings.Join(got, "\n"), "em1 none\nem2 none\nem3 timeout: "+wantErr; g != w {
			return fmt.Sprintf("device problems:\n%s\nwant:\n%s", g, w)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}

	// Close the minute windows: every step is booked in the window of the sample that
	// shows it.
	samples := vm.Export(`energy_meter_energy_kwh_total{device="em1"}`)
	wantKWh := map[int64]float64{}
	for _, s := range samples {
		wantKWh[s.Timestamp/60000*60000] += 0
	}
	// vm.Export returns each series' samples in time order.
	for i := 1; i < len(samples); i++ {
		if d := samples[i].Value - samples[i-1].Value; d != 0 {
			wantKWh[samples[i].Timestamp/60000*60000] += d
		}
	}
	last := samples[len(samples)-1].Timestamp
	ahead.Store(int64(time.Until(time.UnixMilli(last/60000*60000+60000+31000)) + 2*time.Second))
	if msg := testsrv.WaitFor(20*time.Second, func() string {
		vm.Flush()
		got := map[int64]float64{}
		for _, s := range vm.Export(`device_kpi_energy_kwh{device="em1",window="1m"}`) {
			got[s.Timestamp] = s.Value
		}
		var bad []string
		total := 0.0
		for w, v := range wantKWh {
			total += v
			if g, ok := got[w]; !ok || math.Abs(g-v) > 1e-9 {
				bad = append(bad, fmt.Sprintf("window %s: %v (present %v), want %v", time.UnixMilli(w).UTC().Format(time.TimeOnly), g, ok, v))
			}
		}
		if total != 3.75 {
			bad = append(bad, fmt.Sprintf("steps add up to %v, want 3.75", total))
		}
		sort.Strings(bad)
		return strings.Join(bad, "; ")
	}); msg != "" {
		t.Fatal(msg)
	}
}

func apiStatus(addr string) (status.Status, error) {
	resp, err := http.Get("http://" + addr + "/api/status")
	if err != nil {
		return status.Status{}, err
	}
	defer resp.Body.Close()
	var st status.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("decode /api/status: %w", err)
	}
	return st, nil
}

// counter returns the value of a counter with labels source, device, reason.
func counter(t *testing.T, a *app.App, name, source, device, reason string) float64 {
	t.Helper()
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "source") == source && label(m, "device") == device && label(m, "reason") == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func label(m *dto.Metric, k string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == k {
			return l.GetValue()
		}
	}
	return ""
}
