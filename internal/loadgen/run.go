package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// Options are the settings every workload shares.
type Options struct {
	// Peer is the program under load; default PeerGanlink.
	Peer Peer
	// Gateway is the path of the gateway binary.
	Gateway string
	// Telegraf is the path of the Telegraf binary (PeerTelegraf).
	Telegraf string
	// Floor is the path of the loadgen binary that runs the floor program
	// (PeerFloor); default: this executable.
	Floor string
	// CPUProfile, when set, is the file the gateway writes its CPU profile to
	// (gateway -cpuprofile); the profile covers the gateway's whole run. A heap profile
	// after a forced collection is written next to it at the end of the load
	// (<name>.heap.pprof). PeerGanlink only.
	CPUProfile string
	// FlushInterval overrides the sink's flush_interval; 0 keeps the gateway's default.
	FlushInterval time.Duration
	// OutageAt and Outage (MQTT workload): the write proxy answers every write with 503
	// from OutageAt after the load starts, for Outage; the result then reports how the
	// backlog drained (Result.Drain).
	OutageAt, Outage time.Duration
	// MemoryLimit, when set, is the gateway's GOMEMLIMIT (e.g. "40MiB"): the Go runtime's
	// soft memory limit, which trades GC CPU for a lower RSS.
	MemoryLimit string
	// Quiet is how long the drain waits without any newly accepted field before it
	// gives up on missing ones; default 5s.
	Quiet time.Duration
	// GatewayLog, when set, receives a copy of the gateway's log file after the run.
	GatewayLog string
	// Log receives the harness's progress; nil discards it.
	Log *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Quiet <= 0 {
		o.Quiet = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Drain is the replay of the backlog an outage left: from the end of the outage until
// the gateway's queue is back to at most one second of ingest.
type Drain struct {
	// Backlog is ganlink_queue_pending_points when the outage ended.
	Backlog int64
	// Took is how long the queue needed to get back to live level, from the first
	// write accepted after the outage.
	Took time.Duration
	// Written and Appended are the growth of ganlink_sink_points_written_total and
	// ganlink_queue_appended_points_total from the end of the outage to then.
	Written, Appended int64
}

// Result is the outcome of one workload run.
type Result struct {
	// Peer is the program that ran the workload.
	Peer Peer
	// Workload names the reference workload, e.g. "MQTT 1000 meters" or
	// "OPC UA 10000 items @ 1s".
	Workload string
	// Rate is the nominal rate: messages/s for MQTT, value changes/s for OPC UA.
	Rate float64
	// RateUnit is "msgs/s" or "values/s".
	RateUnit string
	// Duration is the length of the load (publishing, or the measured OPC UA window).
	Duration time.Duration
	// AchievedRate is the rate the harness really produced (MQTT: acknowledged
	// messages over the publishing time).
	AchievedRate float64
	// Produced is the number of field values produced in the load interval.
	Produced int64
	// Stored is the number of distinct (series, timestamp) samples found in
	// VictoriaMetrics for them.
	Stored int64
	// Loss is Produced - Stored.
	Loss int64
	// Accepted is the number of field values in writes the TSDB accepted (duplicates
	// included), as counted by the write proxy.
	Accepted int64
	// CPUSeconds is the gateway's user + system CPU time over the load interval, which
	// runs from the first produced value to the last accepted write (or the drain's
	// give-up).
	CPUSeconds float64
	// Interval is the length of that load interval.
	Interval time.Duration
	// PeakRSS is the gateway's VmHWM in bytes at the end of the load: the whole life of
	// the process, so the start-up (loading the configuration) is in it.
	PeakRSS int64
	// LoadRSS is the largest VmRSS sampled every 250 ms over the load interval.
	LoadRSS int64
	// P50, P99 and Max are the latencies from source timestamp to the TSDB's answer.
	P50, P99, Max time.Duration
	// LoadBefore and LoadAfter are /proc/loadavg's 1/5/15-minute figures.
	LoadBefore, LoadAfter string
	// PublishFailures counts MQTT publishes the broker did not acknowledge.
	PublishFailures int64
	// BrokerDropped is mosquitto's count of messages it dropped
	// ($SYS/broker/publish/messages/dropped), read at the end of the drain.
	BrokerDropped int64
	// FirstDrop is when, after the load started, the broker first reported a drop (its
	// statistics come every second).
	FirstDrop time.Duration
	// Received is the gateway's count of fields its sources handed to the pipeline
	// (ganlink_source_fields_received_total), read at the end of the drain.
	Received int64
	// HeapInuse and GoSys are the gateway's Go heap in use and memory obtained from
	// the OS (go_memstats_heap_inuse_bytes, go_memstats_sys_bytes) at the end of the drain.
	HeapInuse, GoSys int64
	// ServerDropped counts OPC UA notifications the load server dropped because a
	// subscription accepted none for a long time.
	ServerDropped int64
	// MonitoredAfter (OPC UA): from the gateway's first subscription to every item
	// monitored, as the server saw it; StartToMonitored: from the gateway's process
	// start to the same moment. Connected is the gateway's own "opcua connected" log
	// line time after process start.
	MonitoredAfter, StartToMonitored, Connected time.Duration
	// Drain describes the replay after an outage (Options.Outage); zero without one.
	Drain Drain
	// GatewayWarnings is the number of warnings and errors the gateway logged; LastWarning
	// the last of them.
	GatewayWarnings int
	LastWarning     string
}

// FieldsPerSecond is the produced field rate over the load duration.
func (r Result) FieldsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Produced) / r.Duration.Seconds()
}

