package app_test

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ganlink/ganlink/adapters/mqtt"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/status"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestPoisonMessages: against real mosquitto (persistent session, QoS 1) and
// VictoriaMetrics, a meter sends one message that fails in each way the decoder knows,
// one whose handling panics (injected through mqtt.TestHookDecode), one with a time
// far in the future, and then a good one. The gateway stays up; exactly the values that
// could be used reach the TSDB (the good message at its own time, the salvageable ones
// at their receive time); every failure is counted with its reason and kept as a dead
// letter (the last dead_letters.keep, each cut to dead_letters.max_payload_bytes);
// after a restart under the same client id no bad message is delivered again
// and the dead letters are still listed.
func TestPoisonMessages(t *testing.T) {
	broker := testsrv.StartMosquitto(t)
	vm := testsrv.StartVictoria(t)
	dir := t.TempDir()
	mqtt.TestHookDecode = func(topic string, payload []byte) {
		if strings.Contains(string(payload), "panic-me") {
			panic("injected fault")
		}
	}
	t.Cleanup(func() { mqtt.TestHookDecode = nil })

	yml := fmt.Sprintf(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0"}
queue: {dir: %s}
dead_letters: {keep: 7, max_payload_bytes: 512}
sources:
  mqtt:
    - {name: meters, broker: %s, client_id: poison-gw, max_payload_bytes: 1KiB, subscribe: ["plant/ws1/#"]}
sinks:
  influx:
    - {name: vm, url: %s, bucket: ganlink, flush_interval: 100ms}
devices:
  - id: em1
    kind: energy_meter
    source: meters
    topic: plant/ws1/meter/em1
    timestamp_path: ts
    signals:
      energy_kwh_total: {path: kwh, counter: true}
      power_kw: {path: kw}
`, filepath.Join(dir, "queue"), broker.URL, vm.URL)
	start := func() (*app.App, func()) {
		t.Helper()
		a, stop := runGateway(t, yml, app.Options{})
		waitStatus(t, a.AdminAddr(), 10*time.Second, func(st status.Status) string {
			if st.Sources[0].State != "up" {
				return "the mqtt source is not up"
			}
			return ""
		})
		return a, stop
	}

	a, stop := start()
	pub := publisher(t, broker.URL)
	const goodMS = int64(1_760_000_000_123) // 2025-10-09T08:53:20.123Z
	sent := time.Now()
	for _, m := range []struct{ topic, payload string }{
		{"plant/ws1/meter/em1", `{"kwh":`},                                             // decode
		{"plant/ws1/meter/em1", `{"other":1}`},                                         // missing ×2
		{"plant/ws1/meter/em1", `{"kwh":"ten","kw":"x"}`},                              // type ×2
		{"plant/ws1/meter/em1", `{"kwh":1e400,"kw":-1e999}`},                           // nan ×2
		{"plant/ws1/meter/em1", `{"kwh":1,"pad":"` + strings.Repeat("x", 2000) + `"}`}, // too_large
		{"plant/ws1/meter/zz", `{"kwh":1}`},                                            // unbound
		{"plant/ws1/meter/em1", `{"ts":1,"kwh":1,"kw":1,"m3":1}`},                      // timestamp: kept at receive time
		{"plant/ws1/meter/em1", `{"kwh":3,"kw":3,"note":"panic-me"}`},                  // internal: dropped
		{"plant/ws1/meter/em1", `{"ts":7258118399000,"kwh":2,"kw":2}`},                 // future_timestamp: kept at receive time
		{"plant/ws1/meter/em1", fmt.Sprintf(`{"ts":%d,"kwh":10,"kw":2.5}`, goodMS)},
	} {
		if tok := pub.Publish(m.topic, 1, false, m.payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", m.payload, tok.Error())
		}
	}

	want := map[string]float64{
		fmt.Sprintf("energy_meter_energy_kwh_total %d", goodMS): 10,
		fmt.Sprintf("energy_meter_power_kw %d", goodMS):         2.5,
		"energy_meter_energy_kwh_total recv 1":                  1,
		"energy_meter_power_kw recv 1":                          1,
		"energy_meter_energy_kwh_total recv 2":                  2,
		"energy_meter_power_kw recv 2":                          2,
	}
	waitSamples(t, vm, sent, want, "samples in VictoriaMetrics")

	wantCounts := map[string]float64{
		"em1|decode": 1, "em1|missing": 2, "em1|type": 2, "em1|nan": 2, "em1|too_large": 1,
		"|unbound": 1, "em1|timestamp": 1, "em1|internal": 1, "em1|future_timestamp": 1,
	}
	if got := signalErrors(t, a.Registry()); !maps.Equal(got, wantCounts) {
		t.Errorf("ganlink_source_signal_errors_total:\n got %v\nwant %v", got, wantCounts)
	}
	wantDead := []string{ // oldest first; keep: 7 let the first (decode) go
		`em1|plant/ws1/meter/em1|missing|2`,
		`em1|plant/ws1/meter/em1|type|2`,
		`em1|plant/ws1/meter/em1|nan|2`,
		`em1|plant/ws1/meter/em1|too_large|1`,
		`|plant/ws1/meter/zz|unbound|1`,
		`em1|plant/ws1/meter/em1|timestamp|1`,
		`em1|plant/ws1/meter/em1|internal|1`,
	}
	st := statusOf(t, a)
	if got := deadSummary(st); !slices.Equal(got, wantDead) {
		t.Errorf("dead letters on /api/status:\n got %q\nwant %q", got, wantDead)
	}
	// The reproduction of the "ts":0 crash report is there with its exact error and payload.
	for _, e := range st.DeadLetters {
		if e.Reason == "timestamp" {
			wantErr := `decode topic "plant/ws1/meter/em1" device "em1": timestamp path "ts": value 1 (epoch_ms) is 1970-01-01T00:00:00.001Z, out of range 2000..2200`
			if e.Error != wantErr || e.Payload != `{"ts":1,"kwh":1,"kw":1,"m3":1}` {
				t.Errorf("timestamp dead letter: error %q payload %q", e.Error, e.Payload)
			}
		}
		if e.Reason == "too_large" && (!e.Truncated || e.PayloadBytes != 2018 || len(e.Payload) != 512) {
			t.Errorf("too_large dead letter: truncated %v, %d bytes, kept %d", e.Truncated, e.PayloadBytes, len(e.Payload))
		}
	}
	stop()

	// Restart under the same client id: the broker's session holds nothing unacknowledged,
	// so no bad message comes again; the next good message arrives; the dead letters
	// were kept on disk.
	a2, _ := start()
	const nextMS = goodMS + 60_000
	if tok := pub.Publish("plant/ws1/meter/em1", 1, false, fmt.Sprintf(`{"ts":%d,"kwh":11,"kw":1.5}`, nextMS)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	want[fmt.Sprintf("energy_meter_energy_kwh_total %d", nextMS)] = 11
	want[fmt.Sprintf("energy_meter_power_kw %d", nextMS)] = 1.5
	waitSamples(t, vm, sent, want, "samples after the restart")
	if got := signalErrors(t, a2.Registry()); len(got) != 0 {
		t.Errorf("signal errors after the restart (a bad message was delivered again): %v", got)
	}
	if got := deadSummary(statusOf(t, a2)); !slices.Equal(got, wantDead) {
		t.Errorf("dead letters after the restart:\n got %q\nwant %q", got, wantDead)
	}
}

// meterSamples returns the energy meter samples in VictoriaMetrics as "name ms" → value;
// a sample stamped between sent and now is named "name recv <value>" instead, since its
// time is the gateway's receive time.
func meterSamples(t *testing.T, vm *testsrv.Victoria, sent time.Time) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range vm.Export(`{__name__=~"energy_meter_.*"}`) {
		key := fmt.Sprintf("%s %d", s.Labels["__name__"], s.Timestamp)
		if s.Timestamp >= sent.UnixMilli() && s.Timestamp <= time.Now().UnixMilli() {
			key = fmt.Sprintf("%s recv %g", s.Labels["__name__"], s.Value)
		}
		out[key] = s.Value
	}
	return out
}

// waitSamples waits until meterSamples equals want, failing the test with what (and
// the difference) after 15 s.
func waitSamples(t *testing.T, vm *testsrv.Victoria, sent time.Time, want map[string]float64, what string) {
	t.Helper()
	if msg := testsrv.WaitFor(15*time.Second, func() string {
		if got := meterSamples(t, vm, sent); !maps.Equal(got, want) {
			return fmt.Sprintf("%s:\n got %v\nwant %v", what, got, want)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
}

// signalErrors returns ganlink_source_signal_errors_total as "device|reason" → count.
func signalErrors(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "ganlink_source_signal_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			out[l["device"]+"|"+l["reason"]] = m.GetCounter().GetValue()
		}
	}
	return out
}

// deadSummary lists the status's dead letters oldest first as "device|origin|reason|problems".
func deadSummary(st status.Status) []string {
	var out []string
	for i := len(st.DeadLetters) - 1; i >= 0; i-- {
		e := st.DeadLetters[i]
		out = append(out, fmt.Sprintf("%s|%s|%s|%d", e.Device, e.Origin, e.Reason, e.Problems))
	}
	return out
}

func statusOf(t *testing.T, a *app.App) status.Status {
	t.Helper()
	st, err := getStatus(a.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func publisher(t *testing.T, broker string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("poison-publisher").
		SetCleanSession(true).SetAutoReconnect(false).SetProtocolVersion(4))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect publisher: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}
