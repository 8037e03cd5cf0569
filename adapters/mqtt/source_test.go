package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testsrv"
	"github.com/ganlink/ganlink/internal/testutil"
)

var testClientSeq atomic.Int64

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// publisher is a paho client publishing test messages with QoS 1.
type publisher struct {
	t *testing.T
	c paho.Client
}

func newPublisher(t *testing.T, broker string) *publisher {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(broker).
		SetClientID(fmt.Sprintf("test-pub-%d", testClientSeq.Add(1))).
		SetCleanSession(true).SetAutoReconnect(false).SetProtocolVersion(4)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect publisher: %v", tok.Error())
	}
	p := &publisher{t: t, c: c}
	t.Cleanup(func() { c.Disconnect(250) })
	return p
}

func (p *publisher) publish(topic string, payload string) {
	p.t.Helper()
	tok := p.c.Publish(topic, 1, false, []byte(payload))
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		p.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// sink is an EmitFunc recording points in order.
type sink struct {
	mu     sync.Mutex
	points []string
	calls  int
}

func (s *sink) emit(_ context.Context, b point.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	for _, p := range b {
		s.points = append(s.points, formatPoint(p))
	}
	return nil
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.points...)
}

func (s *sink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.points)
}

// running is a Source running in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config, obs point.Observer, emit point.EmitFunc) *running {
	t.Helper()
	src, err := New(cfg, obs, testLogger())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, emit) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it; it returns how long Run took to return.
func (r *running) stop(t *testing.T) time.Duration {
	t.Helper()
	r.cancel()
	begin := time.Now()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancel")
	}
	return time.Since(begin)
}

func waitUp(t *testing.T, rec *adaptertest.Recorder, n int) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("%d× state up", n), func() bool {
		c := 0
		for _, s := range rec.StateNames() {
			if s == "up" {
				c++
			}
		}
		return c >= n
	})
}

func baseConfig(broker string) Config {
	return Config{
		Name: "meters", Broker: broker, ClientID: fmt.Sprintf("gw-test-%d", testClientSeq.Add(1)), QoS: 1,
		Bindings: []Binding{
			{Device: "e1", Measurement: "energy_meter", Tags: meterTags, Topic: "meters/e1", TimestampPath: "ts",
				Fields: []FieldBinding{
					{Path: "data.kwh", Field: "energy_kwh_total"},
					{Path: "kw", Field: "power_kw", Conv: point.Conv{Scale: 0.001}},
				}},
			{Device: "w1", Measurement: "water_meter", Topic: "site/+/water/#", Format: "number",
				Fields: []FieldBinding{{Field: "water_m3_total", Conv: point.Conv{Scale: 0.001, Offset: 100}}}},
			{Device: "e3", Measurement: "energy_meter", Topic: "meters/e3", TimestampPath: "time",
				Fields: []FieldBinding{{Path: "kwh", Field: "energy_kwh_total"}}},
		},
	}
}

