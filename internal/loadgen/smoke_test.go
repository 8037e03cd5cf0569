package loadgen

import (
	"context"
	"io"
	"log"
	"os"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// asFloorEnv makes the test binary run the floor program (TestFloorMQTTSmoke starts
// it as a peer with the arguments "floor mqtt ...").
const asFloorEnv = "LOADGEN_TEST_AS_FLOOR"

func TestMain(m *testing.M) {
	if os.Getenv(asFloorEnv) == "1" && len(os.Args) > 1 && os.Args[1] == "floor" {
		os.Exit(Floor(os.Args[2:], os.Stderr))
	}
	log.SetOutput(io.Discard) // the OPC UA server library logs through the standard logger
	code := m.Run()
	testsrv.RemoveGatewayBinary()
	os.Exit(code)
}

// TestMQTTSmoke is the short version of the MQTT workload CI runs: 2 000 messages/s
// for 5 s through real mosquitto, the gateway binary and VictoriaMetrics, with no
// field lost. It asserts nothing about time or CPU.
func TestMQTTSmoke(t *testing.T) {
	bin := testsrv.GatewayBinary(t)
	res, err := RunMQTT(context.Background(), t, MQTTConfig{Rate: 2000, Duration: 5 * time.Second},
		Options{Gateway: bin})
	if err != nil {
		t.Fatalf("RunMQTT: %v", err)
	}
	if res.Produced != 30000 || res.Loss != 0 || res.Stored != 30000 {
		t.Fatalf("produced %d fields, stored %d, loss %d; want 30000, 30000, 0", res.Produced, res.Stored, res.Loss)
	}
}

// TestMQTTOutageSmoke refuses the gateway's writes for 3 s of a 6 s load at 1 000
// messages/s: the backlog drains once writes are accepted again, and nothing is lost.
func TestMQTTOutageSmoke(t *testing.T) {
	bin := testsrv.GatewayBinary(t)
	res, err := RunMQTT(context.Background(), t, MQTTConfig{Rate: 1000, Duration: 6 * time.Second},
		Options{Gateway: bin, OutageAt: time.Second, Outage: 3 * time.Second})
	if err != nil {
		t.Fatalf("RunMQTT: %v", err)
	}
	if res.Produced != 18000 || res.Loss != 0 || res.Stored != 18000 {
		t.Fatalf("produced %d fields, stored %d, loss %d; want 18000, 18000, 0", res.Produced, res.Stored, res.Loss)
	}
	// About 3 s of messages queued; the first write accepted again already carries some.
	// The drain ends with at most one second of ingest (1 000 points) still queued.
	if dr := res.Drain; dr.Backlog < 500 || dr.Took <= 0 || dr.Written+1000 < dr.Backlog {
		t.Fatalf("drain %+v: want a backlog of about 3 000 points written out", dr)
	}
}

// TestOPCUASmoke runs a small OPC UA workload (200 variables changing every 500 ms,
// a 2 s window) and asserts that every value of the window arrived.
func TestOPCUASmoke(t *testing.T) {
	bin := testsrv.GatewayBinary(t)
	res, err := RunOPCUA(context.Background(), t, OPCUAConfig{Items: 200, Interval: 500 * time.Millisecond, Duration: 2 * time.Second},
		Options{Gateway: bin})
	if err != nil {
		t.Fatalf("RunOPCUA: %v", err)
	}
	if res.Produced != 800 || res.Loss != 0 || res.Stored != 800 {
		t.Fatalf("produced %d values, stored %d, loss %d; want 800, 800, 0", res.Produced, res.Stored, res.Loss)
	}
}
