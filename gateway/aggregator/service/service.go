// Package service is the aggregator's core: it reads per-workshop and per-vendor
// aggregates for a period from a query backend (with a short-lived cache), and derives
// the programme evaluation and the roll-ups per region, park and enterprise with the
// current registry and rules. It also writes the roll-ups back to the TSDB.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/backend"
	"github.com/ganlink/ganlink/gateway/aggregator/corrections"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Service.
type Options struct {
	// Window is the KPI window series read ("1h": the workshop_kpi points with
	// window="1h"); WindowSize its length.
	Window     string
	WindowSize time.Duration
	// Location is the workshops' zone (windows start at local midnight).
	Location *time.Location
	// CacheTTL is how long a fetched period is reused; 0 disables the cache.
	CacheTTL time.Duration
	// CacheEntries bounds the cache; default 64.
	CacheEntries int
	// MaxBuckets bounds the buckets of one request; default 1000.
	MaxBuckets int
	// MaxRange bounds a period's length; default 400 days.
	MaxRange time.Duration
	// MaxPoints bounds the per-workshop points one period reads from the TSDB and holds
	// (registered workshops × buckets); default 200 000. It also bounds the cache: the
	// cached snapshots hold at most 2 × MaxPoints points together.
	MaxPoints int
	// Settle is how long after a window's end its data is taken as complete (the
	// gateways write a window after its end plus their allowed lateness, then forward
	// it); default periods end at the start of the window containing now − Settle.
	Settle time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Corrections is the central corrections store; nil: none (gateway corrections
	// still apply).
	Corrections *corrections.Store
}

// Service answers questions about periods. It is safe for concurrent use and starts
// no goroutines of its own outside calls (RunWriteBack runs the write-back loop).
type Service struct {
	be    backend.Backend
	store *registry.Store
	rules rules.Config
	opt   Options
	grid  windowGrid
	log   *slog.Logger
	m     *Metrics

	mu          sync.Mutex
	cache       map[cacheKey]*cacheEntry
	cacheSeq    uint64
	cachePoints int // sum of the entries' points
	calls       map[cacheKey]*call
}

type cacheKey struct {
	from, to int64
	step     time.Duration
	vendors  bool
	// corrections is the central store's generation: a snapshot is never reused
	// across a change of the store.
	corrections uint64
}

type cacheEntry struct {
	snap    *Snapshot
	points  int // snap.points()
	expires time.Time
	seq     uint64 // insertion order: breaks ties between equal expiry times
}

// New builds a service; it contacts nothing.
func New(be backend.Backend, store *registry.Store, rc rules.Config, opt Options, m *Metrics, log *slog.Logger) (*Service, error) {
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("new aggregator service: %w", err)
	}
	if opt.Window == "" || opt.WindowSize < time.Second || (24*time.Hour)%opt.WindowSize != 0 {
		return nil, fmt.Errorf("new aggregator service: window %q (%s) must divide a day", opt.Window, opt.WindowSize)
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.CacheEntries <= 0 {
		opt.CacheEntries = 64
	}
	if opt.MaxBuckets <= 0 {
		opt.MaxBuckets = 1000
	}
	if opt.MaxRange <= 0 {
		opt.MaxRange = 400 * 24 * time.Hour
	}
	if opt.MaxPoints <= 0 {
		opt.MaxPoints = 200000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}

	return &Service{be: be, store: store, rules: rc, opt: opt, grid: windowGrid{opt.WindowSize, opt.Location},
		log: log, m: m, cache: map[cacheKey]*cacheEntry{}, calls: map[cacheKey]*call{}}, nil
}

// Registry returns the current registry.
func (s *Service) Registry() *registry.Registry { return s.store.Get() }

// Rules returns the rules configuration.
func (s *Service) Rules() *rules.Config { return &s.rules }

// Window returns the KPI window series name and length.
func (s *Service) Window() (string, time.Duration) { return s.opt.Window, s.opt.WindowSize }

// Location returns the workshops' zone.
func (s *Service) Location() *time.Location { return s.opt.Location }

// Now returns the service clock's time.
func (s *Service) Now() time.Time { return s.opt.Now() }

// Reload reloads the registry (see registry.Store.Reload).
func (s *Service) Reload() error {
	err := s.store.Reload()
	s.m.reload(err, s.store.Get())
	return err
}

// PeriodError is a period the service cannot answer (bad bounds or step); callers
// report it to clients as a bad request.
type PeriodError struct{ Msg string }

func (e *PeriodError) Error() string { return e.Msg }

// TooManyPointsError is a period whose buckets times the registered workshops exceed
// MaxPoints; callers report it as a bad request (IsPeriodError is true for it too).
type TooManyPointsError struct{ Points, Workshops, Buckets, Max int }

func (e *TooManyPointsError) Error() string {
	return fmt.Sprintf("the period would read %d points from the time-series database (%d registered workshops × %d buckets), at most %d: raise step or shorten the period",
		e.Points, e.Workshops, e.Buckets, e.Max)
}

// CheckPeriod validates a period: bounds on window starts, a positive range not longer
// than the maximum, a step that is a multiple of the window and divides the range, and
// not too many buckets.
func (s *Service) CheckPeriod(p Period) error {
	bad := func(format string, a ...any) error { return &PeriodError{fmt.Sprintf(format, a...)} }
	w := s.opt.WindowSize
	switch {
	case !p.From.Before(p.To):
		return bad("from %s is not before to %s", p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	case p.To.Sub(p.From) > s.opt.MaxRange:
		return bad("range %s is longer than %s", FormatDuration(p.To.Sub(p.From)), FormatDuration(s.opt.MaxRange))
	case !s.grid.aligned(p.From):
		return bad("from %s is not on a %s window boundary", p.From.In(s.opt.Location).Format(time.RFC3339), s.opt.Window)
	case !s.grid.aligned(p.To):
		return bad("to %s is not on a %s window boundary", p.To.In(s.opt.Location).Format(time.RFC3339), s.opt.Window)
	case p.Step < 0:
		return bad("negative step")
	}
	if p.Step != 0 {
		if p.Step%w != 0 {
			return bad("step %s is not a multiple of the %s window", FormatDuration(p.Step), s.opt.Window)
		}
		if p.To.Sub(p.From)%p.Step != 0 {
			return bad("step %s does not divide the range %s", FormatDuration(p.Step), FormatDuration(p.To.Sub(p.From)))
		}
		if n := p.Buckets(); n > s.opt.MaxBuckets {
			return bad("%d buckets, at most %d", n, s.opt.MaxBuckets)
		}
	}
	if s.store != nil {
		shops, n := max(1, len(s.store.Get().Workshops())), p.Buckets()
		if shops*n > s.opt.MaxPoints {
			return &TooManyPointsError{Points: shops * n, Workshops: shops, Buckets: n, Max: s.opt.MaxPoints}
		}
	}
	return nil
}

// DefaultPeriod returns the period of length d ending at the start of the window
// containing now − Settle.
func (s *Service) DefaultPeriod(d time.Duration) Period {
	to := s.grid.floor(s.opt.Now().Add(-s.opt.Settle))
	return Period{From: s.grid.floor(to.Add(-d)), To: to}
}

// Snapshot is what the TSDB holds for a period: per bucket, the statistics of every
// workshop tag value with data, and over the whole period the online seconds of every
// device vendor tag value (when asked for).
type Snapshot struct {
	Period   Period
	Expected []int                             // KPI windows per bucket
	Shops    []map[string]*rules.WorkshopStats // per bucket
	Vendors  map[string]float64
	Fetched  time.Time
	// Conflicts are the workshops written by more than one gateway instance in the
	// period; Shops holds the counted instance's figures for them (Conflict).
	Conflicts map[string]*Conflict
	// Applied are, per workshop, the corrections in force that left windows of the
	// period out (docs/aggregator.md "Corrections"); Shops holds the figures without them.
	Applied map[string]*Applied

	ex exclusions
}

// shopFields are read per workshop; statsFromRow maps them.
var shopFields = []backend.Field{
	{Name: schema.FieldEquipmentTotal, Func: backend.Count},
	{Name: schema.FieldEquipmentTotal, Func: backend.Last},
	{Name: schema.FieldEquipmentKey, Func: backend.Last},
	{Name: schema.FieldEquipmentCNCKey, Func: backend.Last},
	{Name: schema.FieldEquipmentDigital, Func: backend.Last},
	{Name: schema.FieldEquipmentNetworked, Func: backend.Sum},
	{Name: schema.FieldEquipmentDigital, Func: backend.Sum},
	{Name: schema.FieldSmartEquipmentInService, Func: backend.Max},
	{Name: schema.FieldParts, Func: backend.Sum},
	{Name: schema.FieldOutputValueYuan, Func: backend.Sum},
	{Name: schema.FieldEnergyKWh, Func: backend.Sum},
	{Name: schema.FieldEnergyKgce, Func: backend.Sum},
	{Name: schema.FieldWaterM3, Func: backend.Sum},
	{Name: schema.FieldSuspect, Func: backend.Sum},
}

func statsFromRow(v []float64) *rules.WorkshopStats {
	windows, suspect := v[0], v[13]
	if math.IsNaN(windows) {
		windows = 0
	}
	if math.IsNaN(suspect) { // written only when not 0
		suspect = 0
	}
	return &rules.WorkshopStats{Windows: windows, EquipmentTotal: v[1], EquipmentKey: v[2], EquipmentCNCKey: v[3],
		EquipmentDigital: v[4], Networked: v[5], DigitalWindows: v[6], SmartInService: v[7], Parts: v[8],
		OutputValueYuan: v[9], EnergyKWh: v[10], EnergyKgce: v[11], WaterM3: v[12], Suspect: suspect,
		UnknownS: math.NaN(), StateS: math.NaN()}
}

// deviceFields are the online states of device_kpi: a vendor's equipment is in service
// when it spent time in any of them.
var deviceFields = []backend.Field{
	{Name: schema.FieldRunningS, Func: backend.Sum},
	{Name: schema.FieldIdleS, Func: backend.Sum},
	{Name: schema.FieldSetupS, Func: backend.Sum},
	{Name: schema.FieldAlarmS, Func: backend.Sum},
}

// smartFields are read per workshop and smart device: a device with any of them has
// data in the bucket, and is in service when it spent time in a deviceFields state
// (the first four).
var smartFields = append(append([]backend.Field{}, deviceFields...),
	backend.Field{Name: schema.FieldOfflineS, Func: backend.Sum},
	backend.Field{Name: schema.FieldUnknownS, Func: backend.Sum},
)

// Snapshot returns the data for p (validated with CheckPeriod), from the cache when a
// fetch of the same period is recent enough. Concurrent calls for the same period share
// one fetch; a caller whose context ends first gives up waiting, and when the leader's
// context ends its fetch fails for everyone sharing it.
func (s *Service) Snapshot(ctx context.Context, p Period, vendors bool) (*Snapshot, error) {
	if err := s.CheckPeriod(p); err != nil {
		return nil, err
	}
	central, gen := s.central()
	key := cacheKey{p.From.UnixNano(), p.To.UnixNano(), p.Step, vendors, gen}
	now := s.opt.Now()
	if s.opt.CacheTTL > 0 {
		s.mu.Lock()
		e := s.cache[key]
		s.mu.Unlock()
		if e != nil && now.Before(e.expires) {
			s.m.cacheHits.Inc()
			return e.snap, nil
		}
		s.m.cacheMisses.Inc()
	}
	// Concurrent calls for one period share the fetch of the first (the leader),
	// which runs in the leader's goroutine under the leader's context.
	s.mu.Lock()
	if c := s.calls[key]; c != nil {
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, &BackendError{Err: fmt.Errorf("wait for tsdb: %w", ctx.Err())}
		case <-c.done:
			return c.snap, c.err
		}
	}
	c := &call{done: make(chan struct{})}
	s.calls[key] = c
	s.mu.Unlock()
	c.snap, c.err = s.fetch(ctx, p, vendors, central)
	if c.err == nil && s.opt.CacheTTL > 0 {
		s.store1(key, c.snap, s.opt.Now().Add(s.opt.CacheTTL))
	}
	s.mu.Lock()
	delete(s.calls, key)
	s.mu.Unlock()
	close(c.done)
	return c.snap, c.err
}

// call is a fetch in progress.
type call struct {
	done chan struct{}
	snap *Snapshot
	err  error
}

// points is the size of a snapshot in per-workshop points (at least 1 per bucket).
func (snap *Snapshot) points() int {
	n := 0
	for _, m := range snap.Shops {
		n += max(1, len(m))
	}
	return n
}

func (s *Service) store1(key cacheKey, snap *Snapshot, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pts, budget := snap.points(), 2*s.opt.MaxPoints
	if pts > budget {
		return
	}
	if old := s.cache[key]; old != nil {
		s.cachePoints -= old.points
		delete(s.cache, key)
	}
	for len(s.cache) >= s.opt.CacheEntries || s.cachePoints+pts > budget {
		// Drop expired entries, then the one expiring first (the older on a tie).
		var oldest cacheKey
		var oldestE *cacheEntry
		for k, e := range s.cache {
			if !e.expires.After(snap.Fetched) {
				s.cachePoints -= e.points
				delete(s.cache, k)
				continue
			}
			if oldestE == nil || e.expires.Before(oldestE.expires) ||
				(e.expires.Equal(oldestE.expires) && e.seq < oldestE.seq) {
				oldest, oldestE = k, e
			}
		}
		if oldestE != nil && (len(s.cache) >= s.opt.CacheEntries || s.cachePoints+pts > budget) {
			s.cachePoints -= oldestE.points
			delete(s.cache, oldest)
		}
	}
	s.cacheSeq++
	s.cachePoints += pts
	s.cache[key] = &cacheEntry{snap: snap, points: pts, expires: expires, seq: s.cacheSeq}
}

func (s *Service) fetch(ctx context.Context, p Period, vendors bool, central *corrections.State) (*Snapshot, error) {
	n := p.Buckets()
	snap := &Snapshot{Period: p, Expected: make([]int, n), Shops: make([]map[string]*rules.WorkshopStats, n),
		Fetched: s.opt.Now(), Applied: map[string]*Applied{}}
	gw, err := s.gatewayCorrections(ctx, p)
	if err != nil {
		return nil, err
	}
	ex, ids := s.exclusionsFor(append(append([]*corrections.Correction(nil), central.List...), gw...), p)
	snap.ex = ex
	for i := range n {
		from, to := p.Bucket(i)
		snap.Expected[i] = s.grid.count(from, to)
		snap.Shops[i] = map[string]*rules.WorkshopStats{}
	}
	q := backend.Query{Measurement: schema.WorkshopKPI, Window: s.opt.Window, GroupBy: schema.TagWorkshop, Fields: shopFields,
		Start: p.From, End: p.To, Step: p.Step}
	rows, before, err := s.aggregate(ctx, q, ex)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		snap.Shops[r.Bucket][r.Group] = statsFromRow(r.Values)
	}
	left := windowsLeftOut(before, rows, func(*backend.Row) bool { return true })
	for shop, list := range ids {
		snap.Applied[shop] = &Applied{IDs: list, WindowsLeftOut: left[shop]}
	}
	if err := s.resolveConflicts(ctx, p, snap); err != nil {
		return nil, err
	}
	if err := s.countSmart(ctx, p, snap); err != nil {
		return nil, err
	}
	if err := s.addObserved(ctx, p, snap); err != nil {
		return nil, err
	}
	if vendors {
		q := backend.Query{Measurement: schema.DeviceKPI, Window: s.opt.Window, GroupBy: schema.TagVendor, Fields: deviceFields,
			Start: p.From, End: p.To}
		rows, _, err := s.aggregate(ctx, q, ex)
		if err != nil {
			return nil, err
		}
		snap.Vendors = map[string]float64{}
		for _, r := range rows {
			sum := 0.0
			for _, v := range r.Values {
				if !math.IsNaN(v) {
					sum += v
				}
			}
			snap.Vendors[r.Group] = sum
		}
	}
	return snap, nil
}

