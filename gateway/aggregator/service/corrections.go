package service

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/backend"
	"github.com/ganlink/ganlink/gateway/aggregator/corrections"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxGatewayCorrections bounds the kpi_correction points one read takes from the TSDB;
// more is an error (the request fails with a bad gateway and the log says why).
const MaxGatewayCorrections = 10000

// Reasons of ganlink_aggregator_corrections_ignored_total: kpi_correction points a
// gateway wrote that cannot be applied.
const (
	ignoredNoID      = "no_id"       // no correction tag
	ignoredNoShop    = "no_workshop" // no workshop tag
	ignoredBadSpan   = "bad_span"    // until missing, not after the start (invalid kind) or not finite
	ignoredBadKind   = "bad_kind"    // a correction_kind other than invalid or replacement
	ignoredNoActive  = "no_active"   // no active field
	ignoredDuplicate = "duplicate"   // a second point in force for an id already read
)

// Applied is what the corrections did to one workshop in a period.
type Applied struct {
	// IDs are the corrections in force that cover windows of the workshop in the
	// period, sorted.
	IDs []string
	// WindowsLeftOut is the number of KPI windows the workshop reported in the period
	// that the corrections left out (counted like WorkshopStats.Windows).
	WindowsLeftOut float64
}

// span is a half-open range [from, to) of window starts left out of a workshop.
type span struct{ from, to time.Time }

// exclusions are, per workshop, the merged, sorted spans of KPI windows left out.
type exclusions map[string][]span