func TestRunDecodesPayloads(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	rec := &adaptertest.Recorder{}
	out := &sink{}
	start(t, baseConfig(m.URL), rec, out.emit)
	waitUp(t, rec, 1)
	pub := newPublisher(t, m.URL)
	pub.publish("meters/e1", `{"ts":1700000000123,"data":{"kwh":12345.678},"kw":12500}`)
	pub.publish("site/hall1/water/w1", "12345")
	pub.publish("meters/e3", `{"time":"2023-11-14T22:13:20.5+08:00","kwh":7}`)
	pub.publish("site/hall2/water/w1/total", " 5.5\n")
	pub.publish("site/hall2/gas/w1", "1") // not subscribed: never arrives
	pub.publish("meters/e1", `{"ts":"2023-11-14T14:13:21Z","data":{"kwh":12345.7},"kw":0}`)
	want := []string{
		"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=12345.678 power_kw=12.5 1700000000123000000",
		"water_meter device=w1 water_m3_total=112.345 T",
		"energy_meter device=e3 energy_kwh_total=7 1699971200500000000",
		"water_meter device=w1 water_m3_total=100.0055 T",
		"energy_meter,device=e1,kind=energy_meter device=e1 energy_kwh_total=12345.7 power_kw=0 1699971201000000000",
	}
	testutil.WaitFor(t, 5*time.Second, "5 points", func() bool { return out.len() >= len(want) })
	time.Sleep(100 * time.Millisecond)
	got := out.got()
	// Points without a source timestamp carry the receive time: check it is recent.
	for i, g := range got {
		if strings.HasPrefix(g, "water_meter") {
			var ts int64
			head, tail, _ := strings.Cut(g, " water_m3_total=")
			val, tsText, _ := strings.Cut(tail, " ")
			fmt.Sscan(tsText, &ts)
			if d := time.Since(time.Unix(0, ts)); d < 0 || d > 10*time.Second {
				t.Errorf("point %q: receive time %s ago", g, d)
			}
			got[i] = head + " water_m3_total=" + val + " T"
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("points:\n got %q\nwant %q", got, want)
	}
	if errs := rec.Errors(); len(errs) != 0 {
		t.Fatalf("unexpected signal errors: %q", errs)
	}
	if n := rec.ReceivedFields(); n != 7 {
		t.Fatalf("Received counted %d fields, want 7", n)
	}
}

func TestRunWildcardSubscriptionAndUnbound(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	rec := &adaptertest.Recorder{}
	out := &sink{}
	cfg := baseConfig(m.URL)
	cfg.Subscribe = []string{"meters/#", "site/#"}
	start(t, cfg, rec, out.emit)
	waitUp(t, rec, 1)
	pub := newPublisher(t, m.URL)
	pub.publish("site/hall1/water/w1", "1000")
	pub.publish("meters/e9", `{"kw":1}`)
	pub.publish("site/hall1/gas/g1", "1")
	pub.publish("site/hall1/water", "2000") // '#' also matches the parent level
	pub.publish("site/x/water/w1/a/b", "3000")
	testutil.WaitFor(t, 5*time.Second, "3 points", func() bool { return out.len() >= 3 })
	testutil.WaitFor(t, 5*time.Second, "2 errors", func() bool { return len(rec.Errors()) >= 2 })
	time.Sleep(100 * time.Millisecond)
	var got []string
	for _, p := range out.got() {
		got = append(got, p[:strings.LastIndexByte(p, ' ')])
	}
	if want := []string{"water_meter device=w1 water_m3_total=101", "water_meter device=w1 water_m3_total=102", "water_meter device=w1 water_m3_total=103"}; !slices.Equal(got, want) {
		t.Fatalf("points: got %q, want %q", got, want)
	}
	wantErrs := []string{
		`meters|||unbound|route topic "meters/e9": no binding matches`,
		`meters|||unbound|route topic "site/hall1/gas/g1": no binding matches`,
	}
	if errs := rec.Errors(); !slices.Equal(errs, wantErrs) {
		t.Fatalf("errors:\n got %q\nwant %q", errs, wantErrs)
	}
}

func TestRunMalformedPayloads(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	rec := &adaptertest.Recorder{}
	out := &sink{}
	cfg := baseConfig(m.URL)
	cfg.MaxPayloadBytes = 100
	start(t, cfg, rec, out.emit)
	waitUp(t, rec, 1)
	pub := newPublisher(t, m.URL)
	tests := []struct {
		name, topic, payload string
		errs                 []string
	}{
		{"invalid JSON", "meters/e1", `{"data":{"kwh":1},"kw":}`, []string{
			`meters|e1||decode|decode topic "meters/e1" device "e1": invalid JSON at offset 23: unexpected '}' looking for beginning of value: payload "{\"data\":{\"kwh\":1},\"kw\":}"`}},
		{"binary garbage", "meters/e1", "\x00\xff\x10garbage", []string{
			`meters|e1||decode|decode topic "meters/e1" device "e1": invalid JSON at offset 0: unexpected byte 0x00 looking for beginning of value: payload "\x00\xff\x10garbage"`}},
		{"empty payload", "meters/e3", "", []string{
			`meters|e3||decode|decode topic "meters/e3" device "e3": invalid JSON at offset 0: unexpected end of input: payload ""`}},
		{"path missing", "meters/e1", `{"data":{"kwh":1}}`, []string{
			`meters|e1|power_kw|missing|decode topic "meters/e1" device "e1" field "power_kw": path "kw" not found`}},
		{"every field missing", "meters/e1", `{"kwh":1}`, []string{
			`meters|e1|energy_kwh_total|missing|decode topic "meters/e1" device "e1" field "energy_kwh_total": path "data.kwh" not found`,
			`meters|e1|power_kw|missing|decode topic "meters/e1" device "e1" field "power_kw": path "kw" not found`}},
		{"wrong type", "meters/e1", `{"data":{"kwh":[1,2]},"kw":"high"}`, []string{
			`meters|e1|energy_kwh_total|type|decode topic "meters/e1" device "e1" field "energy_kwh_total": path "data.kwh": array value "[1,2]": unsupported value type`,
			`meters|e1|power_kw|type|decode topic "meters/e1" device "e1" field "power_kw": path "kw": string value "high" without map: unsupported value type`}},
		{"out of range number", "meters/e3", `{"kwh":-1e309}`, []string{
			`meters|e3|energy_kwh_total|nan|decode topic "meters/e3" device "e3" field "energy_kwh_total": path "kwh": value -1e309 out of range: value is not finite`}},
		{"bare NaN", "site/a/water/w1", "nan", []string{
			`meters|w1|water_m3_total|nan|decode topic "site/a/water/w1" device "w1" field "water_m3_total": value "nan": value is not finite`}},
		{"bare infinity", "site/a/water/w1", "-Infinity", []string{
			`meters|w1|water_m3_total|nan|decode topic "site/a/water/w1" device "w1" field "water_m3_total": value "-Infinity": value is not finite`}},
		{"bare text", "site/a/water/w1", "n/a", []string{
			`meters|w1|water_m3_total|decode|decode topic "site/a/water/w1" device "w1" field "water_m3_total": payload "n/a" is not a number`}},
		{"bad timestamp", "meters/e3", `{"kwh":1,"time":"14/11/2023"}`, []string{
			`meters|e3||timestamp|decode topic "meters/e3" device "e3": timestamp path "time": value "14/11/2023" is not RFC 3339`}},
		{"oversize", "meters/e3", `{"kwh":1,"note":"` + strings.Repeat("é", 50) + `"}`, []string{
			`meters|e3||too_large|decode topic "meters/e3" device "e3": payload of 119 bytes exceeds max_payload_bytes 100`}},
	}
	seen := 0
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := out.len()
			pub.publish(tt.topic, tt.payload)
			good := fmt.Sprintf(`{"kwh":%d}`, i)
			pub.publish("meters/e3", good)
			testutil.WaitFor(t, 5*time.Second, "the good message after it", func() bool {
				return out.len() > before && strings.Contains(strings.Join(out.got()[before:], "\n"), fmt.Sprintf("energy_kwh_total=%d ", i))
			})
			errs := rec.Errors()[seen:]
			seen += len(errs)
			if !slices.Equal(errs, tt.errs) {
				t.Fatalf("errors:\n got %q\nwant %q", errs, tt.errs)
			}
		})
	}
	// Besides the good messages, only "path missing" (its good field) and "bad
	// timestamp" (with the receive time) became points.
	if got := out.len(); got != len(tests)+2 {
		t.Fatalf("got %d points, want %d: %q", got, len(tests)+2, out.got())
	}
}

