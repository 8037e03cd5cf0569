package loadgen

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// SoakConfig is the soak of issue 16: one gateway with the MQTT meters and the OPC UA
// items at once, for a long time, with a TSDB outage in the middle.
type SoakConfig struct {
	// Duration is the length of the load; default 1h.
	Duration time.Duration
	// Rate is the MQTT meters' rate in messages per second; default 5000.
	Rate float64
	// Items is the number of OPC UA items changing every Interval; default 10000 @ 1s.
	Items    int
	Interval time.Duration
	// OutageAt and Outage: the write proxy refuses every write from OutageAt into the
	// load for Outage; default a 5-minute outage in the middle (a fifth of Duration
	// when that is shorter).
	OutageAt, Outage time.Duration
	// Every is how often RSS and goroutines are sampled; default 10s.
	Every time.Duration
}

func (c SoakConfig) withDefaults() SoakConfig {
	if c.Duration == 0 {
		c.Duration = time.Hour
	}
	if c.Rate == 0 {
		c.Rate = 5000
	}
	if c.Items == 0 {
		c.Items = 10000
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Outage == 0 {
		c.Outage = min(5*time.Minute, c.Duration/5)
	}
	if c.OutageAt == 0 {
		c.OutageAt = (c.Duration - c.Outage) / 2
	}
	if c.Every == 0 {
		c.Every = 10 * time.Second
	}
	return c
}

// Validate checks the soak settings.
func (c SoakConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Duration < time.Minute:
		return fmt.Errorf("soak: duration %s is under a minute", c.Duration)
	case c.Rate <= 0 || c.Items < 1 || c.Interval < 10*time.Millisecond:
		return fmt.Errorf("soak: rate %g, items %d, interval %s: want positive, positive, ≥ 10ms", c.Rate, c.Items, c.Interval)
	case c.Outage < 0 || c.OutageAt < 0 || c.OutageAt+c.Outage >= c.Duration:
		return fmt.Errorf("soak: an outage of %s at %s does not end within the %s load", c.Outage, c.OutageAt, c.Duration)
	}
	return nil
}

// refAt is the reference moment RSS and goroutines at the end are compared with:
// minute 10, or a third into the load when it is shorter than 20 minutes.
func (c SoakConfig) refAt() time.Duration {
	if c.Duration >= 20*time.Minute {
		return 10 * time.Minute
	}
	return c.Duration / 3
}

// SoakSample is the gateway's state at one moment of the soak.
type SoakSample struct {
	At         time.Duration // since the load started
	RSS        int64         // VmRSS, bytes
	Goroutines int64
	HeapInuse  int64
	Pending    int64 // ganlink_queue_pending_points
	Received   int64 // ganlink_source_fields_received_total, both sources
	Dropped    int64 // messages mosquitto dropped so far ($SYS/broker/publish/messages/dropped)
}

// SoakResult is the outcome of a soak.
type SoakResult struct {
	Config SoakConfig
	// MQTT and OPCUA are the two workloads' figures (CPU, RSS and latency are the
	// whole gateway's, in both).
	MQTT, OPCUA Result
	// Ref and End are the samples at SoakConfig.refAt and at the end of the load.
	Ref, End SoakSample
	Samples  []SoakSample
	// P99BeforeOutage is the p99 latency of the values accepted before the outage.
	P99BeforeOutage time.Duration
}

