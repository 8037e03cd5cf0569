// Package demo is the one-process demo behind `gateway -demo`: a simulated workshop
// (OPC UA machine tools, MQTT meters), an embedded MQTT broker and a gateway with its
// status page, on loopback addresses. It composes the gateway through gateway/app like
// any other caller.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ganlink/ganlink/adapters/file"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/status"
	"github.com/ganlink/ganlink/internal/devsim"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Config configures a demo: a simulated workshop, an embedded MQTT broker and a
// gateway with its status page, all in one process on loopback addresses.
type Config struct {
	// Listen is the gateway's admin address (status page, /metrics, /api/status).
	// Default 127.0.0.1:9273.
	Listen string
	// OPCUAListen is the simulator's OPC UA address; default a free loopback port.
	OPCUAListen string
	// MQTTListen is the embedded broker's address; default a free loopback port.
	MQTTListen string
	// DataDir holds the queue, the KPI state and, without a TSDB, the line-protocol file.
	// Default "ganlink-data" (relative to the working directory).
	DataDir string
	// InfluxURL, when set, makes the gateway forward to that InfluxDB v2 write API
	// (InfluxDB 1.8+/2.x or VictoriaMetrics); InfluxBucket defaults to "ganlink".
	InfluxURL, InfluxToken, InfluxBucket, InfluxOrg string
	// LinesMaxBytes bounds the line-protocol file before it is rotated (3 old files
	// kept). Default 16 MiB.
	LinesMaxBytes int64
	// Machines, EnergyMeters and WaterMeters size the simulated workshop; Legacy adds
	// key-process machines without a source. Defaults 4, 2, 1 and 2; a negative value
	// means none.
	Machines, EnergyMeters, WaterMeters, Legacy int
	// TimeScale speeds the machines up: 0.1 turns minute-long spells into seconds.
	// Default 0.1.
	TimeScale float64
	// Seed makes the simulation repeatable; default 1. Demos with different seeds
	// produce different data.
	Seed int64
	// Workshop, Region, Park and Enterprise are the simulated workshop's identity; by
	// default ws1 of enterprise 91360100MA35HT001T in park nc-hitech, region 360111, as
	// configs/registry.example.yaml registers it, so the demo, the aggregator with the
	// example configuration and the dashboards show the same workshop.
	Workshop, Region, Park, Enterprise string
	// KPIWindows and KPILateness, when set, replace the KPI windows and their allowed
	// lateness (tests close windows in seconds).
	KPIWindows  []time.Duration
	KPILateness time.Duration
}

// Default identity of the demo workshop: the example registry's ws1.
const (
	DefaultWorkshop   = "ws1"
	DefaultRegion     = "360111"
	DefaultPark       = "nc-hitech"
	DefaultEnterprise = "91360100MA35HT001T"
)

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:9273"
	}
	if c.DataDir == "" {
		c.DataDir = "ganlink-data"
	}
	if c.InfluxBucket == "" {
		c.InfluxBucket = "ganlink"
	}
	if c.LinesMaxBytes == 0 {
		c.LinesMaxBytes = 16 << 20
	}
	count := func(n *int, def int) {
		switch {
		case *n < 0:
			*n = 0
		case *n == 0:
			*n = def
		}
	}
	count(&c.Machines, 4)
	count(&c.EnergyMeters, 2)
	count(&c.WaterMeters, 1)
	count(&c.Legacy, 2)
	if c.TimeScale == 0 {
		c.TimeScale = 0.1
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&c.Workshop, DefaultWorkshop)
	def(&c.Region, DefaultRegion)
	def(&c.Park, DefaultPark)
	def(&c.Enterprise, DefaultEnterprise)
}

// Demo is a built demo, ready to Run.
type Demo struct {
	cfg        Config
	log        *slog.Logger
	sim        *devsim.Sim
	broker     *mochi.Server
	brokerURL  string
	opcAddr    string
	app        *app.App
	lines      *file.Sink
	workshopID string
}

