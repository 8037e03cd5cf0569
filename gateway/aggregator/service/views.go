package service

import (
	"context"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
)

// Programme evaluates the programme over p (one bucket) with the current registry.
func (s *Service) Programme(ctx context.Context, p Period) (*rules.Evaluation, *registry.Registry, error) {
	ev, reg, _, err := s.programme(ctx, p)
	return ev, reg, err
}

func (s *Service) programme(ctx context.Context, p Period) (*rules.Evaluation, *registry.Registry, *Snapshot, error) {
	p.Step = 0
	snap, err := s.Snapshot(ctx, p, true)
	if err != nil {
		return nil, nil, nil, err
	}
	reg := s.store.Get()
	return s.rules.Evaluate(reg, snap.Shops[0], snap.Vendors, snap.Expected[0]), reg, snap, nil
}

// GroupKind selects what a roll-up groups workshops by.
type GroupKind int

const (
	// ByRegion rolls up each region's subtree.
	ByRegion GroupKind = iota
	// ByPark rolls up each park.
	ByPark
	// ByEnterprise rolls up each enterprise.
	ByEnterprise
)

// Rollups returns, for every group of the kind, its KPI per bucket of snap, with the
// baseline of its region applied. Every region, park and enterprise of the registry is
// present, also those without workshops; when keys is not nil, only those listed (a
// request's memory grows with what it asks for, not with the registry).
func (s *Service) Rollups(reg *registry.Registry, snap *Snapshot, kind GroupKind, keys []string) map[string][]rules.KPI {
	members := map[string][]*registry.Workshop{}
	baselineRegion := map[string]string{}
	switch kind {
	case ByRegion:
		for _, r := range reg.Regions() {
			members[r.Code] = nil
			baselineRegion[r.Code] = r.Code
		}
		for _, w := range reg.Workshops() {
			for _, c := range reg.Ancestors(w.Region) {
				members[c] = append(members[c], w)
			}
		}
	case ByPark:
		for _, p := range reg.Parks() {
			members[p.ID] = nil
			baselineRegion[p.ID] = p.Region
		}
		for _, w := range reg.Workshops() {
			if w.Park != "" {
				members[w.Park] = append(members[w.Park], w)
			}
		}
	case ByEnterprise:
		for _, e := range reg.Enterprises() {
			members[e.ID] = nil
			baselineRegion[e.ID] = e.Region
		}
		for _, w := range reg.Workshops() {
			members[w.Enterprise] = append(members[w.Enterprise], w)
		}
	}
	if keys != nil {
		want := make(map[string][]*registry.Workshop, len(keys))
		for _, k := range keys {
			if ws, ok := members[k]; ok {
				want[k] = ws
			}
		}
		members = want
	}
	out := make(map[string][]rules.KPI, len(members))
	for key, ws := range members {
		b, from := reg.BaselineFor(baselineRegion[key])
		kpis := make([]rules.KPI, len(snap.Shops))
		stats := make([]*rules.WorkshopStats, len(ws))
		for i, shops := range snap.Shops {
			for j, w := range ws {
				stats[j] = shops[w.ID]
			}
			kpis[i] = s.rules.Rollup(stats)
			valueAdded(reg, snap, i, ws, &kpis[i])
			kpis[i].CompareBaseline(b, from)
		}
		out[key] = kpis
	}
	return out
}

// WorkshopKPI returns one workshop's KPI in bucket i of snap.
func (s *Service) WorkshopKPI(reg *registry.Registry, snap *Snapshot, w *registry.Workshop, i int) rules.KPI {
	k := s.rules.Rollup([]*rules.WorkshopStats{snap.Shops[i][w.ID]})
	valueAdded(reg, snap, i, []*registry.Workshop{w}, &k)
	k.CompareBaseline(reg.BaselineFor(w.Region))
	return k
}
