package service

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ganlink/ganlink/gateway/aggregator/backend"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
	"github.com/prometheus/client_golang/prometheus"
)

// placementTags are the telemetry tags compared with the registry, in order.
var placementTags = []string{schema.TagRegion, schema.TagPark, schema.TagEnterprise}

// TelemetryWorkshop is a workshop tag value with workshop_kpi data in a period, with
// the placement tag values its points carried (sorted; empty when none).
type TelemetryWorkshop struct {
	ID                       string
	Region, Park, Enterprise []string
}

// Mismatch is a registered workshop whose telemetry tag Tag (region, park or
// enterprise) disagrees with the registry: Registry is the registry's value (empty:
// none), Telemetry the values its workshop_kpi points carried in the period (sorted;
// empty: the tag was absent).
type Mismatch struct {
	Workshop  string
	Tag       string
	Registry  string
	Telemetry []string
}

// Consistency compares the registry with the telemetry of a period.
type Consistency struct {
	// Unregistered are the telemetry workshops without a registry entry, sorted by id.
	Unregistered []TelemetryWorkshop
	// Mismatches are sorted by workshop, then by tag in the order region, park,
	// enterprise.
	Mismatches []Mismatch
}

// Consistency reads the placement tags of every workshop with workshop_kpi data in p
// (one bucket) and compares them with the registry r.
func (s *Service) Consistency(ctx context.Context, p Period, r *registry.Registry) (*Consistency, error) {
	p.Step = 0
	if err := s.CheckPeriod(p); err != nil {
		return nil, err
	}
	count := []backend.Field{{Name: schema.FieldEquipmentTotal, Func: backend.Count}}
	seen := map[string]*TelemetryWorkshop{}
	// Every workshop with data, also those whose points lack a placement tag.
	rows, err := s.query(ctx, backend.Query{Measurement: schema.WorkshopKPI, Window: s.opt.Window, GroupBy: schema.TagWorkshop,
		Fields: count, Start: p.From, End: p.To})
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		seen[row.Group] = &TelemetryWorkshop{ID: row.Group}
	}
	for _, tag := range placementTags {
		rows, err := s.query(ctx, backend.Query{Measurement: schema.WorkshopKPI, Window: s.opt.Window, GroupBy: schema.TagWorkshop,
			SubGroup: tag, Fields: count, Start: p.From, End: p.To})
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			tw := seen[row.Group]
			if tw == nil { // written between the two queries
				tw = &TelemetryWorkshop{ID: row.Group}
				seen[row.Group] = tw
			}
			*tw.values(tag) = append(*tw.values(tag), row.Sub)
		}
	}
	c := &Consistency{}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		tw := seen[id]
		for _, tag := range placementTags {
			sort.Strings(*tw.values(tag))
			if *tw.values(tag) == nil {
				*tw.values(tag) = []string{}
			}
		}
		w := r.Workshop(id)
		if w == nil {
			c.Unregistered = append(c.Unregistered, *tw)
			continue
		}
		for _, tag := range placementTags {
			want, got := placementOf(w, tag), *tw.values(tag)
			if len(got) == 1 && got[0] == want || len(got) == 0 && want == "" {
				continue
			}
			c.Mismatches = append(c.Mismatches, Mismatch{Workshop: id, Tag: tag, Registry: want, Telemetry: got})
		}
	}
	return c, nil
}

func (tw *TelemetryWorkshop) values(tag string) *[]string {
	switch tag {
	case schema.TagRegion:
		return &tw.Region
	case schema.TagPark:
		return &tw.Park
	}
	return &tw.Enterprise
}

// placementOf returns the registry's value of a placement tag of w.
func placementOf(w *registry.Workshop, tag string) string {
	switch tag {
	case schema.TagRegion:
		return w.Region
	case schema.TagPark:
		return w.Park
	}
	return w.Enterprise
}

