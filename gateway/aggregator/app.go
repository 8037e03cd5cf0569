package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/backend"
	"github.com/ganlink/ganlink/gateway/aggregator/corrections"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/service"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options are what Build takes besides the configuration.
type Options struct {
	// Registry and Gatherer for metrics; default a new registry with the Go and process
	// collectors.
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// App is a built aggregator.
type App struct {
	cfg    *Config
	log    *slog.Logger
	svc    *service.Service
	tokens *api.Tokens
	server *api.Server
	writer *service.Writer
}

// Build loads the registry and tokens, builds the backend, service and API and binds
// the listen address; it starts no goroutine and contacts no database.
func Build(cfg *Config, log *slog.Logger, opts Options) (*App, error) {
	reg, gat := opts.Registry, opts.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gat = r, r
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q: %w", cfg.Timezone, err)
	}
	window, err := cfg.WindowSize()
	if err != nil {
		return nil, fmt.Errorf("build aggregator: window: %w", err)
	}
	r, err := cfg.LoadRegistry()
	if err != nil {
		return nil, err
	}
	store := registry.NewStore(cfg.Path(cfg.Registry), r, log)
	tokens, err := api.LoadTokens(cfg.Path(cfg.TokensFile))
	if err != nil {
		return nil, err
	}
	be, err := newBackend(cfg)
	if err != nil {
		return nil, err
	}
	corr := corrections.NewStore(cfg.CorrectionsPath())
	if _, _, err := corr.Current(); err != nil {
		return nil, err
	}
	m := service.NewMetrics(reg)
	m.SetRegistry(r)
	ttl := time.Minute
	if cfg.CacheTTL != nil {
		ttl = cfg.CacheTTL.D
	}
	svc, err := service.New(be, store, cfg.Rules, service.Options{Window: cfg.Window, WindowSize: window, Location: loc,
		CacheTTL: ttl, MaxBuckets: cfg.MaxBuckets, MaxRange: cfg.MaxRange.D, MaxPoints: cfg.MaxPoints, Settle: cfg.Settle.D, Now: opts.Now,
		Corrections: corr}, m, log)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, svc: svc, tokens: tokens}
	if wb := &cfg.WriteBack; wb.Enabled {
		tok, err := secret(cfg.Path(wb.TokenFile), wb.TokenEnv)
		if err != nil {
			return nil, fmt.Errorf("build write-back: %w", err)
		}
		if a.writer, err = service.NewWriter(service.WriterConfig{URL: wb.URL, Org: wb.Org, Bucket: wb.Bucket, Token: tok,
			Timeout: wb.Timeout.D}); err != nil {
			return nil, err
		}
	}
	s := &cfg.Server
	queued := s.MaxQueued
	if queued == 0 {
		queued = -1 // no queue (api.Options: 0 is the default)
	}
	h := api.New(svc, tokens, api.Options{DefaultRange: cfg.DefaultRange.D, RequestTimeout: s.RequestTimeout.D,
		MaxURLBytes: s.MaxURLBytes, MaxBodyBytes: s.MaxBodyBytes, MaxInFlight: s.MaxInFlight, MaxQueued: queued,
		QueueTimeout: s.QueueTimeout.D, MaxRows: cfg.MaxRows}, reg, gat, log)
	a.server, err = api.Listen(cfg.Listen, h, api.ServerOptions{ReadHeaderTimeout: s.ReadHeaderTimeout.D,
		ReadTimeout: s.ReadTimeout.D, WriteTimeout: s.WriteTimeout.D, IdleTimeout: s.IdleTimeout.D,
		MaxHeaderBytes: s.MaxHeaderBytes}, log)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func newBackend(cfg *Config) (backend.Backend, error) {
	b := &cfg.Backend
	tok, err := secret(cfg.Path(b.TokenFile), b.TokenEnv)
	if err != nil {
		return nil, fmt.Errorf("build backend: %w", err)
	}
	if b.Type == "influxql" {
		return backend.NewInfluxQL(backend.InfluxQLConfig{URL: b.URL, Database: b.Database,
			RetentionPolicy: b.RetentionPolicy, Token: tok, Timeout: b.Timeout.D})
	}
	noCache := b.NoCache == nil || *b.NoCache
	return backend.NewPromQL(backend.PromQLConfig{URL: b.URL, BearerToken: tok, Timeout: b.Timeout.D,
		Concurrency: b.Concurrency, NoCache: noCache})
}

// Addr returns the API's bound address.
func (a *App) Addr() net.Addr { return a.server.Addr() }

// Service returns the service (for tests and tools).
func (a *App) Service() *service.Service { return a.svc }

// Reload re-reads the registry and the tokens file; on errors the previous ones stay.
func (a *App) Reload() error {
	return errors.Join(a.svc.Reload(), a.tokens.Reload())
}

// Run serves the API and runs the write-back loop until ctx ends; it returns after
// both have stopped.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	n := 1
	go func() { errc <- a.server.Run(ctx) }()
	if a.writer != nil {
		n++
		wb := &a.cfg.WriteBack
		go func() { errc <- a.svc.RunWriteBack(ctx, a.writer, wb.Interval.D, wb.Period.D) }()
	}
	var errs []error
	for range n {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	return errors.Join(errs...)
}
