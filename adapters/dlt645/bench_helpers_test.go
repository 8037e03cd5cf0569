package dlt645_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/adapters/dlt645"
	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// A testbed is a bus of simulated meters (internal/devsim) reached either through a
// socat pseudo-terminal pair (the gateway on one end, the meters on the other) or
// through a TCP port like a serial device server in transparent mode. Stop takes the
// bus away (socat stopped, or the serial server's port closed with its connections);
// Start brings it back at the same endpoint.
type testbed struct {
	endpoint string
	bus      *devsim.DLT645Bus
	stop     func()
	start    func()
}

// meterAt returns a meter with fixed values (no noise, register not counting).
func meterAt(t testing.TB, addr string, kw, kwh float64) *devsim.DLT645Meter {
	t.Helper()
	m, err := devsim.NewDLT645Meter(devsim.DLT645MeterConfig{Address: addr, BaseKW: kw, EnergyKWh: kwh})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newBus(t testing.TB, meters ...*devsim.DLT645Meter) *devsim.DLT645Bus {
	t.Helper()
	b, err := devsim.NewDLT645Bus(nil, meters...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runUntilStopped runs f in a goroutine with a context that stop cancels; stop waits
// for f to return.
func runUntilStopped(f func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f(ctx); close(done) }()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

func ptyTestbed(t testing.TB, meters ...*devsim.DLT645Meter) *testbed {
	t.Helper()
	pp := testsrv.StartPtyPair(t)
	tb := &testbed{endpoint: "serial://" + pp.A, bus: newBus(t, meters...)}
	stopSim := runUntilStopped(func(ctx context.Context) { _ = tb.bus.ServeSerial(ctx, pp.B) })
	t.Cleanup(stopSim)
	tb.stop, tb.start = pp.Stop, pp.Start
	return tb
}

func tcpTestbed(t testing.TB, meters ...*devsim.DLT645Meter) *testbed {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testsrv.FreePort(t))
	tb := &testbed{endpoint: "tcp://" + addr, bus: newBus(t, meters...)}
	var mu sync.Mutex
	var stopSrv func()
	tb.start = func() {
		var l net.Listener
		var err error
		for i := 0; i < 50; i++ { // the port may linger a moment after a stop
			if l, err = net.Listen("tcp", addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
		mu.Lock()
		stopSrv = runUntilStopped(func(ctx context.Context) { _ = tb.bus.ServeTCP(ctx, l) })
		mu.Unlock()
	}
	tb.stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopSrv != nil {
			stopSrv()
			stopSrv = nil
		}
	}
	tb.start()
	t.Cleanup(tb.stop)
	return tb
}

// lineOf returns the serial line of endpoint with a short response timeout.
func lineOf(endpoint string, timeout time.Duration) serialline.Line {
	return serialline.Line{Endpoint: endpoint, BaudRate: 9600, ResponseTimeout: timeout,
		TurnaroundDelay: 20 * time.Millisecond}
}

// meterDevice is a meter reading the common data items.
func meterDevice(id, addr string, poll time.Duration, dis ...string) dlt645.Device {
	a, err := dlt645.ParseAddress(addr)
	if err != nil {
		panic(err)
	}
	if len(dis) == 0 {
		dis = []string{"energy_kwh_total=00010000", "voltage_l1_v=02010100", "current_l1_a=02020100",
			"power_kw=02030000", "power_factor=02060000"}
	}
	d := dlt645.Device{Device: id, Measurement: "energy_meter", Address: a, PollInterval: poll,
		Tags: []point.Tag{{Key: "device", Value: id}}}
	for _, s := range dis {
		field, dis, _ := strings.Cut(s, "=")
		di, err := dlt645.ParseDI(dis)
		if err != nil {
			panic(err)
		}
		d.Signals = append(d.Signals, dlt645.Signal{Field: field, DI: di})
	}
	return d
}

func newSource(t *testing.T, cfg dlt645.Config, obs point.Observer) *dlt645.Source {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "bus1"
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin, cfg.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	}
	s, err := dlt645.New(cfg, obs, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// runSource runs s with rec as emit until the test ends (or the returned stop).
func runSource(t *testing.T, s *dlt645.Source, rec *adaptertest.Recorder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rec.Emit) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Run did not return within 5s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// fieldString renders fields compactly for exact comparisons: "a=1 b=bad".
func fieldString(fs []point.Field) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(' ')
		}
		if f.Quality == point.Good {
			fmt.Fprintf(&b, "%s=%v", f.Key, f.Value)
		} else {
			fmt.Fprintf(&b, "%s=%s", f.Key, f.Quality)
		}
	}
	return b.String()
}