// String is "workshop tag registry→telemetry" for logs.
func (m Mismatch) String() string {
	return fmt.Sprintf("%s %s %q→%q", m.Workshop, m.Tag, m.Registry, strings.Join(m.Telemetry, ","))
}

// InfoPoints returns one workshop_info point per registered workshop stamped ts: the
// registry's placement and names, and the enterprise's industry class when it has one,
// as tags, field registered = 1.
func InfoPoints(r *registry.Registry, ts int64) point.Batch {
	var b point.Batch
	for _, w := range r.Workshops() {
		tags := []point.Tag{{Key: schema.TagWorkshop, Value: w.ID}, {Key: schema.TagName, Value: w.Name},
			{Key: schema.TagEnterprise, Value: w.Enterprise}, {Key: schema.TagRegion, Value: w.Region}}
		if e := r.Enterprise(w.Enterprise); e != nil {
			tags = append(tags, point.Tag{Key: schema.TagEnterpriseName, Value: e.Name})
			if e.Industry != "" {
				tags = append(tags, point.Tag{Key: schema.TagIndustry, Value: e.Industry})
			}
		}
		if reg := r.Region(w.Region); reg != nil {
			tags = append(tags, point.Tag{Key: schema.TagRegionName, Value: reg.Name})
		}
		if p := r.Park(w.Park); p != nil {
			tags = append(tags, point.Tag{Key: schema.TagPark, Value: p.ID}, point.Tag{Key: schema.TagParkName, Value: p.Name})
		}
		sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
		b = append(b, point.Point{Measurement: schema.WorkshopInfo, Tags: tags,
			Fields: []point.Field{{Key: schema.FieldRegistered, Value: 1}}, Time: ts})
	}
	return b
}

// consistencyMetrics count the disagreements found by the last write-back round.
type consistencyMetrics struct {
	mismatches *prometheus.GaugeVec
}

func newConsistencyMetrics(reg prometheus.Registerer) *consistencyMetrics {
	m := &consistencyMetrics{mismatches: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ganlink_aggregator_placement_mismatches",
		Help: "Registered workshops whose telemetry tag (region, park, enterprise) disagreed with the registry in the last write-back period."},
		[]string{"tag"})}
	for _, t := range placementTags {
		m.mismatches.WithLabelValues(t)
	}
	reg.MustRegister(m.mismatches)
	return m
}

// maxLogged bounds the workshops one log line names.
const maxLogged = 20

// checkConsistency compares the registry with the telemetry of p, sets the metrics
// and logs what disagrees (one line per kind and round, naming at most maxLogged
// workshops).
func (s *Service) checkConsistency(ctx context.Context, p Period, r *registry.Registry) error {
	c, err := s.Consistency(ctx, p, r)
	if err != nil {
		return err
	}
	s.m.unregistered.Set(float64(len(c.Unregistered)))
	byTag := map[string]float64{}
	for _, m := range c.Mismatches {
		byTag[m.Tag]++
	}
	for _, t := range placementTags {
		s.m.consistency.mismatches.WithLabelValues(t).Set(byTag[t])
	}
	if n := len(c.Unregistered); n > 0 {
		ids := make([]string, 0, min(n, maxLogged))
		for _, u := range c.Unregistered[:min(n, maxLogged)] {
			ids = append(ids, u.ID)
		}
		s.log.Warn("telemetry workshops not in the registry: their data is in no figure", "count", n, "workshops", strings.Join(ids, " "),
			"from", p.From, "to", p.To)
	}
	if n := len(c.Mismatches); n > 0 {
		ms := make([]string, 0, min(n, maxLogged))
		for _, m := range c.Mismatches[:min(n, maxLogged)] {
			ms = append(ms, m.String())
		}
		s.log.Warn("workshops placed differently by their telemetry tags and the registry (registry→telemetry)", "count", n,
			"mismatches", strings.Join(ms, "; "), "from", p.From, "to", p.To)
	}
	return nil
}