// CPUPerMillion is the gateway's CPU seconds per million fields delivered.
func (r Result) CPUPerMillion() float64 {
	delivered := r.Stored
	if delivered <= 0 {
		return math.NaN()
	}
	return r.CPUSeconds / float64(delivered) * 1e6
}

// group runs goroutines and collects their errors.
type group struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// Go runs f in a goroutine; the returned channel is closed when f has returned.
func (g *group) Go(f func() error) <-chan struct{} {
	done := make(chan struct{})
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(done)
		if err := f(); err != nil {
			g.mu.Lock()
			g.errs = append(g.errs, err)
			g.mu.Unlock()
		}
	}()
	return done
}

// Wait waits for every goroutine and returns their errors joined.
func (g *group) Wait() error {
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

// stack is a running gateway with its write proxy in front of VictoriaMetrics.
type stack struct {
	vm       *testsrv.Victoria
	proxy    *writeProxy
	gw       *gatewayProc
	adminURL string
	pid      int
	started  time.Time
	logPath  string
	opts     Options

	stopGW, stopProxy context.CancelFunc
	gwDone            <-chan struct{}
	gwGroup, pxGroup  group
}

// startStack starts VictoriaMetrics (deduplicating to one sample per series and
// millisecond), the write proxy in front of it watching measurement, and the gateway
// with the configuration config returns for the admin port, queue directory and sink
// URL it is given; it waits until the gateway's /readyz answers 200. The stack is
// stopped by stop, and by tb's cleanup on any path.
func startStack(ctx context.Context, tb testsrv.TB, opts Options, measurement string, watch []string,
	peer func(gwCommon) (launch, error)) (*stack, error) {
	tb.Helper()
	vm := testsrv.StartVictoriaWith(tb, "-dedup.minScrapeInterval=1ms")
	dir := tb.TempDir()
	s := &stack{vm: vm, opts: opts, logPath: filepath.Join(dir, "gateway.log")}
	tb.Cleanup(func() { _ = s.stop() }) // after a failed start, or a Fatalf mid-run
	proxy, err := newWriteProxy(vm.URL, measurement, opts.Log)
	if err != nil {
		return nil, err
	}
	s.proxy = proxy
	if i := strings.IndexByte(measurement, '|'); i >= 0 { // the soak watches two
		proxy.measure, proxy.also = []byte(measurement[:i]), []byte(measurement[i+1:])
	}
	pctx, stopProxy := context.WithCancel(context.Background())
	s.stopProxy = stopProxy
	s.pxGroup.Go(func() error { return proxy.Run(pctx) })

	port := testsrv.FreePort(tb)
	s.adminURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	if opts.peer() == PeerTelegraf {
		cfgPath = filepath.Join(dir, "telegraf.conf")
	}
	l, err := peer(gwCommon{AdminPort: port, QueueDir: filepath.Join(dir, "queue"), SinkURL: proxy.URL(),
		FlushInterval: opts.FlushInterval, ConfigPath: cfgPath})
	if err != nil {
		return nil, errors.Join(err, s.stop())
	}
	if l.config != "" {
		if err := writeConfig(cfgPath, l.config); err != nil {
			return nil, errors.Join(err, s.stop())
		}
	}
	s.gw = newGatewayProc(l.bin, l.args, s.logPath, watch...)
	s.gw.readyLog = l.readyLog
	if opts.MemoryLimit != "" {
		s.gw.env = append(os.Environ(), "GOMEMLIMIT="+opts.MemoryLimit)
	}
	gctx, stopGW := context.WithCancel(context.Background())
	s.stopGW = stopGW
	s.started = time.Now()
	s.gwDone = s.gwGroup.Go(func() error { return s.gw.Run(gctx) })
	select {
	case s.pid = <-s.gw.pid:
	case <-s.gwDone:
		return nil, s.stop()
	}
	opts.Log.Info("peer started", "peer", opts.peer(), "pid", s.pid, "log", s.logPath)
	switch {
	case opts.peer() == PeerGanlink:
		if err := waitReady(ctx, s.adminURL, time.Minute, s.gwDone); err != nil {
			return nil, errors.Join(err, s.stop())
		}
	case l.readyLog != "":
		select {
		case <-s.gw.ready:
		case <-s.gwDone:
			return nil, errors.Join(errors.New("peer exited before it was ready"), s.stop())
		case <-time.After(time.Minute):
			return nil, errors.Join(fmt.Errorf("%s: no log line with %q within a minute", opts.peer(), l.readyLog), s.stop())
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), s.stop())
		}
		if err := sleepCtx(ctx, l.readyDelay); err != nil {
			return nil, errors.Join(err, s.stop())
		}
	}
	return s, nil
}