// RunSoak runs the soak: mosquitto, the OPC UA load server, VictoriaMetrics behind the
// write proxy and one gateway with both sources. Once every OPC UA item is monitored
// and its initial values have passed, the publishers start and the OPC UA values of
// the measured window (t0, t0+Duration] count; the proxy refuses writes during the
// outage; RSS, goroutines, the heap in use and the queue are sampled every Every.
func RunSoak(ctx context.Context, tb testsrv.TB, cfg SoakConfig, opts Options) (SoakResult, error) {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		return SoakResult{}, err
	}
	cfg, opts = cfg.withDefaults(), opts.withDefaults()
	if opts.peer() != PeerGanlink {
		return SoakResult{}, fmt.Errorf("soak: the gateway only (peer %s)", opts.peer())
	}
	out := SoakResult{Config: cfg}
	mq := MQTTConfig{Rate: cfg.Rate, Duration: cfg.Duration}.withDefaults()
	uc := OPCUAConfig{Items: cfg.Items, Interval: cfg.Interval, Duration: cfg.Duration}.withDefaults()
	ticks := int64((cfg.Duration + uc.Interval - 1) / uc.Interval)
	window := time.Duration(ticks) * uc.Interval

	broker := testsrv.StartMosquittoWith(tb, "sys_interval 1")
	sys := &brokerStats{broker: broker.URL}
	sctx, stopSys := context.WithCancel(ctx)
	var sg group
	sg.Go(func() error { return sys.Run(sctx) })
	defer func() { stopSys(); sg.Wait() }()

	port := testsrv.FreePort(tb)
	u := newUALoadServer(port, uc.Items, uc.Interval, opts.Log)
	uctx, stopUA := context.WithCancel(context.Background())
	var ug group
	uaDone := ug.Go(func() error { return u.Run(uctx) })
	stopServer := func() error { stopUA(); return ug.Wait() }
	defer stopServer()
	select {
	case <-u.ready:
	case <-uaDone:
		return out, stopServer()
	case <-ctx.Done():
		return out, ctx.Err()
	}
	endpoint := fmt.Sprintf("opc.tcp://127.0.0.1:%d", port)
	s, err := startStack(ctx, tb, opts, meterMeasurement+"|"+uaMeasurement, nil, func(c gwCommon) (launch, error) {
		return peerLaunch(opts, c, true, func() string {
			return soakGatewayConfig(c, broker.URL, mq.Meters, endpoint, uc.Items, uc.Interval, uc.Publishing)
		}, nil, nil)
	})
	if err != nil {
		return out, err
	}
	defer s.stop()
	for deadline := time.Now().Add(time.Minute); u.allMonitored.Load() == 0; {
		if time.Now().After(deadline) {
			return out, fmt.Errorf("soak: the OPC UA items are not all monitored a minute after the gateway started")
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return out, err
		}
	}
	settle := max(2*uc.Interval, 2*uc.Publishing, 2*time.Second)
	t0 := time.Now().Add(settle).Truncate(uc.Interval).Add(uc.Interval)
	t1 := t0.Add(window)
	u.stopAfter(t1)
	// MQTT timestamps are publish times, from t0 until the publishers are done.
	s.proxy.setWindow(t0, t1.Add(time.Hour))
	if err := sleepCtx(ctx, time.Until(t0)); err != nil {
		return out, err
	}
	load0 := loadAvg()
	cpu0, err := cpuSeconds(s.pid)
	if err != nil {
		return out, err
	}
	opts.Log.Info("soak: load starts", "duration", cfg.Duration, "rate", cfg.Rate, "items", uc.Items,
		"outage_at", cfg.OutageAt, "outage", cfg.Outage)

	total := int64(cfg.Rate*cfg.Duration.Seconds() + 0.5)
	pubs := make([]*publisher, mq.Publishers)
	for k := range pubs {
		pubs[k] = &publisher{broker: broker.URL, id: fmt.Sprintf("loadgen-pub-%d", k+1), start: t0}
	}
	for i := 1; i <= mq.Meters; i++ {
		p := pubs[(i-1)%mq.Publishers]
		p.meters = append(p.meters, i)
	}
	for k, p := range pubs {
		p.total = total / int64(mq.Publishers)
		if int64(k) < total%int64(mq.Publishers) {
			p.total++
		}
		p.rate = cfg.Rate * float64(p.total) / float64(max(total, 1))
	}
	var pg group
	for _, p := range pubs {
		pg.Go(func() error { return p.Run(ctx) })
	}
	var drain Drain
	if cfg.Outage > 0 {
		pg.Go(func() error {
			if err := sleepCtx(ctx, time.Until(t0.Add(cfg.OutageAt))); err != nil {
				return err
			}
			out.P99BeforeOutage = s.proxy.hist.quantile(0.99)
			var err error
			drain, err = s.outage(ctx, t0, cfg.OutageAt, cfg.Outage, int64(cfg.Rate)+int64(float64(uc.Items)/uc.Interval.Seconds()))
			return err
		})
	}
	// Samples until the publishers are done.
	pubDone := make(chan struct{})
	go func() { defer close(pubDone); _ = pg.Wait() }()
	sample := func() SoakSample {
		sm := SoakSample{At: time.Since(t0)}
		sm.RSS, _ = currentRSS(s.pid)
		if v, err := scrapeCounters(s.adminURL, "go_goroutines", "go_memstats_heap_inuse_bytes", "ganlink_queue_pending_points",
			"ganlink_source_fields_received_total"); err == nil {
			sm.Goroutines, sm.HeapInuse, sm.Pending, sm.Received = int64(v[0]), int64(v[1]), int64(v[2]), int64(v[3])
		}
		sm.Dropped = sys.dropped.Load()
		opts.Log.Info("soak sample", "at", sm.At.Round(time.Second), "rss_mb", sm.RSS>>20, "goroutines", sm.Goroutines,
			"heap_inuse_mb", sm.HeapInuse>>20, "pending", sm.Pending, "received", sm.Received, "broker_dropped", sm.Dropped)
		return sm
	}
	refDone := false
	tick := time.NewTicker(cfg.Every)
