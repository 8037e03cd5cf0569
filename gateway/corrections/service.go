package corrections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/kpi"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/prometheus/client_golang/prometheus"
)

// Engine is the KPI engine's side of the corrections (kpi.Engine).
type Engine interface {
	Inventory
	Replace(id, device, signal string, at time.Time) (kpi.ReplaceEffect, error)
	Revoke(id string) bool
}

// ServiceConfig builds a Service.
type ServiceConfig struct {
	// Path is the store's file (FileName in the data directory).
	Path string
	// Engine applies replacements and answers which devices and counters exist.
	Engine Engine
	// Emit queues kpi_correction points (the pipeline's Appender).
	Emit point.EmitFunc
	// WorkshopTags are the workshop identity tags; Instance the gateway instance id.
	WorkshopTags []point.Tag
	Instance     string
	Clock        func() time.Time
	Log          *slog.Logger
	Registerer   prometheus.Registerer
}

// Result is a recorded or revoked correction and what it did.
type Result struct {
	Correction Correction `json:"correction"`
	// Effect is, for a replacement, what the counter model does with it
	// (kpi.ReplaceEffect: pending, next_reading, past; revoked_pending or
	// revoked_applied for a revocation); "" for an invalid span.
	Effect string `json:"effect,omitempty"`
	// Queued reports whether the kpi_correction point is in the sink queues; when not,
	// it is written at the next start.
	Queued bool `json:"queued"`
}

// Service records corrections in the store, applies replacements to the KPI engine and
// queues their kpi_correction points. It is safe for concurrent use; its methods answer
// ErrNotOpen until Open.
type Service struct {
	cfg ServiceConfig
	m   *metrics

	mu    sync.Mutex // serialises record, apply and queue
	store *Store
}

// ErrNotOpen: the store is not open (before the gateway runs, or after it stopped).
var ErrNotOpen = errors.New("the correction store is not open (the gateway is starting or stopping)")

type metrics struct {
	recorded, revoked, refused *prometheus.CounterVec
}

// NewService builds the service and registers its metrics; it opens nothing.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	m := &metrics{
		recorded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_corrections_recorded_total",
			Help: "Corrections recorded on this gateway (API and command), by kind (invalid, replacement)."}, []string{"kind"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_corrections_revoked_total",
			Help: "Corrections revoked on this gateway, by kind (invalid, replacement)."}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_corrections_refused_total",
			Help: "Correction requests of the admin API refused, by reason (docs/corrections.md)."}, []string{"reason"}),
	}
	for _, k := range Kinds {
		m.recorded.WithLabelValues(k)
		m.revoked.WithLabelValues(k)
	}
	for _, r := range Reasons {
		m.refused.WithLabelValues(r)
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(m.recorded, m.revoked, m.refused)
	}
	return &Service{cfg: cfg, m: m}
}

// Open opens the store, hands every replacement to the engine (it ignores the ones it
// knows from its state file) and queues the points not written yet. Call it after the
// engine's state is loaded. A store locked by a `gateway correct` command writing it is
// retried for up to 5 s.
func (s *Service) Open(ctx context.Context) error {
	var (
		st    *Store
		probs []string
		err   error
	)
	for range 50 {
		st, probs, err = Open(s.cfg.Path, s.cfg.Engine, s.cfg.Clock)
		if !errors.Is(err, ErrLocked) {
			break
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err != nil {
		return err
	}
	for _, p := range probs {
		s.cfg.Log.Warn("correction store: "+p, "file", s.cfg.Path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store = st
	inForce := 0
	for _, c := range st.List() {
		if c.Kind == schema.CorrectionReplacement {
			if c.Active() {
				eff, err := s.cfg.Engine.Replace(c.ID, c.Device, c.Signal, c.From)
				if err != nil {
					s.cfg.Log.Warn("correction not applied: the configuration no longer has its counter", "id", c.ID,
						"device", c.Device, "signal", c.Signal, "err", err)
				} else if eff != kpi.ReplaceKnown {
					s.cfg.Log.Info("counter replacement applied from the correction store", "id", c.ID, "device", c.Device,
						"signal", c.Signal, "at", stamp(c.From), "effect", eff.String())
				}
			} else {
				s.cfg.Engine.Revoke(c.ID)
			}
		}
		if c.Active() {
			inForce++
		}
	}
	s.cfg.Log.Info("correction store open", "file", s.cfg.Path, "in_force", inForce, "problems", len(probs))
	for _, u := range st.Unwritten() {
		if err := s.queue(ctx, u); err != nil {
			s.cfg.Log.Warn("correction point not queued; it is written at the next start", "id", u.Correction.ID, "err", err)
			break
		}
	}
	return nil
}

// Close closes the store.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store == nil {
		return nil
	}
	err := s.store.Close()
	s.store = nil
	return err
}

// queue writes u's point to the sink queues and marks it written; s.mu is held.
func (s *Service) queue(ctx context.Context, u Unwritten) error {
	p := Point(u.Correction, u.Revoke, s.cfg.WorkshopTags, s.cfg.Instance)
	if err := s.cfg.Emit(ctx, point.Batch{p}); err != nil {
		return err
	}
	return s.store.MarkWritten(u)
}

// Add records req (by names who records it), applies a replacement to the counter
// model and queues the correction's point. A refusal is an *Error.
func (s *Service) Add(ctx context.Context, req Request) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store == nil {
		return Result{}, ErrNotOpen
	}
	c, err := s.store.Add(req)
	if err != nil {
		return Result{}, s.refused(err)
	}
	s.m.recorded.WithLabelValues(c.Kind).Inc()
	res := Result{Correction: c}
	if c.Kind == schema.CorrectionReplacement {
		eff, err := s.cfg.Engine.Replace(c.ID, c.Device, c.Signal, c.From)
		if err != nil {
			// Checked by Add against the same engine: only a full engine gets here.
			s.cfg.Log.Error("recorded replacement not applied to the counter model", "id", c.ID, "err", err)
		}
		res.Effect = eff.String()
	}
	s.cfg.Log.Info("correction recorded", "id", c.ID, "kind", c.Kind, "device", c.Device, "signal", c.Signal,
		"from", stamp(c.From), "until", stamp(c.Until), "by", c.By, "reason", c.Reason, "effect", res.Effect)
	res.Queued = s.queueNow(ctx, Unwritten{Correction: c})
	return res, nil
}

// Revoke withdraws the correction id: its revocation point is queued, and a pending
// replacement is withdrawn from the counter model (one already applied stays booked).
func (s *Service) Revoke(ctx context.Context, id, by, reason string) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store == nil {
		return Result{}, ErrNotOpen
	}
	c, err := s.store.Revoke(id, by, reason)
	if err != nil {
		return Result{}, s.refused(err)
	}
	c, _ = s.store.Get(id)
	s.m.revoked.WithLabelValues(c.Kind).Inc()
	res := Result{Correction: c}
	if c.Kind == schema.CorrectionReplacement {
		res.Effect = "revoked_applied"
		if s.cfg.Engine.Revoke(id) {
			res.Effect = "revoked_pending"
		}
	}
	s.cfg.Log.Info("correction revoked", "id", id, "kind", c.Kind, "by", by, "reason", reason, "effect", res.Effect)
	res.Queued = s.queueNow(ctx, Unwritten{Correction: c, Revoke: true})
	return res, nil
}

