package opcua

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/adapters/adaptertest"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/internal/testutil"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 123456700, time.UTC) // OPC UA times have 100 ns resolution

// want is an expected point of device m1.
type want struct {
	field string
	value float64
	q     point.Quality
	time  time.Time
}

func checkLast(t *testing.T, rec *adaptertest.Recorder, w want) {
	t.Helper()
	p, ok := rec.LastField("m1", w.field)
	if !ok {
		t.Fatalf("no point for field %q", w.field)
	}
	got := want{p.Fields[0].Key, p.Fields[0].Value, p.Fields[0].Quality, time.Unix(0, p.Time).UTC()}
	if got != w {
		t.Errorf("field %q: got %+v, want %+v", w.field, got, w)
	}
	if p.Measurement != "cnc" || p.Device != "m1" || len(p.Tags) != len(testTags) || &p.Tags[0] != &testTags[0] {
		t.Errorf("field %q: identity measurement=%q device=%q tags=%v, want cnc, m1 and the shared tag slice", w.field, p.Measurement, p.Device, p.Tags)
	}
}

func hasLast(rec *adaptertest.Recorder, w want) bool {
	p, ok := rec.LastField("m1", w.field)
	return ok && p.Fields[0].Value == w.value && p.Fields[0].Quality == w.q && p.Time == w.time.UnixNano()
}

// Values flow with exact values, qualities and source timestamps; server time and then
// gateway time are the fallbacks.
func TestValuesFlow(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "speed", "count", "temp", "u16", "srvtime", "notime")
	ts.set("speed", dv(1500.5, ua.StatusOK, t0, t0.Add(time.Hour)))
	ts.set("count", dv(int32(-7), ua.StatusOK, t0.Add(time.Second), time.Time{}))
	ts.set("temp", dv(float32(20.5), ua.StatusUncertainSensorNotAccurate, t0.Add(2*time.Second), time.Time{}))
	ts.set("u16", dv(uint16(65535), ua.StatusOK, t0.Add(3*time.Second), time.Time{}))
	ts.set("srvtime", dv(1.25, ua.StatusOK, time.Time{}, t0.Add(4*time.Second)))
	ts.set("notime", dv(2.5, ua.StatusOK, time.Time{}, time.Time{}))

	cfg := testConfig(ts.url, ts, "speed", "count", "temp", "u16", "srvtime", "notime")
	cfg.Items[2].Conv = point.Conv{Scale: 2, Offset: 1}
	// Monitoring parameters are sent (this server accepts and ignores them).
	cfg.Items[1].DeadbandType, cfg.Items[1].DeadbandValue = "absolute", 0.5
	cfg.Items[3].SamplingInterval, cfg.Items[3].QueueSize = 20*time.Millisecond, 3
	rec := &adaptertest.Recorder{}
	before := time.Now()
	runSource(t, cfg, rec, nil)

	first := []want{
		{"speed", 1500.5, point.Good, t0},
		{"count", -7, point.Good, t0.Add(time.Second)},
		{"temp", 42, point.Uncertain, t0.Add(2 * time.Second)},
		{"u16", 65535, point.Good, t0.Add(3 * time.Second)},
		{"srvtime", 1.25, point.Good, t0.Add(4 * time.Second)},
	}
	testutil.WaitFor(t, 5*time.Second, "initial values", func() bool {
		for _, w := range first {
			if !hasLast(rec, w) {
				return false
			}
		}
		_, ok := rec.LastField("m1", "notime")
		return ok
	})
	for _, w := range first {
		checkLast(t, rec, w)
	}
	p, _ := rec.LastField("m1", "notime")
	if got := time.Unix(0, p.Time); p.Fields[0].Value != 2.5 || got.Before(before) || got.After(time.Now()) {
		t.Errorf("notime: value %v at %v, want 2.5 at gateway time after %v", p.Fields[0].Value, got, before)
	}

	// Changes flow too.
	ts.set("speed", dv(1200.0, ua.StatusOK, t0.Add(time.Minute), time.Time{}))
	ts.set("count", dv(int32(8), ua.StatusOK, t0.Add(time.Minute+time.Second), time.Time{}))
	second := []want{
		{"speed", 1200, point.Good, t0.Add(time.Minute)},
		{"count", 8, point.Good, t0.Add(time.Minute + time.Second)},
	}
	testutil.WaitFor(t, 5*time.Second, "changed values", func() bool { return hasLast(rec, second[0]) && hasLast(rec, second[1]) })
	for _, w := range second {
		checkLast(t, rec, w)
	}
	received := rec.ReceivedFields()
	if n := rec.FieldCount(); received != n {
		t.Errorf("Received counted %d fields, emitted %d", received, n)
	}
	if sig := rec.Signals(); len(sig) != 0 {
		t.Errorf("unexpected signal errors: %+v", sig)
	}
}