sampling:
	for {
		select {
		case <-pubDone:
			break sampling
		case <-ctx.Done():
			tick.Stop()
			return out, ctx.Err()
		case <-tick.C:
			sm := sample()
			out.Samples = append(out.Samples, sm)
			if !refDone && sm.At >= cfg.refAt() {
				out.Ref, refDone = sm, true
			}
		}
	}
	tick.Stop()
	if err := pg.Wait(); err != nil {
		return out, err
	}
	var acked, failed int64
	for _, p := range pubs {
		acked += p.acked.Load()
		failed += p.failed.Load()
	}
	for u.lastTick.Load() < t1.UnixNano() && time.Now().Before(t1.Add(time.Minute)) {
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return out, err
		}
	}
	produced := acked*int64(len(meterFields)) + int64(uc.Items)*ticks
	end := s.drain(ctx, produced, max(opts.Quiet, 3*uc.Publishing))
	out.End = sample()
	var r Result
	if err := s.measure(&r, cpu0); err != nil {
		return out, err
	}
	r.Interval, r.LoadBefore, r.LoadAfter = end.Sub(t0), load0, loadAvg()
	r.BrokerDropped, r.ServerDropped, r.PublishFailures, r.Drain = sys.dropped.Load(), u.dropped.Load(), failed, drain
	if err := s.stop(); err != nil {
		return out, err
	}
	out.MQTT, out.OPCUA = r, r
	out.MQTT.Workload, out.MQTT.Rate, out.MQTT.RateUnit, out.MQTT.Duration = fmt.Sprintf("MQTT %d meters (soak)", mq.Meters), cfg.Rate, "msgs/s", cfg.Duration
	out.MQTT.Produced = acked * int64(len(meterFields))
	out.MQTT.Stored, err = countSamples(ctx, s.vm.URL, `{__name__=~"energy_meter_(energy_kwh_total|power_kw|water_m3_total)"}`,
		time.Since(t0)+time.Minute, time.Now())
	if err != nil {
		return out, err
	}
	out.MQTT.Loss = out.MQTT.Produced - out.MQTT.Stored
	out.OPCUA.Workload, out.OPCUA.Rate, out.OPCUA.RateUnit, out.OPCUA.Duration = fmt.Sprintf("OPC UA %d items @ %s (soak)", uc.Items, uc.Interval),
		float64(uc.Items)/uc.Interval.Seconds(), "values/s", window
	out.OPCUA.Produced = int64(uc.Items) * ticks
	out.OPCUA.Stored, err = countSamples(ctx, s.vm.URL, `{__name__=~"machine_value_[0-9]+"}`, window, t1)
	if err != nil {
		return out, err
	}
	out.OPCUA.Loss = out.OPCUA.Produced - out.OPCUA.Stored
	return out, stopServer()
}