// Corrections returns the corrections, central and gateway, whose span overlaps p,
// revoked ones included (for the listing); central ones in store order, then the
// gateway ones by time.
func (s *Service) Corrections(ctx context.Context, p Period) ([]*corrections.Correction, error) {
	central, _ := s.central()
	gw, err := s.gatewayCorrections(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []*corrections.Correction
	for _, c := range append(central.List, gw...) {
		if c.Overlaps(p.From, p.To) || (c.From.Equal(c.Until) && !c.From.Before(p.From) && c.From.Before(p.To)) {
			out = append(out, c)
		}
	}
	return out, nil
}

// CorrectionStore returns the central store (nil without one).
func (s *Service) CorrectionStore() *corrections.Store { return s.opt.Corrections }

// central returns the central store's content (re-read when the file changed) and
// its generation; on a read error the previous content stays, and the error is logged
// and counted once per generation of the file.
func (s *Service) central() (*corrections.State, uint64) {
	if s.opt.Corrections == nil {
		return &corrections.State{}, 0
	}
	st, gen, err := s.opt.Corrections.Current()
	s.m.corr.storeState(s.log, st, err)
	return st, gen
}

// gatewayCorrections reads the kpi_correction points of the span [p.From − MaxRange,
// max(p.To, now + 1d)) — a correction starts before the period it covers and a
// revocation may be stamped when it was made — and returns one correction per id,
// revoked when any point of the id has active 0.
func (s *Service) gatewayCorrections(ctx context.Context, p Period) ([]*corrections.Correction, error) {
	start := p.From.Add(-s.opt.MaxRange).Truncate(time.Second)
	end := s.opt.Now().Add(24 * time.Hour).Truncate(time.Second)
	if end.Before(p.To) {
		end = p.To
	}
	q := backend.PointsQuery{Measurement: schema.Correction, Fields: []string{schema.FieldUntil, schema.FieldActive},
		Start: start, End: end, Max: MaxGatewayCorrections}
	t0 := time.Now()
	pts, err := s.be.Points(ctx, q)
	s.m.queryDuration.WithLabelValues(s.be.Name(), q.Measurement).Observe(time.Since(t0).Seconds())
	if err != nil {
		s.m.queryErrors.WithLabelValues(s.be.Name(), q.Measurement).Inc()
		return nil, &BackendError{Err: err}
	}
	byID := map[string]*corrections.Correction{}
	var order []string
	revoked := map[string]time.Time{}
	revokedBy := map[string][2]string{}
	for _, pt := range pts {
		id, shop, kind := pt.Tags[schema.TagCorrection], pt.Tags[schema.TagWorkshop], pt.Tags[schema.TagCorrectionKind]
		until, active := pt.Values[0], pt.Values[1]
		ignore := func(reason string) { s.m.corr.ignore(s.log, reason, id, shop) }
		switch {
		case id == "":
			ignore(ignoredNoID)
			continue
		case math.IsNaN(active):
			ignore(ignoredNoActive)
			continue
		case active == 0:
			if t, ok := revoked[id]; !ok || pt.Time.Before(t) {
				revoked[id] = pt.Time
				revokedBy[id] = [2]string{pt.Tags[schema.TagBy], pt.Tags[schema.TagReason]}
			}
			continue
		case shop == "":
			ignore(ignoredNoShop)
			continue
		case kind != schema.CorrectionInvalid && kind != schema.CorrectionReplacement:
			ignore(ignoredBadKind)
			continue
		case math.IsNaN(until) || math.IsInf(until, 0) || math.Abs(until) > 1e11 ||
			(kind == schema.CorrectionInvalid && !(until > float64(pt.Time.Unix()))):
			ignore(ignoredBadSpan)
			continue
		case byID[id] != nil:
			ignore(ignoredDuplicate)
			continue
		}
		c := &corrections.Correction{ID: id, Kind: kind, Source: corrections.SourceGateway, Workshop: shop,
			Device: pt.Tags[schema.TagDevice], From: pt.Time, Until: time.Unix(int64(until), 0),
			By: pt.Tags[schema.TagBy], Reason: pt.Tags[schema.TagReason], Instance: pt.Tags[schema.TagInstance]}
		byID[id] = c
		order = append(order, id)
	}
	out := make([]*corrections.Correction, 0, len(order))
	for _, id := range order {
		c := byID[id]
		if t, ok := revoked[id]; ok {
			c.Revoked, c.RevokedAt, c.RevokedBy, c.RevokedReason = true, t, revokedBy[id][0], revokedBy[id][1]
		}
		out = append(out, c)
	}
	s.m.corr.setGateway(out)
	return out, nil
}

// exclusionsFor returns the windows the corrections in force leave out of p, per
// workshop, and the ids of the corrections that cover windows of each workshop. The
// rule: a correction of kind invalid, central or gateway, whole-workshop or of one
// device, leaves out every KPI window [t, t+w) of its workshop that shares an instant
// with its span [from, until) (docs/aggregator.md "Corrections").
func (s *Service) exclusionsFor(list []*corrections.Correction, p Period) (exclusions, map[string][]string) {
	ex := exclusions{}
	ids := map[string][]string{}
	for _, c := range list {
		if !c.InForce() || c.Kind != schema.CorrectionInvalid || !c.Overlaps(p.From, p.To) {
			continue
		}
		from := s.grid.floor(c.From)
		if from.Before(p.From) {
			from = p.From
		}
		to := s.grid.floor(c.Until)
		if to.Before(c.Until) {
			to = s.grid.next(to)
		}
		if to.After(p.To) {
			to = p.To
		}
		if !from.Before(to) {
			continue
		}
		ex[c.Workshop] = append(ex[c.Workshop], span{from, to})
		ids[c.Workshop] = append(ids[c.Workshop], c.ID)
	}
	for shop, spans := range ex {
		slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
		merged := spans[:1]
		for _, sp := range spans[1:] {
			last := &merged[len(merged)-1]
			if !sp.from.After(last.to) {
				if sp.to.After(last.to) {
					last.to = sp.to
				}
				continue
			}
			merged = append(merged, sp)
		}
		ex[shop] = merged
		slices.Sort(ids[shop])
		ids[shop] = slices.Compact(ids[shop])
	}
	return ex, ids
}

// cut returns the parts of [from, to) that spans leave out and those they keep.
func cut(spans []span, from, to time.Time) (out, kept []span) {
	at := from
	for _, sp := range spans {
		lo, hi := sp.from, sp.to
		if lo.Before(from) {
			lo = from
		}
		if hi.After(to) {
			hi = to
		}
		if !lo.Before(hi) {
			continue
		}
		if at.Before(lo) {
			kept = append(kept, span{at, lo})
		}
		out = append(out, span{lo, hi})
		at = hi
	}
	if at.Before(to) {
		kept = append(kept, span{at, to})
	}
	return out, kept
}

type rowKey struct {
	group, sub string
	bucket     int
}

// aggregate runs q with the windows in ex left out. For a query grouped by or
// filtered on one workshop, every bucket of an excluded workshop that the exclusions
// cut is read again over the parts they keep (one query per part, with the workshop as
// a filter) and the parts combined by each field's function; buckets they cover whole
// are dropped. Other queries (grouped by vendor) must have only Sum and Count fields:
// the excluded parts are read per workshop and subtracted. It also returns the rows as
// read before.
func (s *Service) aggregate(ctx context.Context, q backend.Query, ex exclusions) (rows, before []backend.Row, err error) {
	before, err = s.query(ctx, q)
	if err != nil || len(ex) == 0 {
		return before, before, err
	}
	filtered := q.Filter[schema.TagWorkshop]
	replace := filtered != "" || q.GroupBy == schema.TagWorkshop
	if !replace {
		for _, f := range q.Fields {
			if f.Func != backend.Sum && f.Func != backend.Count {
				return nil, nil, errors.New("aggregate: exclusions of a query that is not by workshop need sums")
			}
		}
	}
	m := make(map[rowKey]*backend.Row, len(before))
	for i := range before {
		r := before[i]
		r.Values = slices.Clone(r.Values)
		m[rowKey{r.Group, r.Sub, r.Bucket}] = &r
	}
	shops := make([]string, 0, len(ex))
	for shop := range ex {
		if filtered == "" || filtered == shop {
			shops = append(shops, shop)
		}
	}
	slices.Sort(shops)
	sub := q
	sub.Step = 0
	sub.Filter = make(map[string]string, len(q.Filter)+1)
	for k, v := range q.Filter {
		sub.Filter[k] = v
	}
	for _, shop := range shops {
		sub.Filter[schema.TagWorkshop] = shop
		for b := range q.Buckets() {
			from := q.BucketStart(b)
			to := q.End
			if q.Step != 0 {
				to = from.Add(q.Step)
			}
			out, kept := cut(ex[shop], from, to)
			if len(out) == 0 {
				continue
			}
			if !replace {
				for _, part := range out {
					sub.Start, sub.End = part.from, part.to
					rs, err := s.query(ctx, sub)
					if err != nil {
						return nil, nil, err
					}
					for _, r := range rs {
						if old := m[rowKey{r.Group, r.Sub, b}]; old != nil {
							for i, v := range r.Values {
								if !math.IsNaN(v) && !math.IsNaN(old.Values[i]) {
									old.Values[i] -= v
								}
							}
						}
					}
				}
				continue
			}
			for k := range m {
				if k.bucket == b && (filtered != "" || k.group == shop) {
					delete(m, k)
				}
			}
			for _, part := range kept {
				sub.Start, sub.End = part.from, part.to
				rs, err := s.query(ctx, sub)
				if err != nil {
					return nil, nil, err
				}
				for _, r := range rs {
					k := rowKey{r.Group, r.Sub, b}
					old := m[k]
					if old == nil {
						r.Bucket = b
						m[k] = &r
						continue
					}
					for i, v := range r.Values {
						if math.IsNaN(v) {
							continue
						}
						switch o := old.Values[i]; {
						case math.IsNaN(o):
							old.Values[i] = v
						case q.Fields[i].Func == backend.Sum || q.Fields[i].Func == backend.Count:
							old.Values[i] = o + v
						case q.Fields[i].Func == backend.Max:
							old.Values[i] = math.Max(o, v)
						default: // Last: the later part's value
							old.Values[i] = v
						}
					}
				}
			}
		}
	}
	rows = make([]backend.Row, 0, len(m))
	for _, r := range m {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b backend.Row) int {
		if a.Group != b.Group {
			return compareStr(a.Group, b.Group)
		}
		if a.Sub != b.Sub {
			return compareStr(a.Sub, b.Sub)
		}
		return a.Bucket - b.Bucket
	})
	return rows, before, nil
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// windowsLeftOut sums, per group (sub-group sub only, when not empty), the difference
// of the first value (a window count) between the rows before and after the exclusions.
func windowsLeftOut(before, after []backend.Row, keep func(r *backend.Row) bool) map[string]float64 {
	out := map[string]float64{}
	add := func(rows []backend.Row, sign float64) {
		for i := range rows {
			r := &rows[i]
			if keep(r) && !math.IsNaN(r.Values[0]) {
				out[r.Group] += sign * r.Values[0]
			}
		}
	}
	add(before, 1)
	add(after, -1)
	return out
}

// corrMetrics are the corrections' metrics and log state.
type corrMetrics struct {
	inForce *prometheus.GaugeVec
	ignored *prometheus.CounterVec
	errors  prometheus.Counter

	mu       sync.Mutex
	lastErr  string
	lastWarn string
	logged   map[string]bool // ignored points logged: reason and id
}

func newCorrMetrics(reg prometheus.Registerer) *corrMetrics {
	m := &corrMetrics{
		inForce: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ganlink_aggregator_corrections_in_force",
			Help: "Corrections in force by source (central: the aggregator's store; gateway: kpi_correction points in the TSDB, as of the last read) and kind."},
			[]string{"source", "kind"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ganlink_aggregator_corrections_ignored_total",
			Help: "kpi_correction points read from the TSDB that cannot be applied, by reason (counted at every read)."},
			[]string{"reason"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ganlink_aggregator_corrections_store_errors_total",
			Help: "Reads of the central corrections store that failed (the previous content stays in force)."}),
		logged: map[string]bool{},
	}
	for _, src := range []string{corrections.SourceCentral, corrections.SourceGateway} {
		for _, k := range []string{schema.CorrectionInvalid, schema.CorrectionReplacement} {
			m.inForce.WithLabelValues(src, k)
		}
	}
	for _, r := range []string{ignoredNoID, ignoredNoShop, ignoredBadSpan, ignoredBadKind, ignoredNoActive, ignoredDuplicate} {
		m.ignored.WithLabelValues(r)
	}
	reg.MustRegister(m.inForce, m.ignored, m.errors)
	return m
}

