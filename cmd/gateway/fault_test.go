package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// Fault-injection tests: the gateway binary between a real mosquitto and a real
// VictoriaMetrics, with the sink stopped, the gateway killed and the disk budget
// exhausted under load. Each compares what VictoriaMetrics holds at the end with
// exactly what the publisher produced.

const (
	// faultDevices flow meters share the load; each message is one point.
	faultDevices = 20
	// faultRate is the publish rate in messages (= points) per second.
	faultRate = 2500
)

// Metric names as exposed for the sink "tsdb".
const (
	mPending    = `ganlink_queue_pending_points{sink="tsdb"}`
	mAppended   = `ganlink_queue_appended_points_total{sink="tsdb"}`
	mWritten    = `ganlink_sink_points_written_total{sink="tsdb"}`
	mDiskFull   = `ganlink_queue_dropped_points_total{reason="disk_full",sink="tsdb"}`
	mSinkUp     = `ganlink_sink_up{sink="tsdb"}`
	mQueued     = `ganlink_pipeline_points_queued_total{source="meters"}`
	mSourceUp   = `ganlink_source_up{source="meters"}`
	mOldestAge  = `ganlink_queue_oldest_pending_age_seconds{sink="tsdb"}`
	mWriteSum   = `ganlink_sink_write_duration_seconds_sum{sink="tsdb"}`
	mWriteCount = `ganlink_sink_write_duration_seconds_count{sink="tsdb"}`
)

// brokerSettings are the site settings of docs/operations.md: a queue for the offline
// session large enough for the outage, and room in flight for fsync latency.
var brokerSettings = []string{"max_queued_messages 1000000", "max_inflight_messages 100"}

// waitStored waits until VictoriaMetrics holds exactly want.
func waitStored(t *testing.T, vm *testsrv.Victoria, want map[string]float64, d time.Duration) {
	t.Helper()
	if msg := testsrv.WaitFor(d, func() string { return testsrv.DiffSamples(want, stored(vm), 1e-12) }); msg != "" {
		t.Fatalf("VictoriaMetrics differs from what the publisher produced:\n%s", msg)
	}
}

// waitMetric polls /metrics until cond holds for the value of name.
func waitMetric(t *testing.T, g *gateway, name string, d time.Duration, what string, cond func(float64) bool) map[string]float64 {
	t.Helper()
	var m map[string]float64
	if msg := testsrv.WaitFor(d, func() string {
		m = g.Metrics()
		if cond(m[name]) {
			return ""
		}
		return fmt.Sprintf("%s = %v", name, m[name])
	}); msg != "" {
		t.Fatalf("waiting for %s: %s", what, msg)
	}
	return m
}

// TestSinkOutage60s: VictoriaMetrics is stopped for 60 s while 2 500 points/s arrive
// over MQTT QoS 1; after it restarts it holds exactly every point published, and the
// backlog drains while live data keeps flowing. The drain rate is logged.
func TestSinkOutage60s(t *testing.T) {
	broker := testsrv.StartMosquittoWith(t, brokerSettings...)
	vm := testsrv.StartVictoria(t)
	gw := newGateway(t, defaultGWConfig(t, broker.URL, vm.URL, faultDevices))
	gw.Start()
	pid := gw.Pid()
	pub := newPublisher(t, broker.URL, faultDevices)
	pub.Start(faultRate)

	waitMetric(t, gw, mWritten, 30*time.Second, "first points written", func(v float64) bool { return v >= faultRate })
	vm.Stop()
	stopped := time.Now()
	down := waitMetric(t, gw, mSinkUp, 30*time.Second, "sink down", func(v float64) bool { return v == 0 })
	time.Sleep(time.Until(stopped.Add(60 * time.Second)))
	before := gw.Metrics()
	// Everything queued since the sink went down is pending (how much that is depends on
	// how fast this machine published: 150 000 points at the full rate).
	if queued := before[mQueued] - down[mQueued]; before[mPending] < queued || queued < 10*faultRate {
		t.Fatalf("backlog after 60 s outage = %v points, want at least the %v queued while the sink was down (and that at least %d)",
			before[mPending], queued, 10*faultRate)
	}
	t.Logf("backlog after the outage: %.0f points (%.0f points/s published)", before[mPending], before[mPending]/time.Since(stopped).Seconds())
	vm.Start()
	outage := time.Since(stopped)

	// Replay: poll until the backlog is down to what live data keeps pending.
	restarted := time.Now()
	var first, drained time.Time
	var atFirst, atDrained map[string]float64
	for deadline := restarted.Add(120 * time.Second); ; {
		m := gw.Metrics()
		now := time.Now()
		if first.IsZero() && m[mWritten] > before[mWritten] {
			first, atFirst = now, m
		}
		if !first.IsZero() && m[mPending] <= faultRate {
			drained, atDrained = now, m
			break
		}
		if now.After(deadline) {
			t.Fatalf("backlog not drained 120 s after the sink came back: %v points pending", m[mPending])
		}
		time.Sleep(20 * time.Millisecond)
	}
	secs := drained.Sub(first).Seconds()
	drainRate := (atDrained[mWritten] - atFirst[mWritten]) / secs
	ingestRate := (atDrained[mAppended] - atFirst[mAppended]) / secs
	reqs := atDrained[mWriteCount] - atFirst[mWriteCount]
	t.Logf("outage %.1fs, backlog %.0f points (oldest %.1fs); first write %.2fs after restart; drained %.0f points in %.2fs: %.0f points/s written while %.0f points/s were ingested (%.1f×); %.0f requests of %.0f points, %.1f ms each; GOMAXPROCS %d",
		outage.Seconds(), before[mPending], before[mOldestAge], first.Sub(restarted).Seconds(),
		atDrained[mWritten]-atFirst[mWritten], secs, drainRate, ingestRate, drainRate/ingestRate,
		reqs, (atDrained[mWritten]-atFirst[mWritten])/reqs, 1000*(atDrained[mWriteSum]-atFirst[mWriteSum])/reqs,
		runtime.GOMAXPROCS(0))
	// How much faster than the ingest rate the replay runs is a figure of the machine
	// (scripts/loadtest.sh measures it); here the backlog must shrink while live data
	// keeps arriving.
	if drainRate <= ingestRate {
		t.Errorf("replay at %.0f points/s does not outpace the ingest rate %.0f points/s", drainRate, ingestRate)
	}

	time.Sleep(3 * time.Second) // live data after the replay
	pub.Stop()
	ph := pub.phases[0]
	cmpStart := time.Now()
	waitStored(t, vm, pub.expected(0, pub.Published()), 60*time.Second)
	if gw.Pid() != pid || !gw.Running() {
		t.Fatalf("gateway restarted or stopped")
	}
	t.Logf("%d points at %.0f/s, all in VictoriaMetrics exactly once (compared in %.1fs)", pub.Published(), ph.achievedRate, time.Since(cmpStart).Seconds())
}