// currentRSS returns the process's VmRSS in bytes.
func currentRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// WriteSoak writes the soak's figures.
func WriteSoak(w io.Writer, r SoakResult) error {
	var b strings.Builder
	c := r.Config
	all := r.MQTT.Produced + r.OPCUA.Produced
	stored := r.MQTT.Produced - r.MQTT.Loss + r.OPCUA.Produced - r.OPCUA.Loss
	cpuPerM := r.MQTT.CPUSeconds / float64(max(stored, 1)) * 1e6
	ratio := func(a, b int64) string {
		if b == 0 {
			return "—"
		}
		return fmt.Sprintf("%+.1f %%", (float64(a)/float64(b)-1)*100)
	}
	fmt.Fprintf(&b, "| soak | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| load | MQTT %s msgs/s (1 000 meters) + OPC UA %d items @ %s, %s; TSDB refusing writes from %s for %s |\n",
		thousands(c.Rate), c.Items, c.Interval, c.Duration, c.OutageAt, c.Outage)
	fmt.Fprintf(&b, "| loss | MQTT %s of %s fields, OPC UA %s of %s values |\n", thousands(float64(r.MQTT.Loss)), thousands(float64(r.MQTT.Produced)),
		thousands(float64(r.OPCUA.Loss)), thousands(float64(r.OPCUA.Produced)))
	fmt.Fprintf(&b, "| RSS at %s → end | %.1f → %.1f MB (%s); peak %.1f MB |\n", c.refAt(), float64(r.Ref.RSS)/(1<<20), float64(r.End.RSS)/(1<<20),
		ratio(r.End.RSS, r.Ref.RSS), float64(r.MQTT.PeakRSS)/(1<<20))
	if ref, end, ok := r.medianRSS(); ok {
		fmt.Fprintf(&b, "| RSS median over the minute from %s → over the last minute | %.1f → %.1f MB (%s) |\n", c.refAt(),
			float64(ref)/(1<<20), float64(end)/(1<<20), ratio(end, ref))
	}
	fmt.Fprintf(&b, "| goroutines at %s → end | %d → %d |\n", c.refAt(), r.Ref.Goroutines, r.End.Goroutines)
	fmt.Fprintf(&b, "| Go heap in use at %s → end | %.1f → %.1f MB |\n", c.refAt(), float64(r.Ref.HeapInuse)/(1<<20), float64(r.End.HeapInuse)/(1<<20))
	fmt.Fprintf(&b, "| latency p50 / p99 (whole run) | %s / %s; p99 before the outage %s; max %s |\n", ms(r.MQTT.P50), ms(r.MQTT.P99), ms(r.P99BeforeOutage), ms(r.MQTT.Max))
	if dr := r.MQTT.Drain; dr.Took > 0 {
		fmt.Fprintf(&b, "| outage backlog | %s points drained in %s (%s points/s written while %s/s arrived) |\n", thousands(float64(dr.Backlog)),
			dr.Took.Round(time.Millisecond), thousands(float64(dr.Written)/dr.Took.Seconds()), thousands(float64(dr.Appended)/dr.Took.Seconds()))
	}
	fmt.Fprintf(&b, "| CPU | %.1f CPU-s per 1M fields (%s fields produced) |\n", cpuPerM, thousands(float64(all)))
	fmt.Fprintf(&b, "| load average | %s → %s |\n", r.MQTT.LoadBefore, r.MQTT.LoadAfter)
	if r.MQTT.BrokerDropped > 0 || r.MQTT.ServerDropped > 0 || r.MQTT.PublishFailures > 0 {
		fmt.Fprintf(&b, "| dropped before the gateway | broker %d messages, OPC UA server %d notifications, %d publishes unacknowledged |\n",
			r.MQTT.BrokerDropped, r.MQTT.ServerDropped, r.MQTT.PublishFailures)
	}
	if r.MQTT.GatewayWarnings > 0 {
		fmt.Fprintf(&b, "| gateway warnings | %d, last: %s |\n", r.MQTT.GatewayWarnings, r.MQTT.LastWarning)
	}
	b.WriteString("\nSamples (since the load started: RSS MB, goroutines, heap in use MB, queued points, fields the gateway received, messages the broker dropped so far):\n")
	for _, sm := range r.Samples {
		fmt.Fprintf(&b, "%s %.1f %d %.1f %d %d %d\n", sm.At.Round(time.Second), float64(sm.RSS)/(1<<20), sm.Goroutines, float64(sm.HeapInuse)/(1<<20),
			sm.Pending, sm.Received, sm.Dropped)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// medianRSS returns the median RSS of the samples in the minute from the reference
// moment and in the load's last minute: one sample moves with the collector's cycle
// (±10 % at these rates), a median over a minute does not.
func (r SoakResult) medianRSS() (ref, end int64, ok bool) {
	from, last := r.Config.refAt(), r.Config.Duration-time.Minute
	if last < from+time.Minute {
		return 0, 0, false
	}
	var a, z []int64
	for _, sm := range r.Samples {
		switch {
		case sm.At >= from && sm.At < from+time.Minute:
			a = append(a, sm.RSS)
		case sm.At > last && sm.At <= r.Config.Duration:
			z = append(z, sm.RSS)
		}
	}
	if len(a) == 0 || len(z) == 0 {
		return 0, 0, false
	}
	med := func(v []int64) int64 { slices.Sort(v); return v[len(v)/2] }
	return med(a), med(z), true
}
