// Package app is the gateway's composition root: it builds the sources, the pipeline,
// the queues, the sinks and the admin server from a configuration and runs them.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/ganlink/ganlink/adapters/dlt645"
	"github.com/ganlink/ganlink/adapters/influx"
	"github.com/ganlink/ganlink/adapters/modbus"
	"github.com/ganlink/ganlink/adapters/mqtt"
	"github.com/ganlink/ganlink/adapters/opcua"
	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/admin"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/corrections"
	"github.com/ganlink/ganlink/gateway/deadletter"
	"github.com/ganlink/ganlink/gateway/instance"
	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/lastvalue"
	"github.com/ganlink/ganlink/gateway/pipeline"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/queue"
	"github.com/ganlink/ganlink/internal/cli"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

// Source is a southbound adapter.
type Source interface {
	Run(ctx context.Context, emit point.EmitFunc) error
}

type namedSource struct {
	name string
	src  Source
}

// App is a built gateway, ready to Run.
type App struct {
	cfg         *config.Config
	log         *slog.Logger
	reg         *prometheus.Registry
	obs         *observer
	queues      []*queue.Queue
	sinks       []*influx.Sink
	forwarders  []*pipeline.Forwarder
	processors  int // Options.Processors: with one, data goes somewhere without a sink
	pipe        *pipeline.Pipeline
	sources     []namedSource
	pki         *pki.Store // nil without OPC UA security
	own         *pki.Own
	admin       *admin.Server
	kpi         *kpi.Engine
	kpiEmit     point.EmitFunc // the KPI ticker's way into the queues (pipeline.Appender)
	values      *lastvalue.Store
	windows     *lastvalue.Windows
	extra       []ExtraSink
	clock       func() time.Time
	started     time.Time
	instance    string          // the instance id (gateway/instance), tagged on KPI points
	kpiWindows  []time.Duration // the KPI window lengths
	version     string          // the version tag of the health series
	healthEvery time.Duration   // how often the health series is written; never when ≤ 0
	healthEmit  point.EmitFunc  // the health ticker's way into the queues (pipeline.Appender)
	corr        *corrections.Service
}

// Processor sees every batch the sources deliver (see Options.Processors).
type Processor = pipeline.Processor

// Options adjusts a build; zero values are fine.
type Options struct {
	// Registry receives all metrics; a new one is made when nil.
	Registry *prometheus.Registry
	// Clock is the time KPI windows follow; default time.Now.
	Clock func() time.Time
	// Sinks are written to besides the configured ones (each with its own queue).
	Sinks []ExtraSink
	// Processors see every batch from the sources, after the KPI engine.
	Processors []pipeline.Processor
	// Version is the version tag of the health series (cli.ShortVersion when empty).
	Version string
	// AdminState is what the admin endpoint keeps across reloads (sessions, CSRF key,
	// the reloads the API requests); the serve loop passes the same one to every Build.
	// Nil: the admin server makes its own.
	AdminState *admin.State
	// ConfigPath is the configuration file the gateway runs from: the admin API reads,
	// validates, writes and rolls it back (docs/admin-api.openapi.yaml). Empty: no
	// configuration API.
	ConfigPath string
}

// IdentityTags returns the sorted identity tags of a device's points.
func IdentityTags(w *config.Workshop, d *config.Device) []point.Tag { return config.IdentityTags(w, d) }