func TestRunRecoversFromBrokerRestart(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	rec := &adaptertest.Recorder{}
	out := &sink{}
	start(t, baseConfig(m.URL), rec, out.emit)
	waitUp(t, rec, 1)
	newPublisher(t, m.URL).publish("meters/e3", `{"kwh":1}`)
	testutil.WaitFor(t, 5*time.Second, "first point", func() bool { return out.len() == 1 })

	m.Stop()
	testutil.WaitFor(t, 10*time.Second, "state down", func() bool { return slices.Contains(rec.StateNames(), "down") })
	time.Sleep(300 * time.Millisecond) // a few failing reconnection attempts
	m.Start()
	restarted := time.Now()
	// The restarted broker has no session (persistence off): the source must
	// subscribe again by itself.
	waitUp(t, rec, 2)
	newPublisher(t, m.URL).publish("meters/e3", `{"kwh":2}`)
	testutil.WaitFor(t, 10*time.Second, "point after restart", func() bool { return out.len() == 2 })
	if d := time.Since(restarted); d > 10*time.Second {
		t.Fatalf("data flowed again %s after the restart, want ≤ 10s", d)
	}
	states := rec.StateStrings()
	t.Logf("states: %q", states)
	if len(states) < 5 || states[0] != "connecting" || states[1] != "up" || !strings.HasPrefix(states[2], "down: lose connection to broker") ||
		states[3] != "connecting" || states[len(states)-1] != "up" {
		t.Fatalf("state transitions: %q", states)
	}
	for _, s := range states[4 : len(states)-1] {
		if s != "connecting" && s != fmt.Sprintf(`down: connect broker %q: dial tcp 127.0.0.1:%d: connect: connection refused`, m.URL, m.Port) {
			t.Fatalf("unexpected state %q in %q", s, states)
		}
	}
}

