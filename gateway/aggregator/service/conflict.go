package service

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/backend"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/prometheus/client_golang/prometheus"
)

// Conflict is a workshop whose workshop_kpi points of one KPI window come from more
// than one gateway instance (tag schema.TagInstance) in a period: the same workshop
// identity configured on two gateways, or one gateway's data directory copied. The
// rule: only the counted instance's points make the workshop's figures for the whole
// period, the others are ignored; the counted instance is the one with the most KPI
// windows in the period (its coverage), on a tie the smallest instance id. Nothing is
// summed across instances. Instances that wrote one after another, never in the same
// window (a gateway whose data directory was lost or replaced), are no conflict: their
// windows are disjoint and are summed as one workshop's.
type Conflict struct {
	// Instances are sorted by windows (most first), then id; Instances[0] is counted.
	Instances []InstanceWindows
	// Since is the start of the first window of the period in which two instances both
	// wrote a point; zero when not determined (more than maxSinceQueries workshops with
	// several instances in one period: those beyond are taken as conflicts).
	Since time.Time
}

// Counted returns the instance whose figures count.
func (c *Conflict) Counted() string { return c.Instances[0].ID }

// IDs returns the instance ids, counted first.
func (c *Conflict) IDs() []string {
	ids := make([]string, len(c.Instances))
	for i, in := range c.Instances {
		ids[i] = in.ID
	}
	return ids
}

// InstanceWindows is one instance of a conflict and its KPI windows in the period.
type InstanceWindows struct {
	ID      string
	Windows float64
}

// maxSinceQueries bounds the per-workshop queries one fetch runs to tell a conflict
// (two instances in one window) from a succession; workshops with several instances
// beyond it are taken as conflicts without Since.
const maxSinceQueries = 64

// resolveConflicts finds the workshops written by more than one instance in one window
// of p and replaces their statistics in snap by those of the counted instance alone
// (see Conflict). Points without an instance tag (gateways older than the tag) are not
// seen here and keep being summed by workshop.
func (s *Service) resolveConflicts(ctx context.Context, p Period, snap *Snapshot) error {
	// The windows of each workshop and instance over the whole period: one query.
	q := backend.Query{Measurement: schema.WorkshopKPI, Window: s.opt.Window, GroupBy: schema.TagWorkshop,
		SubGroup: schema.TagInstance, Fields: []backend.Field{{Name: schema.FieldEquipmentTotal, Func: backend.Count}},
		Start: p.From, End: p.To}
	rows, _, err := s.aggregate(ctx, q, snap.ex)
	if err != nil {
		return err
	}
	windows := map[string]map[string]float64{} // workshop → instance → windows
	for _, r := range rows {
		if windows[r.Group] == nil {
			windows[r.Group] = map[string]float64{}
		}
		if w := r.Values[0]; !math.IsNaN(w) {
			windows[r.Group][r.Sub] += w
		}
	}
	var shops []string // workshops with several instances
	for shop, ins := range windows {
		if len(ins) > 1 {
			shops = append(shops, shop)
		}
	}
	slices.Sort(shops)
	snap.Conflicts = map[string]*Conflict{}
	for i, shop := range shops {
		var since time.Time
		if i < maxSinceQueries {
			if since, err = s.conflictSince(ctx, p, shop, snap.ex); err != nil {
				return err
			}
			if since.IsZero() {
				continue // one instance after the other: no window twice
			}
		}
		c := &Conflict{Since: since}
		for id, w := range windows[shop] {
			c.Instances = append(c.Instances, InstanceWindows{ID: id, Windows: w})
		}
		slices.SortFunc(c.Instances, func(a, b InstanceWindows) int {
			if a.Windows != b.Windows {
				if a.Windows > b.Windows {
					return -1
				}
				return 1
			}
			return strings.Compare(a.ID, b.ID)
		})
		snap.Conflicts[shop] = c
		s.m.conflicts.log(s.log, shop, c, p)
	}
	if len(snap.Conflicts) == 0 {
		return nil
	}
	// Only with conflicts: every field per workshop, instance and bucket, and the
	// counted instance's statistics replace the workshop's.
	q.Fields, q.Step = shopFields, p.Step
	var before []backend.Row
	if rows, before, err = s.aggregate(ctx, q, snap.ex); err != nil {
		return err
	}
	left := windowsLeftOut(before, rows, func(r *backend.Row) bool {
		c := snap.Conflicts[r.Group]
		return c != nil && r.Sub == c.Counted()
	})
	for shop := range snap.Conflicts {
		if a := snap.Applied[shop]; a != nil {
			a.WindowsLeftOut = left[shop]
		}
	}
	for shop := range snap.Conflicts {
		for _, m := range snap.Shops {
			delete(m, shop)
		}
	}
	for _, r := range rows {
		if c := snap.Conflicts[r.Group]; c != nil && r.Sub == c.Counted() {
			snap.Shops[r.Bucket][r.Group] = statsFromRow(r.Values)
		}
	}
	return nil
}