// A server stopped and a new one started on the same port: the same Run notices the
// silence through the keep-alive watchdog (the stopped gopcua server leaves the TCP
// connection open), reconnects and data flows again.
func TestReconnectAfterServerRestart(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "speed")
	ts.set("speed", dv(1.0, ua.StatusOK, t0, time.Time{}))
	rec := &adaptertest.Recorder{}
	runSource(t, testConfig(ts.url, ts, "speed"), rec, func(s *Source) {
		s.keepAliveTarget = 300 * time.Millisecond
		s.closeTimeout = 300 * time.Millisecond
	})
	testutil.WaitFor(t, 5*time.Second, "first value", func() bool { return hasLast(rec, want{"speed", 1, point.Good, t0}) })

	stopped := time.Now()
	ts.kill()
	testutil.WaitFor(t, 5*time.Second, "state down", func() bool {
		s := rec.StateList()
		return s[len(s)-1] == point.StateDown
	})
	ts2 := startTestServer(t, ts.port, "speed")
	restarted := time.Now()
	ts2.set("speed", dv(2.0, ua.StatusOK, t0.Add(time.Hour), time.Time{}))
	testutil.WaitFor(t, 10*time.Second, "value from the restarted server", func() bool {
		return hasLast(rec, want{"speed", 2, point.Good, t0.Add(time.Hour)})
	})
	t.Logf("data flowed again %s after the restart, %s after the stop", time.Since(restarted).Round(time.Millisecond),
		time.Since(stopped).Round(time.Millisecond))

	// Connecting, Up, then Down (with the cause), Connecting ... Up.
	states := rec.StateList()
	seq := []point.State{point.StateConnecting, point.StateUp, point.StateDown, point.StateConnecting, point.StateUp}
	k := 0
	for _, s := range states {
		if k < len(seq) && s == seq[k] {
			k++
		}
	}
	if k != len(seq) || states[0] != point.StateConnecting || states[1] != point.StateUp || states[2] != point.StateDown ||
		states[len(states)-1] != point.StateUp {
		t.Fatalf("states %s, want connecting, up, down, (connecting, down)..., connecting, up", fmtStates(states))
	}
	downErr := rec.States()[2].Err
	wantPrefix := fmt.Sprintf("subscription 1 on %q: no publish response for ", ts.url)
	if downErr == nil || !strings.HasPrefix(downErr.Error(), wantPrefix) || !strings.HasSuffix(downErr.Error(), " (keep-alive period 300ms)") {
		t.Errorf("down error %v, want %q...", downErr, wantPrefix)
	}
}

