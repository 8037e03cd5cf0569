package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// MQTTConfig is the MQTT meters workload.
type MQTTConfig struct {
	// Rate is the total publish rate in messages per second (3 fields each).
	Rate float64
	// Duration is how long the publishers publish.
	Duration time.Duration
	// Meters is the number of meters, topics plant/ws1/meter/1..Meters; default 1000.
	Meters int
	// Publishers is the number of publishing MQTT connections; default 4. Meter i is
	// published by connection (i-1) mod Publishers.
	Publishers int
}

func (c MQTTConfig) withDefaults() MQTTConfig {
	if c.Meters == 0 {
		c.Meters = 1000
	}
	if c.Publishers == 0 {
		c.Publishers = 4
	}
	return c
}

// Validate checks the workload settings.
func (c MQTTConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Rate <= 0:
		return fmt.Errorf("mqtt workload: rate %g is not positive", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("mqtt workload: duration %s is not positive", c.Duration)
	case c.Meters < 1:
		return fmt.Errorf("mqtt workload: meters %d is not positive", c.Meters)
	case c.Publishers < 1 || c.Publishers > c.Meters:
		return fmt.Errorf("mqtt workload: publishers %d is not 1..%d", c.Publishers, c.Meters)
	}
	return nil
}

// RunMQTT runs the MQTT meters workload: mosquitto with default limits, VictoriaMetrics,
// the gateway subscribed to plant/ws1/meter/+ with QoS 1, and cfg.Publishers
// connections publishing {"ts","kwh","kw","m3"} at cfg.Rate for cfg.Duration. It
// waits for the gateway to deliver everything (or to stop making progress), stops the
// gateway and counts what VictoriaMetrics holds.
func RunMQTT(ctx context.Context, tb testsrv.TB, cfg MQTTConfig, opts Options) (Result, error) {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg, opts = cfg.withDefaults(), opts.withDefaults()
	if opts.Outage > 0 && opts.peer() != PeerGanlink {
		return Result{}, fmt.Errorf("mqtt workload: an outage is measured from the gateway's queue counters; peer %s has none", opts.peer())
	}
	res := Result{Peer: opts.peer(), Workload: fmt.Sprintf("MQTT %d meters", cfg.Meters), Rate: cfg.Rate, RateUnit: "msgs/s",
		Duration: cfg.Duration}
	// Default limits; $SYS statistics every second, for the broker's drop counter.
	broker := testsrv.StartMosquittoWith(tb, "sys_interval 1")
	sys := &brokerStats{broker: broker.URL}
	sctx, stopSys := context.WithCancel(ctx)
	var sg group
	sg.Go(func() error { return sys.Run(sctx) })
	defer func() { stopSys(); sg.Wait() }()
	s, err := startStack(ctx, tb, opts, meterMeasurement, nil, func(c gwCommon) (launch, error) {
		return peerLaunch(opts, c, true,
			func() string { return mqttGatewayConfig(c, broker.URL, cfg.Meters) },
			func() string { return telegrafMQTTConfig(c, broker.URL, opts.flushInterval()) },
			[]string{"mqtt", "-broker", broker.URL})
	})
	if err != nil {
		return res, err
	}
	defer s.stop()

	total := int64(cfg.Rate*cfg.Duration.Seconds() + 0.5)
	pubs := make([]*publisher, cfg.Publishers)
	for k := range pubs {
		pubs[k] = &publisher{broker: broker.URL, id: fmt.Sprintf("loadgen-pub-%d", k+1)}
	}
	for i := 1; i <= cfg.Meters; i++ {
		p := pubs[(i-1)%cfg.Publishers]
		p.meters = append(p.meters, i)
	}
	// Each connection publishes its meters' share of the messages at its share of the rate.
	for k, p := range pubs {
		p.total = total / int64(cfg.Publishers)
		if int64(k) < total%int64(cfg.Publishers) {
			p.total++
		}
		p.rate = cfg.Rate * float64(p.total) / float64(max(total, 1))
	}

	res.LoadBefore = loadAvg()
	cpu0, err := cpuSeconds(s.pid)
	if err != nil {
		return res, err
	}
	stopRSS := sampleRSS(s.pid)
	defer stopRSS()
	start := time.Now()
	opts.Log.Info("publishing", "rate", cfg.Rate, "duration", cfg.Duration, "messages", total, "connections", len(pubs))
	var pg group
	for _, p := range pubs {
		p.start = start
		pg.Go(func() error { return p.Run(ctx) })
	}
	if opts.Outage > 0 {
		pg.Go(func() error {
			var err error
			res.Drain, err = s.outage(ctx, start, opts.OutageAt, opts.Outage, int64(cfg.Rate))
			return err
		})
	}
	pubErr := pg.Wait()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	var acked, failed int64
	var last time.Time
	for _, p := range pubs {
		acked += p.acked.Load()
		failed += p.failed.Load()
		if t := time.Unix(0, p.lastPublish.Load()); t.After(last) {
			last = t
		}
	}
	if pubErr != nil {
		return res, pubErr
	}
	if d := last.Sub(start); d > 0 {
		res.AchievedRate = float64(acked) / d.Seconds()
	}
	res.PublishFailures = failed
	res.Produced = acked * int64(len(meterFields))
	opts.Log.Info("published", "acknowledged", acked, "failed", failed, "achieved_rate", int(res.AchievedRate))

	end := s.drain(ctx, res.Produced, opts.Quiet)
	res.Interval = end.Sub(start)
	res.LoadRSS = stopRSS()
	if err := s.measure(&res, cpu0); err != nil {
		return res, err
	}
	res.LoadAfter = loadAvg()
	res.BrokerDropped = sys.dropped.Load()
	if t := sys.firstDrop.Load(); t != 0 {
		res.FirstDrop = time.Unix(0, t).Sub(start)
	}
	if err := s.stop(); err != nil {
		return res, err
	}
	window := time.Since(start) + time.Minute
	// Telegraf keeps the JSON keys as field names (kwh, kw, m3).
	res.Stored, err = countSamples(ctx, s.vm.URL, `{__name__=~"energy_meter_(energy_kwh_total|power_kw|water_m3_total|kwh|kw|m3)"}`,
		window, time.Now())
	if err != nil {
		return res, err
	}
	res.Loss = res.Produced - res.Stored
	return res, ctx.Err()
}