// TestGatewaySIGKILL: the gateway with fsync "always" is killed under load twice — once
// while the sink is down (its queue holds points acknowledged to the broker but not
// written) and once while it is up — and restarted with the same configuration, queue
// and client id. Every point the broker accepted ends up in VictoriaMetrics.
func TestGatewaySIGKILL(t *testing.T) {
	broker := testsrv.StartMosquittoWith(t, brokerSettings...)
	vm := testsrv.StartVictoria(t)
	cfg := defaultGWConfig(t, broker.URL, vm.URL, faultDevices)
	cfg.Fsync = "always"
	cfg.FlushInterval = "1s"
	gw := newGateway(t, cfg)
	gw.Start()
	pub := newPublisher(t, broker.URL, faultDevices)
	pub.Start(faultRate)
	waitMetric(t, gw, mWritten, 30*time.Second, "first points written", func(v float64) bool { return v >= faultRate })

	// Kill 1: sink down, backlog in the queue.
	vm.Stop()
	m := waitMetric(t, gw, mPending, 30*time.Second, "a backlog", func(v float64) bool { return v >= 2*faultRate })
	gw.Kill()
	killedAt := pub.Published()
	t.Logf("kill 1 with %.0f points pending in the queue, %d published", m[mPending], killedAt)
	time.Sleep(500 * time.Millisecond) // the broker queues for the offline session
	gw.Start()
	after := waitMetric(t, gw, mAppended, 30*time.Second, "ingest after restart", func(v float64) bool { return v > 0 })
	if after[mPending] < m[mPending] {
		t.Errorf("after restart %v points pending, fewer than the %v before the kill", after[mPending], m[mPending])
	}
	vm.Start()
	waitMetric(t, gw, mWritten, 30*time.Second, "writes after restart", func(v float64) bool { return v >= faultRate })

	// Kill 2: sink up, under load.
	gw.Kill()
	t.Logf("kill 2, %d published", pub.Published())
	time.Sleep(500 * time.Millisecond)
	gw.Start()
	waitMetric(t, gw, mWritten, 30*time.Second, "writes after restart", func(v float64) bool { return v >= faultRate })
	time.Sleep(2 * time.Second)
	pub.Stop()
	waitStored(t, vm, pub.expected(0, pub.Published()), 60*time.Second)
	// Both restarts resumed the broker's session, which redelivered what the killed
	// gateway had not acknowledged and what arrived while it was away.
	runs := strings.Split(gw.logTail(16<<20), "=== start ")
	if len(runs) != 4 {
		t.Fatalf("log shows %d starts, want 3", len(runs)-1)
	}
	for i, run := range runs[2:] { // runs[0] is empty, runs[1] the first start
		if !strings.Contains(run, "session_present=true") {
			t.Errorf("restart %d did not resume the persistent MQTT session", i+1)
		}
	}
	t.Logf("%d points at %.0f/s, all in VictoriaMetrics exactly once", pub.Published(), pub.phases[0].achievedRate)
}