// An unknown node among good ones: the good ones flow, the unknown one is reported, and
// once the node exists the periodic retry picks it up without a reconnect.
func TestUnknownNode(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "a", "b")
	ts.set("a", dv(1.0, ua.StatusOK, t0, time.Time{}))
	ts.set("b", dv(2.0, ua.StatusOK, t0, time.Time{}))
	cfg := testConfig(ts.url, ts, "a", "b")
	cfg.Items = append(cfg.Items, Item{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "missing", NodeID: "ns=2;s=Missing"})
	rec := &adaptertest.Recorder{}
	src, _ := runSource(t, cfg, rec, func(s *Source) { s.retryEvery = 300 * time.Millisecond })

	testutil.WaitFor(t, 5*time.Second, "good values and the unknown node reported", func() bool {
		return hasLast(rec, want{"a", 1, point.Good, t0}) && hasLast(rec, want{"b", 2, point.Good, t0}) && len(rec.Signals()) > 0
	})
	sig := rec.Signals()[0]
	wantMsg := fmt.Sprintf(`monitor node "ns=2;s=Missing" on %q: The node id refers to a node that does not exist in the server address space. StatusBadNodeIDUnknown (0x80340000)`, ts.url)
	if sig.Device != "m1" || sig.Signal != "missing" || sig.Reason != "node_unknown" || sig.Err.Error() != wantMsg {
		t.Fatalf("signal error %s/%s %q %q\nwant m1/missing node_unknown %q", sig.Device, sig.Signal, sig.Reason, sig.Err, wantMsg)
	}
	// The server reported the node unknown in a notification: that is a bad value.
	if ps := rec.FieldPoints("m1", "missing"); len(ps) == 0 || ps[0].Fields[0].Quality != point.Bad || ps[0].Fields[0].Value != 0 {
		t.Errorf("points of the unknown node %+v, want one with quality bad", ps)
	}

	// The node appears: the retry monitors it again on the same session.
	upBefore := len(rec.StateList())
	ts.add("Missing")
	ts.set("Missing", dv(5.0, ua.StatusOK, t0.Add(time.Minute), time.Time{}))
	testutil.WaitFor(t, 5*time.Second, "the late node's value", func() bool {
		return hasLast(rec, want{"missing", 5, point.Good, t0.Add(time.Minute)})
	})
	if n := len(rec.StateList()); n != upBefore {
		t.Errorf("states %s: the retry must not reconnect", fmtStates(rec.StateList()))
	}
	if src.subscriptions.Load() != 1 {
		t.Errorf("%d subscriptions created, want 1", src.subscriptions.Load())
	}
}

// A bad status is emitted with quality Bad and no value; uncertain keeps its value.
func TestBadStatus(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "s")
	ts.set("s", dv(10.0, ua.StatusOK, t0, time.Time{}))
	rec := &adaptertest.Recorder{}
	runSource(t, testConfig(ts.url, ts, "s"), rec, nil)
	steps := []struct {
		val    float64
		status ua.StatusCode
		want   want
	}{
		{10, ua.StatusOK, want{"s", 10, point.Good, t0}},
		{99, ua.StatusBadSensorFailure, want{"s", 0, point.Bad, t0.Add(time.Second)}},
		{11, ua.StatusUncertainLastUsableValue, want{"s", 11, point.Uncertain, t0.Add(2 * time.Second)}},
		{12, ua.StatusBadOutOfService | 0x0400, want{"s", 0, point.Bad, t0.Add(3 * time.Second)}}, // with info bits
		{13, ua.StatusGood, want{"s", 13, point.Good, t0.Add(4 * time.Second)}},
	}
	for i, st := range steps {
		if i > 0 {
			ts.set("s", dv(st.val, st.status, st.want.time, time.Time{}))
		}
		testutil.WaitFor(t, 5*time.Second, fmt.Sprintf("step %d", i), func() bool { return hasLast(rec, st.want) })
	}
	if sig := rec.Signals(); len(sig) != 0 {
		t.Errorf("unexpected signal errors: %+v", sig)
	}
}