// conflictSince returns the start of the first KPI window of p in which two instances
// wrote a workshop_kpi point of the workshop, zero when none.
func (s *Service) conflictSince(ctx context.Context, p Period, shop string, ex exclusions) (time.Time, error) {
	q := backend.Query{Measurement: schema.WorkshopKPI, Window: s.opt.Window, GroupBy: schema.TagInstance,
		Filter: map[string]string{schema.TagWorkshop: shop},
		Fields: []backend.Field{{Name: schema.FieldEquipmentTotal, Func: backend.Count}},
		Start:  p.From, End: p.To, Step: s.opt.WindowSize}
	if q.Buckets() == 1 {
		q.Step = 0
	}
	rows, _, err := s.aggregate(ctx, q, ex)
	if err != nil {
		return time.Time{}, err
	}
	per := map[int]int{}
	first := -1
	for _, r := range rows {
		if r.Values[0] > 0 {
			per[r.Bucket]++
			if per[r.Bucket] == 2 && (first < 0 || r.Bucket < first) {
				first = r.Bucket
			}
		}
	}
	if first < 0 {
		return time.Time{}, nil
	}
	return q.BucketStart(first), nil
}

// conflictMetrics are the metrics and the log state of conflicts.
type conflictMetrics struct {
	workshops *prometheus.GaugeVec
	count     prometheus.Gauge

	mu     sync.Mutex
	logged map[string]string // workshop → instances last logged
}

func newConflictMetrics(reg prometheus.Registerer) *conflictMetrics {
	m := &conflictMetrics{
		count: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ganlink_aggregator_workshop_conflicts",
			Help: "Registered workshops written by more than one gateway instance in the last write-back period (docs/aggregator.md, Conflicts)."}),
		workshops: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ganlink_aggregator_workshop_conflict_instances",
			Help: "Gateway instances that wrote the registered workshop in the last write-back period, for the workshops in conflict."},
			[]string{"workshop"}),
		logged: map[string]string{},
	}
	reg.MustRegister(m.count, m.workshops)
	return m
}

// log logs a conflict once for each set of instances.
func (m *conflictMetrics) log(log *slog.Logger, shop string, c *Conflict, p Period) {
	key := strings.Join(c.IDs(), ",")
	m.mu.Lock()
	seen := m.logged[shop] == key
	if !seen {
		if len(m.logged) >= 10000 {
			clear(m.logged)
		}
		m.logged[shop] = key
	}
	m.mu.Unlock()
	if seen {
		return
	}
	args := []any{"workshop", shop, "instances", key, "counted", c.Counted(),
		"from", p.From.Format(time.RFC3339), "to", p.To.Format(time.RFC3339)}
	if !c.Since.IsZero() {
		args = append(args, "since", c.Since.Format(time.RFC3339))
	}
	log.Error("workshop written by more than one gateway instance: only the counted instance's figures are used", args...)
}

// set records the conflicts of the write-back period among the registered workshops.
func (m *conflictMetrics) set(reg *registry.Registry, conflicts map[string]*Conflict) {
	m.workshops.Reset()
	n := 0
	for shop, c := range conflicts {
		if reg.Workshop(shop) == nil {
			continue
		}
		n++
		m.workshops.WithLabelValues(shop).Set(float64(len(c.Instances)))
	}
	m.count.Set(float64(n))
}