// TestRunAcknowledgesOnlyAfterEmit stops a source while emit is blocked and checks that
// the broker redelivers the unacknowledged message, and only it, to the next session.
func TestRunAcknowledgesOnlyAfterEmit(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	cfg := baseConfig(m.URL)
	rec := &adaptertest.Recorder{}
	var calls atomic.Int32
	blocked := make(chan struct{})
	emitA := func(ctx context.Context, b point.Batch) error {
		if calls.Add(1) == 1 {
			return nil
		}
		close(blocked)
		<-ctx.Done()
		return ctx.Err()
	}
	a := start(t, cfg, rec, emitA)
	waitUp(t, rec, 1)
	pub := newPublisher(t, m.URL)
	pub.publish("meters/e3", `{"kwh":1}`)
	testutil.WaitFor(t, 5*time.Second, "first emit", func() bool { return calls.Load() == 1 })
	pub.publish("meters/e3", `{"kwh":2}`)
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("second emit not called")
	}
	a.stop(t)

	out := &sink{}
	start(t, cfg, &adaptertest.Recorder{}, out.emit) // same client id: the broker resumes the session
	testutil.WaitFor(t, 10*time.Second, "redelivered message", func() bool { return out.len() >= 1 })
	pub.publish("meters/e3", `{"kwh":3}`)
	testutil.WaitFor(t, 5*time.Second, "new message", func() bool { return out.len() >= 2 })
	var got []string
	for _, p := range out.got() {
		got = append(got, p[:strings.LastIndexByte(p, ' ')])
	}
	want := []string{"energy_meter device=e3 energy_kwh_total=2", "energy_meter device=e3 energy_kwh_total=3"}
	if !slices.Equal(got, want) {
		t.Fatalf("second session got %q, want %q", got, want)
	}
}

// TestRunEmitErrorIsNotRetried checks that the source calls emit once per batch (the
// emit policy, retries included, belongs to the pipeline) and that a batch emit
// refused is never acknowledged: the next session gets its message again.
func TestRunEmitErrorIsNotRetried(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	cfg := baseConfig(m.URL)
	rec := &adaptertest.Recorder{}
	var mu sync.Mutex
	var attempts []string
	emit := func(_ context.Context, b point.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, formatPoint(b[0]))
		if len(attempts) == 1 {
			return errors.New("queue refused")
		}
		return nil
	}
	r := start(t, cfg, rec, emit)
	waitUp(t, rec, 1)
	pub := newPublisher(t, m.URL)
	pub.publish("meters/e1", `{"ts":1700000000000,"data":{"kwh":1},"kw":1}`)
	testutil.WaitFor(t, 5*time.Second, "an attempt", func() bool { mu.Lock(); defer mu.Unlock(); return len(attempts) == 1 })
	pub.publish("meters/e3", `{"kwh":2}`)
	testutil.WaitFor(t, 5*time.Second, "the second message", func() bool { mu.Lock(); defer mu.Unlock(); return len(attempts) == 2 })
	mu.Lock()
	if !strings.Contains(attempts[0], "device=e1") || !strings.Contains(attempts[1], "energy_kwh_total=2") {
		t.Fatalf("attempts %q: want the refused batch once, then the next message", attempts)
	}
	mu.Unlock()
	r.stop(t)
	// The refused message was not acknowledged: a new session with the same id gets it
	// again, and nothing of the stored one.
	out := &sink{}
	start(t, cfg, &adaptertest.Recorder{}, out.emit)
	testutil.WaitFor(t, 10*time.Second, "redelivered message", func() bool { return out.len() >= 1 })
	pub.publish("meters/e3", `{"kwh":9}`)
	testutil.WaitFor(t, 5*time.Second, "new message", func() bool { return out.len() >= 2 })
	got := out.got()
	if len(got) != 2 || !strings.Contains(got[0], "device=e1") || !strings.Contains(got[1], "energy_kwh_total=9") {
		t.Fatalf("second session got %q, want the refused message again, then the new one", got)
	}
}

