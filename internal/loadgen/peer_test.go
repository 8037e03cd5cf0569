package loadgen

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

func TestParsePeers(t *testing.T) {
	got, err := ParsePeers("ganlink, telegraf,floor")
	if err != nil || len(got) != 3 || got[0] != PeerGanlink || got[1] != PeerTelegraf || got[2] != PeerFloor {
		t.Fatalf("ParsePeers = %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"ganlink,vector": `unknown peer "vector": want ganlink, telegraf or floor`,
		"floor,floor":    `peer "floor" listed twice`,
		"":               `unknown peer "": want ganlink, telegraf or floor`,
		"ganlink,,floor": `unknown peer "": want ganlink, telegraf or floor`,
	} {
		if _, err := ParsePeers(in); err == nil || err.Error() != want {
			t.Errorf("ParsePeers(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestWriteSideBySide(t *testing.T) {
	r := func(p Peer, cpu float64, rss int64, loss int64, load string) Result {
		return Result{Peer: p, Workload: "MQTT 1000 meters", Rate: 5000, RateUnit: "msgs/s", Stored: 1e6, CPUSeconds: cpu,
			PeakRSS: rss << 20, Loss: loss, LoadBefore: load, LoadAfter: "1.00 1.00 1.00"}
	}
	var b bytes.Buffer
	err := WriteSideBySide(&b, []Result{
		r(PeerGanlink, 9, 50, 0, "2.50 1.00 1.00"), r(PeerTelegraf, 18, 40, 12, "1.00 1.00 1.00"), r(PeerFloor, 15, 16, 3, "0.50 1.00 1.00"),
		r(PeerGanlink, 11, 54, 1, "0.50 1.00 1.00"),
		{Peer: PeerGanlink, Workload: "OPC UA 10 items @ 1s", Rate: 10, RateUnit: "values/s", Stored: 1e6, CPUSeconds: 4, PeakRSS: 30 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "| workload | Ganlink: CPU-s/1M, RSS, loss | Telegraf 1.39.3 | floor | CPU Ganlink ÷ Telegraf | CPU Ganlink ÷ floor | RSS Ganlink ÷ Telegraf | load avg (1 min, highest) |\n" +
		"|---|---|---|---|---|---|---|---|\n" +
		"| MQTT 1000 meters, 5 000 msgs/s | 10.0, 52.0 MB, lost 0/1 | 18.0, 40.0 MB, lost 12 | 15.0, 16.0 MB, lost 3 | 0.56 | 0.67 | 1.30 | 2.50 |\n" +
		"| OPC UA 10 items @ 1s, 10 values/s | 4.0, 30.0 MB, lost 0 | — | — | — | — | — | — |\n"
	if b.String() != want {
		t.Fatalf("side by side:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestTelegrafConfigs(t *testing.T) {
	c := gwCommon{SinkURL: "http://127.0.0.1:1"}
	mq := telegrafMQTTConfig(c, "tcp://127.0.0.1:1883", 500*time.Millisecond)
	for _, want := range []string{`flush_interval = "500ms"`, "metric_batch_size = 5000", `urls = ["http://127.0.0.1:1"]`,
		"qos = 1", "persistent_session = false", "max_undelivered_messages = 10000", `json_time_key = "ts"`, `name_override = "energy_meter"`} {
		if !strings.Contains(mq, want) {
			t.Errorf("mqtt config lacks %q:\n%s", want, mq)
		}
	}
	// 2 500 items: three listeners of at most 1 000 items, 10 items a device group.
	ua := telegrafOPCUAConfig(c, "opc.tcp://127.0.0.1:4840", 2500, time.Second, 500*time.Millisecond, 500*time.Millisecond)
	if n := strings.Count(ua, "[[inputs.opcua_listener]]"); n != 3 {
		t.Errorf("%d listeners, want 3", n)
	}
	if n := strings.Count(ua, "[[inputs.opcua_listener.group]]"); n != 250 {
		t.Errorf("%d groups, want 250", n)
	}
	if !strings.Contains(ua, `default_tags = { device = "plc250" }`) || !strings.Contains(ua, `{ name = "value_10", identifier = "V2500" }`) ||
		strings.Contains(ua, `"V2501"`) || !strings.Contains(ua, `subscription_interval = "500ms"`) || !strings.Contains(ua, `sampling_interval = "1s"`) {
		t.Errorf("opc ua config:\n%s", ua[len(ua)-600:])
	}
}

// TestFloorMQTTSmoke runs the MQTT workload through the floor program (this test
// binary, re-executed as "loadgen floor"): 1 000 messages/s for 2 s, nothing lost.
func TestFloorMQTTSmoke(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(asFloorEnv, "1")
	res, err := RunMQTT(context.Background(), t, MQTTConfig{Rate: 1000, Duration: 2 * time.Second},
		Options{Peer: PeerFloor, Floor: exe})
	if err != nil {
		t.Fatalf("RunMQTT: %v", err)
	}
	if res.Produced != 6000 || res.Loss != 0 || res.Stored != 6000 || res.Peer != PeerFloor {
		t.Fatalf("produced %d fields, stored %d, loss %d; want 6000, 6000, 0", res.Produced, res.Stored, res.Loss)
	}
}

var _ testsrv.TB = (*testing.T)(nil)