// countSmart sets each workshop's SmartInService per bucket to the number of distinct
// devices tagged smart="1" that were online (running, idle, setup or alarm) in the
// bucket. Workshops without any smart-tagged device_kpi data in a bucket (gateways that
// do not tag smart equipment) keep their largest smart_equipment_in_service.
func (s *Service) countSmart(ctx context.Context, p Period, snap *Snapshot) error {
	q := backend.Query{Measurement: schema.DeviceKPI, Window: s.opt.Window, GroupBy: schema.TagWorkshop, SubGroup: schema.TagDevice,
		Filter: map[string]string{schema.TagSmart: schema.SmartTrue}, Fields: smartFields, Start: p.From, End: p.To, Step: p.Step}
	rows, _, err := s.aggregate(ctx, q, snap.ex)
	if err != nil {
		return err
	}
	type shopBucket struct {
		shop   string
		bucket int
	}
	counts := map[shopBucket]float64{}
	for _, r := range rows {
		k := shopBucket{r.Group, r.Bucket}
		online := 0.0
		for _, v := range r.Values[:len(deviceFields)] {
			if !math.IsNaN(v) {
				online += v
			}
		}
		n := counts[k] // a workshop with smart data but none online counts 0
		if online > 0 {
			n++
		}
		counts[k] = n
	}
	for k, n := range counts {
		if st := snap.Shops[k.bucket][k.shop]; st != nil {
			st.SmartInService = n
		}
	}
	return nil
}