// publisher is one MQTT connection publishing the messages of its meters round-robin,
// QoS 1, paced to its rate.
type publisher struct {
	broker, id string
	meters     []int
	rate       float64
	total      int64
	start      time.Time

	sent, acked, failed atomic.Int64
	lastPublish         atomic.Int64 // Unix ns
}

// ackTimeout bounds the wait for the broker's last acknowledgements.
const ackTimeout = 30 * time.Second

// Run connects, publishes p.total messages and waits for their acknowledgements.
func (p *publisher) Run(ctx context.Context) error {
	opts := mqtt.NewClientOptions().
		AddBroker(p.broker).
		SetClientID(p.id).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetOrderMatters(false)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect publisher %q to %q: %v", p.id, p.broker, tok.Error())
	}
	defer c.Disconnect(250)

	topics := make([]string, len(p.meters))
	lastTS := make([]int64, len(p.meters))
	seq := make([]int64, len(p.meters))
	for i, m := range p.meters {
		topics[i] = meterTopic(m)
	}
	var pending []mqtt.Token
	reap := func() {
		n := 0
		for n < len(pending) {
			select {
			case <-pending[n].Done():
				if pending[n].Error() != nil {
					p.failed.Add(1)
				} else {
					p.acked.Add(1)
				}
				n++
				continue
			default:
			}
			break
		}
		pending = pending[n:]
	}
	next := 0
	var sent int64
	for sent < p.total {
		due := min(int64(time.Since(p.start).Seconds()*p.rate)+1, p.total)
		for ; sent < due; sent++ {
			i := next
			next = (next + 1) % len(p.meters)
			ts := max(time.Now().UnixMilli(), lastTS[i]+1)
			lastTS[i] = ts
			seq[i]++
			pending = append(pending, c.Publish(topics[i], 1, false, meterPayload(ts, p.meters[i], seq[i])))
		}
		p.sent.Store(sent)
		p.lastPublish.Store(time.Now().UnixNano())
		reap()
		wait := time.Until(p.start.Add(time.Duration(float64(sent) / p.rate * float64(time.Second))))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(wait, time.Millisecond)):
		}
	}
	deadline := time.NewTimer(ackTimeout)
	defer deadline.Stop()
	for _, tok := range pending {
		select {
		case <-tok.Done():
			if tok.Error() != nil {
				p.failed.Add(1)
			} else {
				p.acked.Add(1)
			}
		case <-deadline.C:
			return errors.New("publisher " + strconv.Quote(p.id) + ": acknowledgements missing after " + ackTimeout.String())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// meterPayload is the JSON message of a meter: epoch-ms timestamp, a rising energy
// counter, a power reading and a rising water counter.
func meterPayload(ts int64, meter int, seq int64) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"kwh":`...)
	b = strconv.AppendFloat(b, float64(meter)*1000+float64(seq)*0.01, 'f', 3, 64)
	b = append(b, `,"kw":`...)
	b = strconv.AppendFloat(b, 5+float64((int64(meter)+seq)%200)/10, 'f', 1, 64)
	b = append(b, `,"m3":`...)
	b = strconv.AppendFloat(b, float64(meter)*10+float64(seq)*0.001, 'f', 3, 64)
	return append(b, '}')
}

// brokerStats follows mosquitto's $SYS/broker/publish/messages/dropped: messages the
// broker dropped, e.g. for a subscriber whose queue (max_queued_messages) was full.
type brokerStats struct {
	broker    string
	dropped   atomic.Int64
	firstDrop atomic.Int64 // Unix ns when a drop was first reported
}

// Run subscribes until ctx is done.
func (b *brokerStats) Run(ctx context.Context) error {
	opts := mqtt.NewClientOptions().AddBroker(b.broker).SetClientID("loadgen-sys").SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect broker statistics client to %q: %v", b.broker, tok.Error())
	}
	defer c.Disconnect(250)
	tok := c.Subscribe("$SYS/broker/publish/messages/dropped", 0, func(_ mqtt.Client, m mqtt.Message) {
		if n, err := strconv.ParseInt(string(m.Payload()), 10, 64); err == nil {
			b.dropped.Store(n)
			if n > 0 {
				b.firstDrop.CompareAndSwap(0, time.Now().UnixNano())
			}
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("subscribe to broker statistics: %v", tok.Error())
	}
	<-ctx.Done()
	return nil
}