// Value types: booleans are 0/1, mapped strings and LocalizedText texts use the map;
// strings and texts without a map, arrays, non-numeric types and NaN are reported and
// produce no field.
func TestValueTypes(t *testing.T) {
	t.Parallel()
	names := []string{"on", "off", "mode", "text", "arr", "nan", "inf", "lt", "i64", "u8", "state"}
	ts := startTestServer(t, 0, names...)
	ts.set("on", dv(true, ua.StatusOK, t0, time.Time{}))
	ts.set("off", dv(false, ua.StatusOK, t0, time.Time{}))
	ts.set("mode", dv("MDI", ua.StatusOK, t0, time.Time{}))
	ts.set("text", dv("AUTO", ua.StatusOK, t0, time.Time{}))
	ts.set("arr", dv([]float64{1, 2}, ua.StatusOK, t0, time.Time{}))
	ts.set("nan", dv(math.NaN(), ua.StatusOK, t0, time.Time{}))
	ts.set("inf", dv(float32(math.Inf(-1)), ua.StatusOK, t0, time.Time{}))
	ts.set("lt", dv(ua.NewLocalizedText("x"), ua.StatusOK, t0, time.Time{}))
	ts.set("i64", dv(int64(-1)<<40, ua.StatusOK, t0, time.Time{}))
	ts.set("u8", dv(byte(200), ua.StatusOK, t0, time.Time{}))
	ts.set("state", dv(&ua.LocalizedText{EncodingMask: ua.LocalizedTextLocale | ua.LocalizedTextText, Locale: "en", Text: "Executing"}, ua.StatusOK, t0, time.Time{}))
	cfg := testConfig(ts.url, ts, names...)
	cfg.Items[2].Conv = point.Conv{Map: map[string]float64{"AUTO": 2, "MDI": 1}}
	cfg.Items[10].Conv = point.Conv{Map: map[string]float64{"NotExecuting": 2, "Executing": 3}}
	rec := &adaptertest.Recorder{}
	runSource(t, cfg, rec, nil)

	wantPoints := []want{
		{"on", 1, point.Good, t0}, {"off", 0, point.Good, t0}, {"mode", 1, point.Good, t0},
		{"i64", -(1 << 40), point.Good, t0}, {"u8", 200, point.Good, t0}, {"state", 3, point.Good, t0},
	}
	n := func(f string) string { return ts.node(f) }
	wantSignals := map[string]adaptertest.SignalEvent{
		"text": {Source: "cnc", Device: "m1", Signal: "text", Reason: "type", Err: fmt.Errorf(`convert String value of device "m1" field "text" (node %q): string value "AUTO" without map: unsupported value type`, n("text"))},
		"arr":  {Source: "cnc", Device: "m1", Signal: "arr", Reason: "type", Err: fmt.Errorf(`convert Double array value of device "m1" field "arr" (node %q): unsupported value type`, n("arr"))},
		"nan":  {Source: "cnc", Device: "m1", Signal: "nan", Reason: "nan", Err: fmt.Errorf(`convert Double value of device "m1" field "nan" (node %q): value NaN: value is not finite`, n("nan"))},
		"inf":  {Source: "cnc", Device: "m1", Signal: "inf", Reason: "nan", Err: fmt.Errorf(`convert Float value of device "m1" field "inf" (node %q): value -Inf: value is not finite`, n("inf"))},
		"lt":   {Source: "cnc", Device: "m1", Signal: "lt", Reason: "type", Err: fmt.Errorf(`convert LocalizedText value of device "m1" field "lt" (node %q): string value "x" without map: unsupported value type`, n("lt"))},
	}
	testutil.WaitFor(t, 5*time.Second, "values and signal errors", func() bool {
		for _, w := range wantPoints {
			if !hasLast(rec, w) {
				return false
			}
		}
		return len(rec.Signals()) >= len(wantSignals)
	})
	got := map[string]adaptertest.SignalEvent{}
	for _, s := range rec.Signals() {
		got[s.Signal] = s
	}
	for f, w := range wantSignals {
		g, ok := got[f]
		if !ok || g.Device != w.Device || g.Reason != w.Reason || g.Err.Error() != w.Err.Error() {
			t.Errorf("field %s: signal %+v\nwant %+v", f, g, w)
		}
		if ps := rec.FieldPoints("m1", f); len(ps) != 0 {
			t.Errorf("field %s: points %+v, want none", f, ps)
		}
	}
	if len(got) != len(wantSignals) {
		t.Errorf("signals for %d fields, want %d: %+v", len(got), len(wantSignals), got)
	}
}

// Namespace URIs resolve against the server's NamespaceArray; an unknown URI is reported.
func TestNamespaceURI(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "a")
	ts.set("a", dv(7.0, ua.StatusOK, t0, time.Time{}))
	cfg := testConfig(ts.url, ts)
	cfg.Items = []Item{
		{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "a", NodeID: "nsu=" + plantNS + ";s=a"},
		{Device: "m1", Measurement: "cnc", Tags: testTags, Field: "gone", NodeID: "nsu=urn:ganlink:test:gone;s=a"},
	}
	rec := &adaptertest.Recorder{}
	runSource(t, cfg, rec, nil)
	testutil.WaitFor(t, 5*time.Second, "value through the namespace uri", func() bool {
		return hasLast(rec, want{"a", 7, point.Good, t0}) && len(rec.Signals()) > 0
	})
	sig := rec.Signals()[0]
	wantMsg := fmt.Sprintf(`resolve node "nsu=urn:ganlink:test:gone;s=a" on %q: namespace "urn:ganlink:test:gone" is not in the server's namespace array`, ts.url)
	if sig.Device != "m1" || sig.Signal != "gone" || sig.Reason != "namespace" || sig.Err.Error() != wantMsg {
		t.Fatalf("signal %s/%s %q %q\nwant m1/gone namespace %q", sig.Device, sig.Signal, sig.Reason, sig.Err, wantMsg)
	}
}

