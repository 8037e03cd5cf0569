package loadgen

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/internal/devsim"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// OPCUAConfig is the OPC UA workload.
type OPCUAConfig struct {
	// Items is the number of Double variables; default 10000.
	Items int
	// Interval is how often every variable changes (all together, on multiples of the
	// interval since the Unix epoch); the gateway samples at the same interval.
	// Default 1s.
	Interval time.Duration
	// Publishing is the gateway's publishing interval; default Interval/2. The gopcua
	// server keeps only the latest value of an item between two publish responses
	// (queue size 1, whatever the client asks for), so with publishing = change
	// interval the jitter between its publish timer and the changes overwrites values
	// at the server; half the interval puts a publish between any two changes. The
	// number of publish responses stays one per change: a subscription with nothing
	// new sends none.
	Publishing time.Duration
	// Duration is the measured window; it is rounded up to whole intervals.
	Duration time.Duration
}

func (c OPCUAConfig) withDefaults() OPCUAConfig {
	if c.Items == 0 {
		c.Items = 10000
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Publishing == 0 {
		c.Publishing = c.Interval / 2
	}
	return c
}

// Validate checks the workload settings.
func (c OPCUAConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Items < 1:
		return fmt.Errorf("opc ua workload: items %d is not positive", c.Items)
	case c.Interval < 10*time.Millisecond:
		return fmt.Errorf("opc ua workload: interval %s is below 10ms", c.Interval)
	case c.Publishing < 10*time.Millisecond:
		return fmt.Errorf("opc ua workload: publishing interval %s is below 10ms", c.Publishing)
	case c.Duration < c.Interval:
		return fmt.Errorf("opc ua workload: duration %s is shorter than the interval %s", c.Duration, c.Interval)
	}
	return nil
}