// Build constructs every component; it opens the queues (repairing them if needed) and
// binds the admin port, but starts no goroutine.
func Build(cfg *config.Config, log *slog.Logger, opts Options) (_ *App, err error) {
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	a := &App{cfg: cfg, log: log, reg: reg, obs: newObserver(reg, log), clock: opts.Clock,
		values: lastvalue.New(cfg), windows: lastvalue.NewWindows()}
	if a.clock == nil {
		a.clock = time.Now
	}
	kc, kdev, err := kpiConfig(cfg)
	if err != nil {
		return nil, err
	}
	logKPIPlan(log, kdev)
	kc.OnCounterStep = newStepLog(log, a.clock).step
	if a.instance, err = instance.Load(InstancePath(cfg), a.clock(), log); err != nil {
		return nil, err
	}
	a.kpiWindows = kc.Windows
	shopTags := kc.WorkshopTags
	tagInstance(&kc, kdev, a.instance)
	if a.kpi, err = kpi.New(kc, kdev); err != nil {
		return nil, fmt.Errorf("build kpi engine: %w", err)
	}
	if a.obs.dead, err = deadletter.Open(deadletter.Config{Dir: cfg.DeadLetters.Dir, Keep: cfg.DeadLetters.Keep,
		MaxPayload: int(cfg.DeadLetters.MaxPayloadBytes.N)}); err != nil {
		if a.obs.dead == nil {
			return nil, err
		}
		log.Warn("dead letters kept from an earlier run could not all be read", "err", err)
	}
	reg.MustRegister(newKPICollector(a))
	a.obs.onState = func(source string, s point.State) {
		switch s {
		case point.StateUp:
			a.kpi.SourceState(source, true, a.clock())
		case point.StateDown:
			a.kpi.SourceState(source, false, a.clock())
		}
	}
	defer func() {
		if err != nil {
			a.closeQueues()
		}
	}()

	sinkMetrics := pipeline.NewSinkMetrics(reg)
	var queues []pipeline.Queue
	for i := range cfg.Sinks.Influx {
		sc := &cfg.Sinks.Influx[i]
		qcfg := queue.DefaultConfig()
		qcfg.Dir = filepath.Join(cfg.Queue.Dir, sc.Name)
		qcfg.MaxBytes = cfg.Queue.MaxBytes.N
		qcfg.Fsync = cfg.Queue.Fsync
		q, err := queue.Open(qcfg, log.With("queue", sc.Name), prometheus.WrapRegistererWith(prometheus.Labels{"sink": sc.Name}, reg))
		if err != nil {
			return nil, fmt.Errorf("open queue of sink %q: %w", sc.Name, err)
		}
		a.queues = append(a.queues, q)
		queues = append(queues, q)
		ic := influx.DefaultConfig()
		ic.Name, ic.URL, ic.Org, ic.Bucket, ic.Token = sc.Name, sc.URL, sc.Org, sc.Bucket, sc.Token.Reveal()
		if sc.Gzip != nil {
			ic.Gzip = *sc.Gzip
		}
		if sc.Timeout.Set() {
			ic.Timeout = sc.Timeout.D
		}
		sink, err := influx.New(ic, log.With("sink", sc.Name))
		if err != nil {
			return nil, fmt.Errorf("build sink %q: %w", sc.Name, err)
		}
		a.sinks = append(a.sinks, sink)
		a.forwarders = append(a.forwarders, pipeline.NewForwarder(pipeline.ForwarderConfig{
			Name: sc.Name, BatchBytes: int(sc.BatchBytes.N), FlushInterval: sc.FlushInterval.D,
			RetryMin: sc.RetryMin.D, RetryMax: sc.RetryMax.D,
			IsPermanent: isPermanent,
		}, q, sink, sinkMetrics, log))
	}
	extraQueues, err := a.buildExtraSinks(opts.Sinks, sinkMetrics)
	if err != nil {
		return nil, err
	}
	queues = append(queues, extraQueues...)
	a.pipe = pipeline.New(queues, append([]pipeline.Processor{a.kpi, a.values}, opts.Processors...), log, reg)
	a.processors = len(opts.Processors)
	a.kpiEmit = a.pipe.Appender(kpiSource)
	a.healthEmit = a.pipe.Appender(healthSource)
	a.version, a.healthEvery = opts.Version, cfg.Health.Interval.D
	if a.version == "" {
		a.version = cli.ShortVersion("")
	}

	if err := a.buildSources(); err != nil {
		return nil, err
	}
	a.admin = admin.New(cfg.Admin.Listen, reg, a.ready, a.statusQuery, log.With("component", "admin"))
	if cfg.Admin.Pprof {
		a.admin.EnablePprof()
		log.Info("pprof profiles served on the admin endpoint", "url", "http://"+cfg.Admin.Listen+"/debug/pprof/")
	}
	a.admin.SetState(opts.AdminState)
	a.admin.SetDataDir(DataDir(cfg))
	if opts.ConfigPath != "" {
		a.admin.SetConfig(opts.ConfigPath, kindNames(), Validate)
	}
	a.newCorrections(shopTags)
	a.mountCommission()
	if err := a.admin.SetAuth(adminAuth(&cfg.Admin)); err != nil {
		return nil, err
	}
	if err := a.admin.Listen(); err != nil {
		return nil, fmt.Errorf("listen on admin address %q: %w", cfg.Admin.Listen, err)
	}
	return a, nil
}