// stop stops the gateway (gracefully), then the proxy, and returns their errors.
func (s *stack) stop() error {
	var err error
	if s.stopGW != nil {
		s.stopGW()
		err = s.gwGroup.Wait()
		s.stopGW = nil
		if s.opts.GatewayLog != "" {
			if b, rerr := os.ReadFile(s.logPath); rerr == nil {
				_ = os.WriteFile(s.opts.GatewayLog, b, 0o644)
			}
		}
	}
	if s.stopProxy != nil {
		s.stopProxy()
		err = errors.Join(err, s.pxGroup.Wait())
		s.stopProxy = nil
	}
	return err
}

// drain waits until the proxy has seen want fields accepted, or none for quiet, or ctx
// is done, and returns when that happened.
func (s *stack) drain(ctx context.Context, want int64, quiet time.Duration) time.Time {
	lastCount, lastChange := int64(-1), time.Now()
	for {
		st := s.proxy.stats()
		now := time.Now()
		if st.Fields >= want {
			return now
		}
		if st.Fields != lastCount {
			lastCount, lastChange = st.Fields, now
		}
		if now.Sub(lastChange) >= quiet {
			s.opts.Log.Warn("drain gave up waiting", "accepted", st.Fields, "want", want, "quiet", quiet)
			return now
		}
		select {
		case <-ctx.Done():
			return now
		case <-s.gwDone:
			return now
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sampleRSS samples pid's VmRSS every 250 ms until the returned function is first
// called; it returns the largest sample (every call the same).
func sampleRSS(pid int) func() int64 {
	done, res := make(chan struct{}), make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := currentRSS(pid); err == nil && v > peak {
				peak = v
			}
			select {
			case <-done:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	var peak int64
	return func() int64 {
		once.Do(func() { close(done); peak = <-res })
		return peak
	}
}

// measure fills the gateway's CPU time since cpu0 and its peak RSS into r.
func (s *stack) measure(r *Result, cpu0 float64) error {
	cpu1, err := cpuSeconds(s.pid)
	if err != nil {
		return err
	}
	rss, err := peakRSS(s.pid)
	if err != nil {
		return err
	}
	r.CPUSeconds, r.PeakRSS = cpu1-cpu0, rss
	r.P50, r.P99 = s.proxy.hist.quantile(0.50), s.proxy.hist.quantile(0.99)
	_, r.Max = s.proxy.hist.count()
	r.Accepted = s.proxy.stats().Fields
	r.GatewayWarnings, r.LastWarning = s.gw.warnings()
	if s.opts.peer() != PeerGanlink {
		return nil
	}
	if s.opts.CPUProfile != "" {
		// The live heap after a collection, next to the CPU profile.
		if err := fetch(s.adminURL+"/debug/pprof/heap?gc=1", strings.TrimSuffix(s.opts.CPUProfile, ".pprof")+".heap.pprof"); err != nil {
			return err
		}
	}
	for _, m := range []struct {
		name string
		dst  *int64
	}{
		{"ganlink_source_fields_received_total", &r.Received},
		{"go_memstats_heap_inuse_bytes", &r.HeapInuse},
		{"go_memstats_sys_bytes", &r.GoSys},
	} {
		v, err := scrapeCounter(s.adminURL, m.name)
		if err != nil {
			return err
		}
		*m.dst = int64(v)
	}
	return nil
}

// outage makes the write proxy refuse every write from start+at for d, then follows the
// gateway's queue from the first write accepted again until it is back to at most live
// points (one second of ingest) and reports the drain.
func (s *stack) outage(ctx context.Context, start time.Time, at, d time.Duration, live int64) (Drain, error) {
	sleep := func(until time.Time) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(until)):
			return nil
		}
	}
	if err := sleep(start.Add(at)); err != nil {
		return Drain{}, err
	}
	s.opts.Log.Info("outage: the TSDB refuses writes", "for", d)
	s.proxy.down.Store(true)
	err := sleep(start.Add(at + d))
	s.proxy.down.Store(false)
	if err != nil {
		return Drain{}, err
	}
	scrape := func(name string) int64 {
		v, _ := scrapeCounter(s.adminURL, name)
		return int64(v)
	}
	// The backlog and the counters are read when the outage ends (the first write
	// accepted afterwards may carry the whole backlog, so reading them after it would
	// see almost nothing queued); the clock starts at that first write: until then the
	// sink waits out its retry backoff (retry_max, 10 s by default).
	var dr Drain
	dr.Backlog = scrape("ganlink_queue_pending_points")
	w0, a0 := scrape("ganlink_sink_points_written_total"), scrape("ganlink_queue_appended_points_total")
	for scrape("ganlink_sink_points_written_total") == w0 {
		if err := sleep(time.Now().Add(20 * time.Millisecond)); err != nil {
			return dr, err
		}
	}
	t0 := time.Now()
	s.opts.Log.Info("outage over, writes accepted again", "backlog_points", dr.Backlog, "after", time.Since(start.Add(at+d)))
	for {
		if err := sleep(time.Now().Add(100 * time.Millisecond)); err != nil {
			return dr, err
		}
		if p := scrape("ganlink_queue_pending_points"); p <= live {
			dr.Took = time.Since(t0)
			dr.Written = scrape("ganlink_sink_points_written_total") - w0
			dr.Appended = scrape("ganlink_queue_appended_points_total") - a0
			s.opts.Log.Info("backlog drained", "took", dr.Took, "written", dr.Written, "appended", dr.Appended)
			return dr, nil
		}
	}
}