// RunOPCUA runs the OPC UA workload: a gopcua server in this process with cfg.Items
// Double variables that all change every cfg.Interval, VictoriaMetrics, and the gateway
// monitoring every variable with sampling interval = change interval. Once every item
// is monitored and the initial values have passed, it measures a window of whole
// intervals, stops changing values at its end, waits for the gateway to deliver the
// window's values (or to stop making progress) and counts what VictoriaMetrics holds
// for the window.
func RunOPCUA(ctx context.Context, tb testsrv.TB, cfg OPCUAConfig, opts Options) (Result, error) {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg, opts = cfg.withDefaults(), opts.withDefaults()
	ticks := int64((cfg.Duration + cfg.Interval - 1) / cfg.Interval)
	window := time.Duration(ticks) * cfg.Interval
	res := Result{Peer: opts.peer(), Workload: fmt.Sprintf("OPC UA %d items @ %s", cfg.Items, cfg.Interval),
		Rate: float64(cfg.Items) / cfg.Interval.Seconds(), RateUnit: "values/s", Duration: window}

	port := testsrv.FreePort(tb)
	u := newUALoadServer(port, cfg.Items, cfg.Interval, opts.Log)
	uctx, stopUA := context.WithCancel(context.Background())
	var ug group
	uaDone := ug.Go(func() error { return u.Run(uctx) })
	stopServer := func() error { stopUA(); return ug.Wait() }
	defer stopServer()
	select {
	case <-u.ready:
	case <-uaDone:
		return res, stopServer()
	case <-ctx.Done():
		return res, ctx.Err()
	}

	endpoint := fmt.Sprintf("opc.tcp://127.0.0.1:%d", port)
	s, err := startStack(ctx, tb, opts, uaMeasurement, []string{"opcua connected"}, func(c gwCommon) (launch, error) {
		return peerLaunch(opts, c, false,
			func() string { return opcuaGatewayConfig(c, endpoint, cfg.Items, cfg.Interval, cfg.Publishing) },
			func() string {
				return telegrafOPCUAConfig(c, endpoint, cfg.Items, cfg.Interval, cfg.Publishing, opts.flushInterval())
			},
			[]string{"opcua", "-endpoint", endpoint, "-items", fmt.Sprint(cfg.Items),
				"-sampling", cfg.Interval.String(), "-publishing", cfg.Publishing.String()})
	})
	if err != nil {
		return res, err
	}
	defer s.stop()

	// Every item monitored, as the server sees it.
	deadline := time.Now().Add(time.Minute)
	for u.allMonitored.Load() == 0 {
		if time.Now().After(deadline) {
			subs, items := u.monitored()
			return res, fmt.Errorf("opc ua workload: %d of %d items monitored (%d subscriptions) a minute after the gateway started",
				items, cfg.Items, subs)
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return res, err
		}
	}
	allAt, firstSub := time.Unix(0, u.allMonitored.Load()), time.Unix(0, u.firstSub.Load())
	res.MonitoredAfter, res.StartToMonitored = allAt.Sub(firstSub), allAt.Sub(s.started)
	// The log line may still be in the pipe when the server already sees every item.
	for wait := time.Now().Add(5 * time.Second); opts.peer() == PeerGanlink && time.Now().Before(wait); {
		if ev, ok := s.gw.event("opcua connected"); ok {
			res.Connected = ev.At.Sub(s.started)
			break
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return res, err
		}
	}
	opts.Log.Info("items monitored", "items", cfg.Items, "after_first_subscription", res.MonitoredAfter,
		"after_start", res.StartToMonitored)

	// Let the initial values pass, then measure the window (t0, t1] of whole intervals.
	settle := max(2*cfg.Interval, 2*cfg.Publishing, 2*time.Second)
	t0 := time.Now().Add(settle).Truncate(cfg.Interval).Add(cfg.Interval)
	t1 := t0.Add(window)
	u.stopAfter(t1)
	s.proxy.setWindow(t0, t1)
	if err := sleepCtx(ctx, time.Until(t0)); err != nil {
		return res, err
	}
	res.LoadBefore = loadAvg()
	cpu0, err := cpuSeconds(s.pid)
	if err != nil {
		return res, err
	}
	stopRSS := sampleRSS(s.pid)
	defer stopRSS()
	if err := sleepCtx(ctx, time.Until(t1)); err != nil {
		return res, err
	}
	cpu1, err := cpuSeconds(s.pid)
	if err != nil {
		return res, err
	}
	for u.lastTick.Load() < t1.UnixNano() {
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.Produced = int64(cfg.Items) * ticks
	s.drain(ctx, res.Produced, max(opts.Quiet, 3*cfg.Publishing))
	res.LoadRSS = stopRSS()
	if err := s.measure(&res, cpu0); err != nil {
		return res, err
	}
	// The gateway works periodically, so the steady-state window itself is the load
	// interval: values of about one interval before t0 are processed in it, as many
	// as of the window's last interval after it.
	res.CPUSeconds, res.Interval = cpu1-cpu0, window
	res.LoadAfter = loadAvg()
	res.ServerDropped = u.dropped.Load()
	if err := s.stop(); err != nil {
		return res, err
	}
	res.Stored, err = countSamples(ctx, s.vm.URL, `{__name__=~"machine_value_[0-9]+"}`, window, t1)
	if err != nil {
		return res, err
	}
	res.Loss = res.Produced - res.Stored
	if err := stopServer(); err != nil {
		return res, err
	}
	return res, ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// notifyStall is how long a subscription may refuse a notification before the load
// server drops notifications for it (and counts them) until it accepts one again.
const notifyStall = 10 * time.Second

// uaLoadServer is a gopcua server with a flat set of Double variables ns=1;s=V1..Vn
// (namespace uaNamespace) that all change together on every multiple of interval.
//
// Change notifications go straight to the subscriptions' notification channels: the
// server's own ChangeNotification blocks while it holds the monitored-item lock when a
// subscription's channel is full.
type uaLoadServer struct {
	port     int
	interval time.Duration
	log      *slog.Logger
	srv      *server.Server
	ns       *server.NodeNameSpace
	keys     []string // node id strings, as the monitored-item service indexes them
	vals     []atomic.Pointer[ua.DataValue]

	ready        chan struct{} // closed once the server listens
	stopAt       atomic.Int64  // Unix ns; ticks after it are not made (0: never stop)
	lastTick     atomic.Int64  // Unix ns of the last tick made
	firstSub     atomic.Int64  // Unix ns when the first subscription was seen
	allMonitored atomic.Int64  // Unix ns when every variable was first seen monitored
	dropped      atomic.Int64

	stalled map[*server.Subscription]bool // notifier only
	batch   []pendingNote                 // notifier only
}

type pendingNote struct {
	sub    *server.Subscription
	handle uint32
	node   int
}

// newUALoadServer builds the server and its address space; Run starts it.
func newUALoadServer(port, items int, interval time.Duration, log *slog.Logger) *uaLoadServer {
	u := &uaLoadServer{port: port, interval: interval, log: log, ready: make(chan struct{}),
		vals: make([]atomic.Pointer[ua.DataValue], items), stalled: map[*server.Subscription]bool{}}
	u.srv = server.New(
		server.EndPoint("127.0.0.1", port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.ServerName("ganlink loadgen"),
		server.SetLogger(quietUALogger{}),
	)
	u.ns = server.NewNodeNameSpace(u.srv, uaNamespace)
	now := time.Now().Truncate(interval)
	for i := range items {
		id := ua.NewStringNodeID(u.ns.ID(), uaNodeName(i+1))
		u.keys = append(u.keys, id.String())
		u.vals[i].Store(doubleValue(0, now))
		v := &u.vals[i]
		u.ns.AddNode(server.NewVariableNode(id, uaNodeName(i+1), func() *ua.DataValue { return v.Load() }))
	}
	return u
}

func doubleValue(v float64, t time.Time) *ua.DataValue {
	return &ua.DataValue{
		EncodingMask:    ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
		Value:           ua.MustVariant(v),
		SourceTimestamp: t,
		ServerTimestamp: t,
	}
}

// stopAfter makes the server stop changing values after t.
func (u *uaLoadServer) stopAfter(t time.Time) { u.stopAt.Store(t.UnixNano()) }

// Run serves until ctx is done, changing every value on each multiple of the interval,
// then closes the server and drops its connections.
func (u *uaLoadServer) Run(ctx context.Context) error {
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := u.srv.Start(sctx); err != nil {
		return fmt.Errorf("start opc ua load server on port %d: %w", u.port, err)
	}
	close(u.ready)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		u.watchMonitored(ctx)
	}()
	u.change(ctx)
	wg.Wait()
	if err := devsim.CloseOPCUAServer(u.srv); err != nil {
		return fmt.Errorf("stop opc ua load server: %w", err)
	}
	return nil
}

// change makes a tick on every multiple of the interval until ctx is done; a tick
// that comes late is still made, with its own timestamp.
func (u *uaLoadServer) change(ctx context.Context) {
	next := time.Now().Truncate(u.interval).Add(u.interval)
	for {
		if stop := u.stopAt.Load(); stop != 0 && next.UnixNano() > stop {
			<-ctx.Done()
			return
		}
		if sleepCtx(ctx, time.Until(next)) != nil {
			return
		}
		for i := range u.vals {
			u.vals[i].Store(doubleValue(float64(next.Unix()%100000)+float64(i)/100000, next))
		}
		if !u.notifyAll(ctx) {
			return
		}
		u.lastTick.Store(next.UnixNano())
		next = next.Add(u.interval)
	}
}

// lockItems takes the monitored-item lock, polling, so that a server blocked while
// holding it cannot keep ctx from stopping the caller; false when ctx is done.
func (u *uaLoadServer) lockItems(ctx context.Context) bool {
	mis := u.srv.MonitoredItemService
	for wait := 50 * time.Microsecond; !mis.Mu.TryLock(); wait = min(2*wait, 5*time.Millisecond) {
		if sleepCtx(ctx, wait) != nil {
			return false
		}
	}
	return true
}

// notifyAll sends every variable's current value to every monitored item on it;
// false when ctx is done.
func (u *uaLoadServer) notifyAll(ctx context.Context) bool {
	if !u.lockItems(ctx) {
		return false
	}
	mis := u.srv.MonitoredItemService
	u.batch = u.batch[:0]
	for i, key := range u.keys {
		for _, it := range mis.Nodes[key] {
			if it == nil || it.Sub == nil || it.Req == nil || it.Req.RequestedParameters == nil {
				continue
			}
			u.batch = append(u.batch, pendingNote{sub: it.Sub, handle: it.Req.RequestedParameters.ClientHandle, node: i})
		}
	}
	mis.Mu.Unlock()
	for _, p := range u.batch {
		n := &ua.MonitoredItemNotification{ClientHandle: p.handle, Value: u.vals[p.node].Load()}
		if !u.send(ctx, p.sub, n) {
			return false
		}
	}
	return true
}

// send delivers n to sub, waiting at most notifyStall for a subscription that has not
// stalled before; false when ctx is done.
func (u *uaLoadServer) send(ctx context.Context, sub *server.Subscription, n *ua.MonitoredItemNotification) bool {
	ch := sub.NotifyChannel
	select {
	case ch <- n:
		delete(u.stalled, sub)
		return true
	default:
	}
	if u.stalled[sub] {
		u.dropped.Add(1)
		return true
	}
	t := time.NewTimer(notifyStall)
	defer t.Stop()
	select {
	case ch <- n:
	case <-t.C:
		u.stalled[sub] = true
		u.dropped.Add(1)
		u.log.Warn("opc ua subscription accepts no notifications, dropping them", "subscription", sub.ID)
	case <-ctx.Done():
		return false
	}
	return true
}

// watchMonitored records when the first subscription appears and when every variable
// is monitored, polling every 5 ms until then or until ctx is done.
func (u *uaLoadServer) watchMonitored(ctx context.Context) {
	for u.allMonitored.Load() == 0 {
		subs, items := u.monitored()
		now := time.Now().UnixNano()
		if subs > 0 && u.firstSub.Load() == 0 {
			u.firstSub.Store(now)
		}
		if items >= len(u.keys) {
			u.allMonitored.Store(now)
			return
		}
		if sleepCtx(ctx, 5*time.Millisecond) != nil {
			return
		}
	}
}

// monitored returns the number of subscriptions and of monitored items; -1 for the
// items when the monitored-item lock is busy.
func (u *uaLoadServer) monitored() (subs, items int) {
	ss := u.srv.SubscriptionService
	ss.Mu.Lock()
	subs = len(ss.Subs)
	ss.Mu.Unlock()
	mis := u.srv.MonitoredItemService
	if !mis.Mu.TryLock() {
		return subs, -1
	}
	items = len(mis.Items)
	mis.Mu.Unlock()
	return subs, items
}

// quietUALogger drops the server's printf-style logs.
type quietUALogger struct{}

func (quietUALogger) Debug(string, ...any) {}
func (quietUALogger) Info(string, ...any)  {}
func (quietUALogger) Warn(string, ...any)  {}
func (quietUALogger) Error(string, ...any) {}