// New builds the simulator, binds the embedded broker's and the gateway's ports and
// builds the gateway; it starts no goroutine.
func New(dc Config, log *slog.Logger) (_ *Demo, err error) {
	dc.setDefaults()
	d := &Demo{cfg: dc, log: log}

	d.opcAddr = dc.OPCUAListen
	if d.opcAddr == "" {
		if d.opcAddr, err = freeLoopbackAddr(); err != nil {
			return nil, fmt.Errorf("choose opc ua port: %w", err)
		}
	}
	mqttAddr := dc.MQTTListen
	if mqttAddr == "" {
		mqttAddr = "127.0.0.1:0"
	}
	d.broker = mochi.New(&mochi.Options{InlineClient: false,
		Logger: slog.New(minLevel{slog.LevelError, log.With("component", "mqtt-broker").Handler()})})
	defer func() {
		if err != nil {
			_ = d.broker.Close()
		}
	}()
	if err := d.broker.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("configure embedded mqtt broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "demo", Address: mqttAddr})
	if err := d.broker.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("listen on mqtt address %q: %w", mqttAddr, err)
	}
	d.brokerURL = "tcp://" + tcp.Address()

	sc := devsim.DefaultConfig()
	sc.Machines, sc.EnergyMeters, sc.WaterMeters = dc.Machines, dc.EnergyMeters, dc.WaterMeters
	sc.Seed, sc.TimeScale, sc.Workshop = dc.Seed, dc.TimeScale, dc.Workshop
	sc.Shifts = []devsim.Shift{{Start: 0, End: 24 * time.Hour}} // always working, whenever the demo runs
	sc.TruthRetention = time.Hour
	// The simulated server warns about every closed secure channel; only errors matter here.
	sc.Logger = slog.New(minLevel{slog.LevelError, log.With("component", "devsim").Handler()})
	if d.sim, err = devsim.New(sc); err != nil {
		return nil, fmt.Errorf("build simulator: %w", err)
	}

	gw := devsim.DefaultGatewayOptions()
	gw.AdminListen = dc.Listen
	gw.QueueDir = filepath.Join(dc.DataDir, "queue")
	gw.QueueMaxBytes = "256MiB"
	gw.OPCUAEndpoint = "opc.tcp://" + d.opcAddr
	gw.PublishingInterval = 500 * time.Millisecond
	gw.MQTTBroker = d.brokerURL
	gw.Legacy = dc.Legacy
	gw.Region, gw.Park, gw.Enterprise = dc.Region, dc.Park, dc.Enterprise
	var yml bytes.Buffer
	if err := devsim.WriteGatewayConfig(&yml, d.sim.Config(), gw); err != nil {
		return nil, fmt.Errorf("build demo configuration: %w", err)
	}
	cfg, err := config.Load(yml.Bytes(), func(string) (string, bool) { return "", false }, app.Kinds())
	if err != nil {
		return nil, fmt.Errorf("load demo configuration: %w", err)
	}
	d.workshopID = cfg.Workshop.ID
	if len(dc.KPIWindows) > 0 {
		cfg.KPI.Windows = nil
		for _, w := range dc.KPIWindows {
			cfg.KPI.Windows = append(cfg.KPI.Windows, config.Dur(w))
		}
		cfg.KPI.AllowedLateness = config.Dur(dc.KPILateness)
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("check kpi windows: %w", err)
		}
	}
	// Every run simulates the workshop afresh, its counters starting over: windows and
	// counter baselines of an earlier run would read as meter replacements.
	if err := os.Remove(cfg.KPI.StateFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove kpi state of an earlier demo: %w", err)
	}

	var opts app.Options
	if dc.InfluxURL != "" {
		s := &cfg.Sinks.Influx[0]
		s.URL, s.Token, s.Bucket, s.Org = dc.InfluxURL, config.Secret(dc.InfluxToken), dc.InfluxBucket, dc.InfluxOrg
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("check tsdb flags: %w", err)
		}
	} else {
		cfg.Sinks.Influx = nil
		fc := file.DefaultConfig()
		fc.Name, fc.Path, fc.MaxBytes = "lines", filepath.Join(dc.DataDir, "demo-lines.lp"), dc.LinesMaxBytes
		if d.lines, err = file.New(fc, log); err != nil {
			return nil, fmt.Errorf("build line-protocol file sink: %w", err)
		}
		opts.Sinks = []app.ExtraSink{{Name: fc.Name, Kind: "file", Target: fc.Path, Sink: d.lines}}
	}
	if d.app, err = app.Build(cfg, log, opts); err != nil {
		return nil, err
	}
	return d, nil
}