// TestDiskBudgetFull: with queue.max_bytes 1MiB and the sink down, ingest continues;
// the oldest points are dropped and counted, the count equals what VictoriaMetrics
// lacks after it comes back, the newest points are all there and the gateway keeps
// running throughout.
func TestDiskBudgetFull(t *testing.T) {
	broker := testsrv.StartMosquittoWith(t, brokerSettings...)
	vm := testsrv.StartVictoria(t)
	cfg := defaultGWConfig(t, broker.URL, vm.URL, faultDevices)
	cfg.MaxBytes = "1MiB"
	gw := newGateway(t, cfg)
	gw.Start()
	pid := gw.Pid()
	pub := newPublisher(t, broker.URL, faultDevices)
	pub.Start(faultRate)
	waitMetric(t, gw, mWritten, 30*time.Second, "first points written", func(v float64) bool { return v >= faultRate })

	vm.Stop()
	full := time.Now()
	waitMetric(t, gw, mDiskFull, 60*time.Second, "drops", func(v float64) bool { return v > 0 })
	for time.Since(full) < 12*time.Second {
		if code, body := gw.get("/healthz"); code != 200 {
			t.Fatalf("/healthz while the queue is full: %d %s", code, body)
		}
		if m := gw.Metrics(); m[mSourceUp] != 1 || m[mSinkUp] != 0 {
			t.Fatalf("while the queue is full: %s = %v, %s = %v; want the source up, the sink down",
				mSourceUp, m[mSourceUp], mSinkUp, m[mSinkUp])
		}
		time.Sleep(500 * time.Millisecond)
	}
	pub.Stop()
	published := pub.Published()
	// Every published point is in the queue (or dropped from it) before the sink returns.
	m := waitMetric(t, gw, mQueued, 30*time.Second, "all points queued", func(v float64) bool { return v >= float64(published) })
	if m[mQueued] != float64(published) {
		t.Fatalf("%v points queued, want the %d published (no other points, no duplicates)", m[mQueued], published)
	}
	dropped := m[mDiskFull]
	t.Logf("%d points published, %v dropped for disk_full, %v pending", published, dropped, m[mPending])

	vm.Start()
	waitMetric(t, gw, mPending, 60*time.Second, "backlog written", func(v float64) bool { return v == 0 })
	// Still running: new data flows through.
	pub.Start(faultRate)
	time.Sleep(2 * time.Second)
	pub.Stop()
	total := pub.Published()
	idx := pub.indexOf()
	var got map[string]float64
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		got = stored(vm)
		for n := published; n < total; n++ {
			if _, ok := got[pub.sampleKey(n)]; !ok {
				return fmt.Sprintf("point %d published after recovery is missing", n)
			}
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
	if m := gw.Metrics(); m[mDiskFull] != dropped {
		t.Fatalf("disk_full drops grew from %v to %v after the sink came back", dropped, m[mDiskFull])
	}
	want := pub.expected(0, total)
	var missing []int
	for k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, idx[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected sample %s", k)
		}
	}
	sort.Ints(missing)
	if float64(len(missing)) != dropped || dropped == 0 {
		t.Fatalf("%d points missing from VictoriaMetrics, ganlink_queue_dropped_points_total{reason=\"disk_full\"} = %v", len(missing), dropped)
	}
	// The missing points are one run of the oldest queued ones: the newest are all there.
	lo, hi := missing[0], missing[len(missing)-1]
	if hi-lo+1 != len(missing) {
		t.Fatalf("missing points are not one contiguous run: %d points between %d and %d", len(missing), lo, hi)
	}
	if kept := published - 1 - hi; kept < 4000 {
		t.Fatalf("only the last %d points before the sink came back were kept; 1MiB holds more", kept)
	}
	if gw.Pid() != pid || !gw.Running() {
		t.Fatalf("gateway restarted or stopped")
	}
	if d := testsrv.DiffSamples(pub.expected(hi+1, total), subset(got, pub, hi+1, total), 1e-12); d != "" {
		t.Fatalf("newest points differ:\n%s", d)
	}
	t.Logf("missing points %d..%d (%d) = dropped count; newest %d before recovery and %d after all stored",
		lo, hi, len(missing), published-1-hi, total-published)
}

// subset returns the samples of got that belong to messages [from, to).
func subset(got map[string]float64, pub *publisher, from, to int) map[string]float64 {
	out := map[string]float64{}
	for n := from; n < to; n++ {
		k := pub.sampleKey(n)
		if v, ok := got[k]; ok {
			out[k] = v
		}
	}
	return out
}