// opcuaPKI opens the PKI directory and loads (on first use generates) the gateway's
// application instance certificate when an OPC UA source may need it: one with security
// or credentials. It returns nils when none does.
func (a *App) opcuaPKI() (*pki.Store, *pki.Own, error) {
	need := false
	for _, src := range a.cfg.Sources.Of(opcua.Kind.Name()) {
		if spec, ok := src.Spec.(*opcua.SourceSpec); ok && spec.NeedsPKI() {
			need = true
		}
	}
	if !need {
		return nil, nil, nil
	}
	store := &pki.Store{Dir: a.cfg.PKI.Dir}
	own, err := store.LoadOrCreate(pki.OwnOptions{ApplicationURI: a.cfg.PKI.ApplicationURI,
		CommonName: "Ganlink gateway " + a.cfg.Workshop.ID, KeyBits: a.cfg.PKI.KeyBits})
	if err != nil {
		return nil, nil, err
	}
	in := pki.Describe(own.Cert)
	msg := "opcua application instance certificate loaded"
	if own.Created {
		msg = "opcua application instance certificate generated: give it to the OPC UA servers to trust"
	}
	a.log.Info(msg, "file", own.Path, "application_uri", in.ApplicationURI,
		"thumbprint", in.Thumbprint, "not_after", in.NotAfter.Format(time.DateOnly))
	return store, own, nil
}

// buildSources builds every source from its adapter's BuildConfig: the same function
// gateway validate runs (through the adapter's config.Kind), so a configuration that
// validates builds, and one that does not is refused with the same problems.
func (a *App) buildSources() error {
	cfg := a.cfg
	store, own, err := a.opcuaPKI()
	if err != nil {
		return err
	}
	a.pki, a.own = store, own
	var probs config.Errors
	for _, k := range Kinds() {
		for _, src := range cfg.Sources.Of(k.Name()) {
			devs := cfg.DevicesOf(src.Name())
			name, log := src.Name(), a.log.With("source", src.Name())
			var s Source
			switch spec := src.Spec.(type) {
			case *opcua.SourceSpec:
				oc, p := opcua.BuildConfig(src, devs, &cfg.Workshop)
				if probs = append(probs, p...); len(p) > 0 {
					continue
				}
				oc.PKI, oc.Own = store, own
				if spec.SecurityPolicy == "None" {
					a.log.Warn("OPC UA source configured without security: values travel unsigned and readable; see docs/security.md to set up certificates",
						"source", name, "endpoint", spec.Endpoint)
				}
				s, err = opcua.New(oc, a.obs, log)
			case *modbus.SourceSpec:
				mc, p := modbus.BuildConfig(src, devs, &cfg.Workshop)
				if probs = append(probs, p...); len(p) > 0 {
					continue
				}
				if len(mc.Devices) == 0 {
					a.log.Warn("modbus source has no devices; not connecting", "source", name)
					continue
				}
				s, err = modbus.New(mc, a.obs, log)
			case *dlt645.SourceSpec:
				dc, p := dlt645.BuildConfig(src, devs, &cfg.Workshop)
				if probs = append(probs, p...); len(p) > 0 || len(dc.Devices) == 0 {
					continue
				}
				s, err = dlt645.New(dc, a.obs, log)
			case *mqtt.SourceSpec:
				mc, p := mqtt.BuildConfig(src, devs, &cfg.Workshop)
				if probs = append(probs, p...); len(p) > 0 {
					continue
				}
				if len(mc.Bindings) == 0 {
					a.log.Warn("mqtt source has no devices; not connecting", "source", name)
					continue
				}
				s, err = mqtt.New(mc, a.obs, log)
			default:
				return fmt.Errorf("build source %q: no adapter for %T", name, spec)
			}
			if err != nil {
				return fmt.Errorf("build %s source %q: %w", src.Kind, name, err)
			}
			a.addSource(name, s)
		}
	}
	if len(probs) > 0 {
		return cfg.Locate(probs)
	}
	return nil
}

// adminAuth maps the admin section's credentials.
func adminAuth(c *config.Admin) admin.Auth {
	au := admin.Auth{Token: c.Token.Reveal(), ProtectMetrics: c.ProtectMetrics}
	if b := c.BasicAuth; b != nil {
		au.Username, au.Password = b.Username, b.Password.Reveal()
	}
	for _, u := range c.Users {
		au.Users = append(au.Users, admin.User{Name: u.Name, Role: u.Role, Password: u.Password.Reveal()})
	}
	return au
}

// DataDir is the data directory of a configuration: the parent of queue.dir, which
// holds the instance id, the corrections, the audit log and the configuration versions.
func DataDir(cfg *config.Config) string { return filepath.Dir(filepath.Clean(cfg.Queue.Dir)) }

// isPermanent reports sink errors whose data is dropped. Authentication and
// not-found answers (401, 403, 404) are configuration faults, not bad data: they are
// retried so the queue keeps the data until the operator fixes the token or creates
// the database.
func isPermanent(err error) bool {
	if !errors.Is(err, influx.ErrPermanent) {
		return false
	}
	var se *influx.StatusError
	if errors.As(err, &se) {
		switch se.StatusCode {
		case 401, 403, 404:
			return false
		}
	}
	return true
}