func (s *Service) queueNow(ctx context.Context, u Unwritten) bool {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.queue(qctx, u); err != nil {
		s.cfg.Log.Warn("correction point not queued yet; it is written at the next start", "id", u.Correction.ID, "err", err)
		return false
	}
	return true
}

// refused counts a refusal by its reason.
func (s *Service) refused(err error) error {
	var e *Error
	if errors.As(err, &e) {
		s.m.refused.WithLabelValues(e.Reason).Inc()
	}
	return err
}

// Refused counts a request refused before it reached the store (reason one of Reasons).
func (s *Service) Refused(reason string) {
	if !slices.Contains(Reasons, reason) {
		reason = ReasonBadRequest
	}
	s.m.refused.WithLabelValues(reason).Inc()
}

// List returns every correction (revoked ones included), in the order recorded; nil
// before Open.
func (s *Service) List() []Correction {
	s.mu.Lock()
	st := s.store
	s.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.List()
}

// InForce returns the corrections not revoked.
func (s *Service) InForce() []Correction {
	all := s.List()
	out := all[:0]
	for _, c := range all {
		if c.Active() {
			out = append(out, c)
		}
	}
	return out
}

// Point returns the kpi_correction point of c (revoke: of its revocation): timestamp
// the start of the span, FieldUntil its end in Unix seconds, FieldActive 1 (0 for the
// revocation), tagged with the workshop identity, the device (absent for the whole
// workshop), the id, the kind, who and why (the revoker's for a revocation) and the
// gateway instance.
func Point(c Correction, revoke bool, shop []point.Tag, instance string) point.Point {
	by, reason, active := c.By, c.Reason, 1.0
	if revoke && c.Revoked != nil {
		by, reason, active = c.Revoked.By, c.Revoked.Reason, 0
	}
	tags := append([]point.Tag(nil), shop...)
	tags = append(tags, point.Tag{Key: schema.TagCorrection, Value: c.ID},
		point.Tag{Key: schema.TagCorrectionKind, Value: c.Kind},
		point.Tag{Key: schema.TagBy, Value: by}, point.Tag{Key: schema.TagReason, Value: reason})
	if c.Device != "" {
		tags = append(tags, point.Tag{Key: schema.TagDevice, Value: c.Device})
	}
	if instance != "" {
		tags = append(tags, point.Tag{Key: schema.TagInstance, Value: instance})
	}
	slices.SortFunc(tags, func(a, b point.Tag) int { return strings.Compare(a.Key, b.Key) })
	return point.Point{Measurement: schema.Correction, Device: c.Device, Tags: tags,
		Fields: []point.Field{{Key: schema.FieldUntil, Value: float64(c.Until.Unix())},
			{Key: schema.FieldActive, Value: active}},
		Time: c.From.UnixNano()}
}

// ParseTime reads a time given on the command line: RFC 3339, or a local time in loc
// ("2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", or a date alone
// for its midnight), the form other commands print.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateTime, "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2006-01-02T15:04:05+08:00) or a local time in %s (2006-01-02 15:04:05)",
		point.Truncate(s, 64), loc)
}