func (s *Service) query(ctx context.Context, q backend.Query) ([]backend.Row, error) {
	start := time.Now()
	rows, err := s.be.Aggregate(ctx, q)
	s.m.queryDuration.WithLabelValues(s.be.Name(), q.Measurement).Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.queryErrors.WithLabelValues(s.be.Name(), q.Measurement).Inc()
		return nil, &BackendError{Err: err}
	}
	return rows, nil
}

// BackendError is a failed TSDB query; callers report it as a bad gateway.
type BackendError struct{ Err error }

func (e *BackendError) Error() string { return "query tsdb: " + e.Err.Error() }

func (e *BackendError) Unwrap() error { return e.Err }

// IsPeriodError reports whether err is a PeriodError or a TooManyPointsError.
func IsPeriodError(err error) bool {
	var pe *PeriodError
	var te *TooManyPointsError
	return errors.As(err, &pe) || errors.As(err, &te)
}

// Metrics are the service's metrics.
type Metrics struct {
	queryDuration *prometheus.HistogramVec
	queryErrors   *prometheus.CounterVec
	cacheHits     prometheus.Counter
	cacheMisses   prometheus.Counter
	reloads       *prometheus.CounterVec
	workshops     prometheus.Gauge
	wbPoints      prometheus.Counter
	wbErrors      prometheus.Counter
	wbLast        prometheus.Gauge
	unregistered  prometheus.Gauge
	consistency   *consistencyMetrics
	conflicts     *conflictMetrics
	corr          *corrMetrics
}