// 2 500 items with at most 1 000 per call and 1 200 per subscription: five
// CreateMonitoredItems calls on three subscriptions, every item monitored.
func TestManyItems(t *testing.T) {
	t.Parallel()
	const n = 2500
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("v%04d", i)
	}
	ts := startTestServer(t, 0, names...)
	for i, name := range names {
		ts.set(name, dv(float64(i), ua.StatusOK, t0.Add(time.Duration(i)*time.Millisecond), time.Time{}))
	}
	cfg := testConfig(ts.url, ts, names...)
	cfg.PublishingInterval = 200 * time.Millisecond
	cfg.MaxItemsPerCall = 1000
	cfg.MaxItemsPerSubscription = 1200
	rec := &adaptertest.Recorder{}
	src, _ := runSource(t, cfg, rec, nil)
	testutil.WaitFor(t, 20*time.Second, "all values", func() bool {
		return rec.ReceivedFields() >= n
	})
	seen := map[string]bool{}
	for _, b := range rec.Batches() {
		for _, p := range b {
			f := p.Fields[0]
			var i int
			fmt.Sscanf(f.Key, "v%d", &i)
			if f.Value != float64(i) || f.Quality != point.Good || p.Time != t0.Add(time.Duration(i)*time.Millisecond).UnixNano() {
				t.Errorf("point %+v, want value %d at %v", p, i, t0.Add(time.Duration(i)*time.Millisecond))
			}
			seen[f.Key] = true
		}
	}
	if len(seen) != n {
		t.Errorf("values for %d items, want %d", len(seen), n)
	}
	// One connection: exactly 5 calls on 3 subscriptions. On a loaded machine the
	// keep-alive watchdog may force a reconnect, which repeats the calls.
	attempts := 0
	for _, st := range rec.StateList() {
		if st == point.StateConnecting {
			attempts++
		}
	}
	c, s := src.monitorCalls.Load(), src.subscriptions.Load()
	if (attempts <= 1 && (c != 5 || s != 3)) || c < 5 || s < 3 {
		t.Errorf("%d CreateMonitoredItems calls on %d subscriptions in %d connection attempts, want 5 on 3 per connection", c, s, attempts)
	}
}

// Cancelling the context ends Run promptly and leaves no goroutine of the source or of
// its OPC UA client behind.
//
// Not parallel: the goroutine check sees the clients of every running test, and
// sequential tests run before the parallel ones resume.
func TestCancelStopsPromptly(t *testing.T) {
	ts := startTestServer(t, 0, "a")
	ts.set("a", dv(1.0, ua.StatusOK, t0, time.Time{}))
	rec := &adaptertest.Recorder{}
	_, stop := runSource(t, testConfig(ts.url, ts, "a"), rec, nil)
	testutil.WaitFor(t, 5*time.Second, "first value", func() bool { return hasLast(rec, want{"a", 1, point.Good, t0}) })
	if g := clientGoroutines(); len(g) == 0 {
		t.Fatal("no client goroutines found while running: the leak check would prove nothing")
	}
	start := time.Now()
	stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run took %s to return after cancel", d)
	}
	// gopcua's own client goroutines end asynchronously after Close; give them a moment.
	deadline := time.Now().Add(2 * time.Second)
	for {
		g := clientGoroutines()
		if len(g) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Run returned:\n%s", len(g), strings.Join(g, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Shutdown is not a connection loss: no Down is reported.
	if s := rec.StateList(); s[len(s)-1] != point.StateUp {
		t.Errorf("states %s, want the last one up", fmtStates(s))
	}
}