// TestRunBatchesWithinInflightLimit publishes ten times more QoS 1 messages than
// mosquitto keeps in flight (20) with a long batch wait: waiting for full batches would
// take 10 × 500ms, emitting as soon as the broker waits for acknowledgements takes one
// wait (for the last, partial batch).
func TestRunBatchesWithinInflightLimit(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	cfg := baseConfig(m.URL)
	cfg.BatchWait = 500 * time.Millisecond
	rec := &adaptertest.Recorder{}
	out := &sink{}
	start(t, cfg, rec, out.emit)
	waitUp(t, rec, 1)
	pub := newPublisher(t, m.URL)
	const n = 200
	var toks []paho.Token
	begin := time.Now()
	for i := range n {
		toks = append(toks, pub.c.Publish("meters/e3", 1, false, fmt.Sprintf(`{"kwh":%d}`, i)))
	}
	for _, tok := range toks {
		tok.Wait()
	}
	testutil.WaitFor(t, 5*time.Second, "all points", func() bool { return out.len() == n })
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("%d messages took %s", n, d)
	}
	for i, p := range out.got() {
		if !strings.Contains(p, fmt.Sprintf("energy_kwh_total=%d ", i)) {
			t.Fatalf("point %d out of order: %q", i, p)
		}
	}
}

func TestRunStopsPromptlyWithoutLeaks(t *testing.T) {
	m := testsrv.StartMosquitto(t)
	pub := newPublisher(t, m.URL)
	time.Sleep(50 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	// Connected, with messages flowing.
	rec := &adaptertest.Recorder{}
	out := &sink{}
	r := start(t, baseConfig(m.URL), rec, out.emit)
	waitUp(t, rec, 1)
	pub.publish("meters/e3", `{"kwh":1}`)
	testutil.WaitFor(t, 5*time.Second, "a point", func() bool { return out.len() == 1 })
	if d := r.stop(t); d > time.Second {
		t.Fatalf("Run returned %s after cancel", d)
	}
	if s := rec.StateStrings(); s[len(s)-1] != "up" {
		t.Fatalf("last state %q, want up (a stop is not reported as a lost connection)", s[len(s)-1])
	}

	// Broker unreachable: Run is between connection attempts.
	cfg := baseConfig("tcp://127.0.0.1:1")
	rec = &adaptertest.Recorder{}
	r = start(t, cfg, rec, out.emit)
	testutil.WaitFor(t, 5*time.Second, "a failed attempt", func() bool { return slices.Contains(rec.StateNames(), "down") })
	if d := r.stop(t); d > time.Second {
		t.Fatalf("Run returned %s after cancel while reconnecting", d)
	}

	// Emit blocked: Run still returns promptly.
	rec = &adaptertest.Recorder{}
	r = start(t, baseConfig(m.URL), rec, func(ctx context.Context, _ point.Batch) error { <-ctx.Done(); return ctx.Err() })
	waitUp(t, rec, 1)
	pub.publish("meters/e3", `{"kwh":1}`)
	time.Sleep(100 * time.Millisecond)
	if d := r.stop(t); d > time.Second {
		t.Fatalf("Run returned %s after cancel with emit blocked", d)
	}

	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
	}
}