// App returns the demo's gateway.
func (d *Demo) App() *app.App { return d.app }

// URL returns the status page's URL.
func (d *Demo) URL() string { return "http://" + d.app.AdminAddr() + "/" }

// Banner writes what the demo runs, where its data goes and the URLs to open.
func (d *Demo) Banner(w io.Writer) {
	c := &d.cfg
	base := "http://" + d.app.AdminAddr()
	fmt.Fprintf(w, "Ganlink demo: simulated workshop %q with %d CNC machines over OPC UA (opc.tcp://%s),\n",
		d.workshopID, c.Machines, d.opcAddr)
	fmt.Fprintf(w, "%d energy and %d water meters over MQTT (embedded broker %s) and %d legacy machines.\n",
		c.EnergyMeters, c.WaterMeters, d.brokerURL, c.Legacy)
	if c.InfluxURL != "" {
		fmt.Fprintf(w, "Forwarding to the TSDB at %s (bucket %q); queue in %s.\n",
			status.RedactedURL(c.InfluxURL), c.InfluxBucket, filepath.Join(c.DataDir, "queue"))
	} else {
		fmt.Fprintf(w, "No TSDB given (-influx-url): data is kept in the local queue %s and every\n",
			filepath.Join(c.DataDir, "queue"))
		fmt.Fprintf(w, "line-protocol block is appended to %s.\n", d.lines.Path())
	}
	fmt.Fprintf(w, "Open:\n  status page / 状态页  %s/\n  metrics              %s/metrics\n  status JSON          %s/api/status\n",
		base, base, base)
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}

// Run runs the simulator, the broker and the gateway until ctx is done or one of them
// fails. It stops the gateway first (so it sees no source vanish), then the simulator
// and the broker, and returns after all have stopped.
func (d *Demo) Run(ctx context.Context) error {
	if err := d.broker.Serve(); err != nil {
		_ = d.broker.Close()
		_ = d.app.Close()
		return fmt.Errorf("start embedded mqtt broker: %w", err)
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	start := func(what string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errc <- fmt.Errorf("%s: %w", what, err)
				stopApp()
			}
		}()
	}
	start("simulator", func() error { return d.sim.Run(simCtx) })
	start("simulated opc ua server", func() error { return d.sim.ServeOPCUA(simCtx, d.opcAddr) })
	start("simulated meters", func() error { return d.sim.PublishMQTT(simCtx, d.brokerURL) })

	// The gateway starts once the simulated server serves, so it connects at once.
	wctx, cancelWait := context.WithTimeout(appCtx, 10*time.Second)
	if err := d.sim.WaitOPCUA(wctx, d.opcAddr); err != nil && appCtx.Err() == nil {
		d.log.Warn("simulated opc ua server not up yet; the gateway keeps trying", "err", err)
	}
	cancelWait()
	runErr := d.app.Run(appCtx)
	stopSim()
	wg.Wait()
	d.closeBroker()
	if d.lines != nil {
		if err := d.lines.Close(); err != nil && runErr == nil {
			runErr = err
		}
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	return runErr
}

// brokerDrain bounds how long closeBroker waits for the clients' connections to end.
const brokerDrain = 5 * time.Second

// closeBroker closes the embedded broker once every client connection has ended:
// mochi-mqtt v2.7.9's Close takes its clients' read lock twice (GetByListener calls
// Len), which deadlocks when a disconnecting client's removal (a write lock) arrives in
// between, as it does right after the gateway and the simulated meters disconnect. A
// connection's handler removes its client before it counts itself out of
// Info.ClientsConnected.
func (d *Demo) closeBroker() {
	for end := time.Now().Add(brokerDrain); atomic.LoadInt64(&d.broker.Info.ClientsConnected) > 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	_ = d.broker.Close()
}

// freeLoopbackAddr returns 127.0.0.1 with a port that was free a moment ago (the OPC UA
// server needs a port number before it listens).
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// minLevel drops records below a level (the embedded broker logs every connection).
type minLevel struct {
	min slog.Level
	h   slog.Handler
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.min, m.h.WithAttrs(as)}
}
func (m minLevel) WithGroup(name string) slog.Handler { return minLevel{m.min, m.h.WithGroup(name)} }