// emit is called once per batch: while it waits (the pipeline retrying a refusing
// queue) nothing is lost or emitted twice, and the time it takes (1.5s, over twice the
// watchdog's 600ms) does not count as server silence.
func TestEmitOncePerBatch(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "a")
	ts.set("a", dv(1.0, ua.StatusOK, t0, time.Time{}))
	rec := &adaptertest.Recorder{HoldEmit: func(call int) time.Duration {
		if call == 1 {
			return 1500 * time.Millisecond
		}
		return 0
	}}
	runSource(t, testConfig(ts.url, ts, "a"), rec, func(s *Source) { s.keepAliveTarget = 200 * time.Millisecond })
	testutil.WaitFor(t, 5*time.Second, "first value", func() bool { return hasLast(rec, want{"a", 1, point.Good, t0}) })
	ts.set("a", dv(2.0, ua.StatusOK, t0.Add(time.Second), time.Time{}))
	testutil.WaitFor(t, 5*time.Second, "second value", func() bool { return hasLast(rec, want{"a", 2, point.Good, t0.Add(time.Second)}) })
	if ps := rec.FieldPoints("m1", "a"); len(ps) != 2 {
		t.Errorf("points %+v, want exactly the two values", ps)
	}
	calls, received := rec.Calls(), rec.ReceivedFields()
	if calls != 2 || received != 2 {
		t.Errorf("%d emit calls, %d fields received; want 2 calls and 2 fields", calls, received)
	}
	if sig := rec.Signals(); len(sig) != 0 {
		t.Errorf("unexpected signal errors: %+v", sig)
	}
	if s := rec.StateList(); len(s) != 2 {
		t.Errorf("states %s, want connecting, up: emitting is not server silence", fmtStates(s))
	}
}

// A stop while emit waits ends the source promptly: emit returns ctx's error (the
// pipeline counts the batch as dropped at shutdown), the source neither retries it nor
// reports anything itself.
func TestStopWhileEmitWaits(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "a")
	rec := &adaptertest.Recorder{HoldEmit: func(int) time.Duration { return time.Hour }}
	_, stop := runSource(t, testConfig(ts.url, ts, "a"), rec, nil)
	testutil.WaitFor(t, 5*time.Second, "an emit call", func() bool {
		return rec.Calls() >= 1
	})
	begin := time.Now()
	stop()
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("stop took %s with emit waiting", d)
	}
	if calls, batches := rec.Calls(), rec.BatchCount(); calls != 1 || batches != 0 {
		t.Errorf("%d emit calls, %d batches kept; want 1 call and none kept", calls, batches)
	}
	if sig := rec.Signals(); len(sig) != 0 {
		t.Errorf("signals %+v, want none", sig)
	}
}

// A dropped TCP connection is noticed at once (not by the watchdog) and the source
// reconnects.
func TestConnectionDropped(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "a")
	ts.set("a", dv(1.0, ua.StatusOK, t0, time.Time{}))
	px := startProxy(t, fmt.Sprintf("127.0.0.1:%d", ts.port))
	cfg := testConfig(px.url, ts, "a")
	rec := &adaptertest.Recorder{}
	runSource(t, cfg, rec, nil) // default keep-alive: the watchdog would need 15s
	testutil.WaitFor(t, 5*time.Second, "first value", func() bool { return hasLast(rec, want{"a", 1, point.Good, t0}) })

	dropped := time.Now()
	px.drop()
	testutil.WaitFor(t, time.Second, "state down", func() bool {
		s := rec.StateList()
		return s[len(s)-1] == point.StateDown
	})
	downErr := rec.States()[2].Err
	if want := fmt.Sprintf("publish on %q: EOF", px.url); downErr == nil || downErr.Error() != want {
		t.Errorf("down error %v, want %q", downErr, want)
	}
	ts.set("a", dv(2.0, ua.StatusOK, t0.Add(time.Second), time.Time{}))
	testutil.WaitFor(t, 5*time.Second, "value after reconnect", func() bool { return hasLast(rec, want{"a", 2, point.Good, t0.Add(time.Second)}) })
	t.Logf("data flowed again %s after the drop", time.Since(dropped).Round(time.Millisecond))
	if s := rec.StateList(); fmtStates(s) != fmtStates([]point.State{point.StateConnecting, point.StateUp, point.StateDown, point.StateConnecting, point.StateUp}) {
		t.Errorf("states %s", fmtStates(s))
	}
}