func (m *corrMetrics) storeState(log *slog.Logger, st *corrections.State, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if err.Error() != m.lastErr {
			m.lastErr = err.Error()
			m.errors.Inc()
			log.Error("read corrections store: the corrections read before stay in force", "err", err)
		}
	} else {
		m.lastErr = ""
	}
	if st.Warning != "" && st.Warning != m.lastWarn {
		log.Warn(st.Warning)
	}
	m.lastWarn = st.Warning
	n := 0
	for _, c := range st.List {
		if c.InForce() {
			n++
		}
	}
	m.inForce.WithLabelValues(corrections.SourceCentral, schema.CorrectionInvalid).Set(float64(n))
}

func (m *corrMetrics) setGateway(list []*corrections.Correction) {
	n := map[string]int{}
	for _, c := range list {
		if c.InForce() {
			n[c.Kind]++
		}
	}
	for _, k := range []string{schema.CorrectionInvalid, schema.CorrectionReplacement} {
		m.inForce.WithLabelValues(corrections.SourceGateway, k).Set(float64(n[k]))
	}
}

// ignore counts an ignored kpi_correction point and logs it once per reason and id.
func (m *corrMetrics) ignore(log *slog.Logger, reason, id, shop string) {
	m.ignored.WithLabelValues(reason).Inc()
	key := reason + "\x00" + id
	m.mu.Lock()
	seen := m.logged[key]
	if !seen {
		if len(m.logged) >= 1000 {
			clear(m.logged)
		}
		m.logged[key] = true
	}
	m.mu.Unlock()
	if !seen {
		log.Warn("kpi_correction point ignored", "reason", reason, "correction", corrections.Clip(id), "workshop", corrections.Clip(shop))
	}
}