// sourceEmit is the emit function of the source named name: the pipeline's ingest
// under the one emit policy (pipeline.Emitter), behind the guard against source times
// ahead of the clock (sources.max_time_ahead).
func (a *App) sourceEmit(name string) point.EmitFunc {
	return guardTime(name, a.cfg.Sources.MaxTimeAhead.D, a.clock, a.obs, a.pipe.Emitter(name))
}

func (a *App) addSource(name string, s Source) {
	a.obs.register(name)
	a.sources = append(a.sources, namedSource{name: name, src: s})
}

// Registry returns the metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.reg }

// AdminAddr returns the bound admin address.
func (a *App) AdminAddr() string { return a.admin.Addr() }

// Pipeline returns the ingest side (for processors that emit their own points).
func (a *App) Pipeline() *pipeline.Pipeline { return a.pipe }

// Admin returns the admin server, to add handlers before Run.
func (a *App) Admin() *admin.Server { return a.admin }

// Run runs every component until ctx is done or one of them fails, then stops the
// sources first (their in-flight batches finish queueing), then the forwarders, the KPI
// ticker (which queues the windows due) and the admin server, and closes the queues
// durably. It returns after every goroutine it started has exited, with the first
// component error (nil after a plain stop). Each group is an errgroup: any number of
// components may fail, the first failure stops the rest.
func (a *App) Run(ctx context.Context) error {
	a.started = time.Now()
	a.log.Info("gateway starting", "workshop", a.cfg.Workshop.ID, "instance", a.instance, "devices", len(a.cfg.Devices),
		"sources", len(a.sources), "sinks", len(a.forwarders), "admin", "http://"+a.admin.Addr())
	if len(a.forwarders) == 0 && a.processors == 0 {
		a.log.Warn("no sink configured: data is not forwarded anywhere")
	}
	for i, s := range a.sinks {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if err := s.Ping(pctx); err != nil {
			a.log.Warn("sink not reachable at start; data is queued until it is", "err", err)
		} else {
			a.checkInstance(ctx, i)
		}
		cancel()
	}

	a.loadKPIState(a.clock())
	a.openCorrections(ctx) // after the state: the engine knows which replacements it applied
	defer a.corr.Close()
	a.emitKPI(ctx, a.kpi.Tick(a.clock())) // observation starts before the first sample; restored windows that closed meanwhile are queued
	endStartup()

	// The background components outlive the sources: they run until the sources have
	// stopped, so every batch a source hands over still reaches a running queue.
	bgParent, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	bg, bgCtx := errgroup.WithContext(bgParent)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	src, srcCtx := errgroup.WithContext(runCtx)
	named := func(what string, f func(context.Context) error, ctx context.Context) func() error {
		return func() error {
			if err := f(ctx); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
	}
	for _, q := range a.queues {
		bg.Go(named("queue", q.Run, bgCtx))
	}
	for _, f := range a.forwarders {
		bg.Go(named("forwarder", f.Run, bgCtx))
	}
	bg.Go(named("admin", a.admin.Run, bgCtx))
	bg.Go(named("kpi", a.runKPI, bgCtx))
	bg.Go(named("health", a.runHealth, bgCtx))
	bg.Go(func() error {
		if err := a.obs.dead.Run(bgCtx); err != nil {
			a.log.Warn("write dead letters", "dir", a.cfg.DeadLetters.Dir, "err", err)
		}
		return nil
	})
	for _, s := range a.sources {
		emit := a.sourceEmit(s.name)
		src.Go(named("source "+s.name, func(ctx context.Context) error { return s.src.Run(ctx, emit) }, srcCtx))
	}

	// srcCtx ends with ctx or a failed source, bgCtx with a failed background component.
	bgFailed := false
	select {
	case <-srcCtx.Done():
	case <-bgCtx.Done():
		bgFailed = true
	}
	stopRun()
	srcErr := src.Wait()
	stopBG()
	bgErr := bg.Wait()
	runErr := srcErr
	if bgFailed || runErr == nil {
		runErr = bgErr
	}
	if runErr != nil {
		a.log.Error("component failed; stopped", "err", runErr)
	}
	for _, s := range a.sinks {
		s.Close()
	}
	if err := a.closeQueues(); err != nil && runErr == nil {
		runErr = err
	}
	a.log.Info("gateway stopped")
	return runErr
}

// Close closes the queues Build opened, for an App that will not Run (Run closes them
// itself when it returns).
func (a *App) Close() error { return a.closeQueues() }

func (a *App) closeQueues() error {
	var errs []error
	for _, q := range a.queues {
		if err := q.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	a.queues = nil
	return errors.Join(errs...)
}

func (a *App) ready() error {
	for name, st := range a.obs.snapshot() {
		if !st.EverUp {
			return fmt.Errorf("source %q has not connected yet", name)
		}
	}
	return nil
}
