package service

import (
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
)

// WorkshopPeer returns a workshop's figures over bucket 0 of snap for the leader
// ranking: the counted instance's figures (a conflict makes it ineligible), its
// observed coverage, its suspect counter steps, and its enterprise's value-added rate.
func (s *Service) WorkshopPeer(reg *registry.Registry, snap *Snapshot, w *registry.Workshop) rules.Peer {
	st := snap.Shops[0][w.ID]
	if st == nil {
		st = rules.NoData()
	}
	rate := 0.0
	if e := reg.Enterprise(w.Enterprise); e != nil {
		rate = e.ValueAddedRate
	}
	return rules.Peer{ID: w.ID, EnergyKgce: st.EnergyKgce, WaterM3: st.WaterM3, OutputValueYuan: st.OutputValueYuan,
		ValueAddedRate: rate, Coverage: st.Coverage(snap.Expected[0]), Conflict: snap.Conflicts[w.ID] != nil,
		Suspect: st.Suspect}
}

// Leaders ranks, over bucket 0 of snap, the workshops within region whose
// enterprise's industry class lies in industry (a canonical code of any level:
// registry.ParseIndustry), and the enterprises within region of that industry (each
// with all its workshops: rules.EnterprisePeer).
func (s *Service) Leaders(reg *registry.Registry, snap *Snapshot, region, industry string) (shops, enterprises rules.Board) {
	var shopPeers, entPeers []rules.Peer
	byEnt := map[string][]rules.Peer{}
	for _, w := range reg.Workshops() {
		e := reg.Enterprise(w.Enterprise)
		if e == nil || !registry.IndustryWithin(e.Industry, industry) {
			continue
		}
		p := s.WorkshopPeer(reg, snap, w)
		byEnt[e.ID] = append(byEnt[e.ID], p)
		if reg.Within(w.Region, region) {
			shopPeers = append(shopPeers, p)
		}
	}
	for _, e := range reg.Enterprises() {
		if registry.IndustryWithin(e.Industry, industry) && reg.Within(e.Region, region) {
			entPeers = append(entPeers, rules.EnterprisePeer(e.ID, e.ValueAddedRate, byEnt[e.ID]))
		}
	}
	return s.rules.Leaders.Rank(shopPeers), s.rules.Leaders.Rank(entPeers)
}

// Standing is a workshop's place among the workshops of its industry class within a
// region (the benchmark /api/v1/workshops reports).
type Standing struct {
	// Industry is the workshop's class ("" when its enterprise has none: then the
	// other fields are zero).
	Industry      string
	Result        rules.PeerResult
	Energy, Water rules.Benchmark
}

// Standings returns, for every workshop within region whose enterprise has an
// industry, its standing among the workshops of its class within region over bucket 0
// of snap. Each class is ranked once.
func (s *Service) Standings(reg *registry.Registry, snap *Snapshot, region string) map[string]*Standing {
	classes := map[string][]rules.Peer{}
	for _, w := range reg.Workshops() {
		e := reg.Enterprise(w.Enterprise)
		if e == nil || e.Industry == "" || !reg.Within(w.Region, region) {
			continue
		}
		classes[e.Industry] = append(classes[e.Industry], s.WorkshopPeer(reg, snap, w))
	}
	out := map[string]*Standing{}
	for class, peers := range classes {
		b := s.rules.Leaders.Rank(peers)
		for _, p := range b.Peers {
			out[p.ID] = &Standing{Industry: class, Result: p, Energy: b.Energy, Water: b.Water}
		}
	}
	return out
}

// valueAdded sets the value-added figures of k for the workshops ws in bucket i of
// snap (rules.PerValueAdded with each workshop's enterprise rate).
func valueAdded(reg *registry.Registry, snap *Snapshot, i int, ws []*registry.Workshop, k *rules.KPI) {
	stats := make([]*rules.WorkshopStats, len(ws))
	rates := make([]float64, len(ws))
	for j, w := range ws {
		stats[j] = snap.Shops[i][w.ID]
		if e := reg.Enterprise(w.Enterprise); e != nil {
			rates[j] = e.ValueAddedRate
		}
	}
	k.ValueAddedYuan, k.EnergyKgcePer10kYuanValueAdded, k.WaterM3Per10kYuanValueAdded = rules.PerValueAdded(stats, rates)
}