// A connection that stays open but carries nothing (no keep-alives) is declared dead
// after three keep-alive periods.
func TestKeepAliveWatchdog(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "a")
	ts.set("a", dv(1.0, ua.StatusOK, t0, time.Time{}))
	px := startProxy(t, fmt.Sprintf("127.0.0.1:%d", ts.port))
	rec := &adaptertest.Recorder{}
	runSource(t, testConfig(px.url, ts, "a"), rec, func(s *Source) {
		s.keepAliveTarget = 200 * time.Millisecond
		s.closeTimeout = 200 * time.Millisecond
	})
	testutil.WaitFor(t, 5*time.Second, "first value", func() bool { return hasLast(rec, want{"a", 1, point.Good, t0}) })
	// Quiet but alive: keep-alives hold the session up.
	time.Sleep(time.Second)
	if s := rec.StateList(); len(s) != 2 {
		t.Fatalf("states %s while quiet, want connecting, up", fmtStates(s))
	}

	frozen := time.Now()
	px.freeze(true)
	testutil.WaitFor(t, 3*time.Second, "state down", func() bool {
		s := rec.StateList()
		return s[len(s)-1] == point.StateDown
	})
	detected := time.Since(frozen)
	// Three keep-alive periods (600ms) after the last response the client received (the
	// proxy's last forwarded message; the client saw it no earlier).
	if quiet := time.Since(px.lastServerMessage()); quiet < 3*200*time.Millisecond {
		t.Errorf("declared dead %s after the last server message, before three keep-alive periods", quiet)
	}
	downErr := rec.States()[2].Err
	wantPrefix := fmt.Sprintf("subscription 1 on %q: no publish response for ", px.url)
	if downErr == nil || !strings.HasPrefix(downErr.Error(), wantPrefix) || !strings.HasSuffix(downErr.Error(), " (keep-alive period 200ms)") {
		t.Errorf("down error %v, want %q...", downErr, wantPrefix)
	}
	px.freeze(false)
	ts.set("a", dv(2.0, ua.StatusOK, t0.Add(time.Second), time.Time{}))
	testutil.WaitFor(t, 5*time.Second, "value after reconnect", func() bool { return hasLast(rec, want{"a", 2, point.Good, t0.Add(time.Second)}) })
	t.Logf("declared dead %s after the freeze", detected.Round(time.Millisecond))
}

// A source without items keeps a session (one subscription sending keep-alives) and
// reports its state.
func TestNoItems(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0)
	rec := &adaptertest.Recorder{}
	src, _ := runSource(t, testConfig(ts.url, ts), rec, func(s *Source) { s.keepAliveTarget = 200 * time.Millisecond })
	testutil.WaitFor(t, 5*time.Second, "state up", func() bool { return len(rec.StateList()) == 2 })
	time.Sleep(time.Second) // several watchdog periods
	if s := rec.StateList(); fmtStates(s) != fmtStates([]point.State{point.StateConnecting, point.StateUp}) {
		t.Errorf("states %s, want connecting, up", fmtStates(s))
	}
	if src.subscriptions.Load() != 1 || src.monitorCalls.Load() != 0 {
		t.Errorf("%d subscriptions, %d CreateMonitoredItems calls; want 1 and 0", src.subscriptions.Load(), src.monitorCalls.Load())
	}
}

// A panic while handling what the server sent (here: in emit) ends the session, not the
// gateway: the source reports it, reconnects and delivers again.
func TestPanicEndsOnlyTheSession(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, 0, "a")
	ts.set("a", dv(1.0, ua.StatusOK, t0, time.Time{}))
	rec := &adaptertest.Recorder{}
	var calls atomic.Int32
	src, err := New(testConfig(ts.url, ts, "a"), rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(ctx context.Context, b point.Batch) error {
			if calls.Add(1) == 1 {
				panic("boom")
			}
			return rec.Emit(ctx, b)
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	testutil.WaitFor(t, 10*time.Second, "the value after the panic", func() bool { return hasLast(rec, want{"a", 1, point.Good, t0}) })
	found := false
	for _, err := range rec.DownErrors() {
		found = found || err.Error() == `opcua session with "`+ts.url+`" failed: panic: boom`
	}
	if !found {
		t.Errorf("no state reports the panic: %q", rec.StateStrings())
	}
}
