package mqtt

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestConformance runs the source contract against mosquitto. Values are published with
// mosquitto_pub (a separate process), so the only MQTT client goroutines in the test
// binary are the source's.
func TestConformance(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	cfg := baseConfig(m.URL) // one client id, persistent session: each run resumes it
	pub := func(t *testing.T, payload string) {
		t.Helper()
		out, err := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1",
			"-t", "meters/e3", "-m", payload).CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_pub %q: %v: %s", payload, err, out)
		}
	}
	n := 0
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t *testing.T, obs point.Observer) adaptertest.Source {
			src, err := New(cfg, obs, testLogger())
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return src
		},
		Good: func(t *testing.T) adaptertest.Match {
			n++
			pub(t, fmt.Sprintf(`{"kwh":%d}`, n))
			return adaptertest.FieldIs("e3", "energy_kwh_total", float64(n))
		},
		Bad: []adaptertest.BadInput{
			{Name: "malformed", Inject: func(t *testing.T) adaptertest.Report {
				pub(t, `{"kwh":`)
				return adaptertest.Report{Device: "e3", Reason: ReasonDecode}
			}},
			{Name: "wrong_type", Inject: func(t *testing.T) adaptertest.Report {
				pub(t, `{"kwh":"high"}`)
				return adaptertest.Report{Device: "e3", Signal: "energy_kwh_total", Reason: ReasonType}
			}},
			{Name: "not_finite", Inject: func(t *testing.T) adaptertest.Report {
				pub(t, `{"kwh":1e999}`)
				return adaptertest.Report{Device: "e3", Signal: "energy_kwh_total", Reason: ReasonNaN}
			}},
		},
		Stop:         func(*testing.T) { m.Stop() },
		Start:        func(*testing.T) { m.Start() },
		Acknowledges: true,
		Frames:       []string{"ganlink/adapters/mqtt.", "eclipse/paho.mqtt.golang"},
	})
}