// NewMetrics registers the service metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ganlink_aggregator_backend_query_duration_seconds",
			Help:    "Duration of one aggregate query against the TSDB, by backend and measurement, including failures.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"backend", "measurement"}),
		queryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_aggregator_backend_query_errors_total",
			Help: "Aggregate queries that failed, by backend and measurement."}, []string{"backend", "measurement"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{Name: "ganlink_aggregator_cache_hits_total",
			Help: "Period snapshots served from the cache."}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{Name: "ganlink_aggregator_cache_misses_total",
			Help: "Period snapshots not in the cache (fetched or joined to a running fetch)."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_aggregator_registry_reloads_total",
			Help: "Registry reloads by result (ok, error)."}, []string{"result"}),
		workshops: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ganlink_aggregator_registry_workshops",
			Help: "Workshops in the current registry."}),
		wbPoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "ganlink_aggregator_writeback_points_total",
			Help: "region_kpi, programme_progress and workshop_info points written back to the TSDB."}),
		wbErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ganlink_aggregator_writeback_errors_total",
			Help: "Write-back rounds that failed."}),
		wbLast: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ganlink_aggregator_writeback_last_success_timestamp_seconds",
			Help: "Unix time of the last successful write-back round."}),
		unregistered: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ganlink_aggregator_unregistered_workshops",
			Help: "Workshop tag values with data in the last write-back period but no registry entry."}),
	}
	m.consistency = newConsistencyMetrics(reg)
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	m.conflicts = newConflictMetrics(reg)
	m.corr = newCorrMetrics(reg)
	reg.MustRegister(m.queryDuration, m.queryErrors, m.cacheHits, m.cacheMisses, m.reloads, m.workshops,
		m.wbPoints, m.wbErrors, m.wbLast, m.unregistered)
	return m
}

func (m *Metrics) reload(err error, r *registry.Registry) {
	if err != nil {
		m.reloads.WithLabelValues("error").Inc()
	} else {
		m.reloads.WithLabelValues("ok").Inc()
	}
	m.workshops.Set(float64(len(r.Workshops())))
}

// SetRegistry records the registry size (call after the first load).
func (m *Metrics) SetRegistry(r *registry.Registry) { m.workshops.Set(float64(len(r.Workshops()))) }
