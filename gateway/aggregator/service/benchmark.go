package service

import (
	"math"
	"sort"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
	"github.com/ganlink/ganlink/gateway/point"
	"github.com/ganlink/ganlink/gateway/schema"
)

// BenchmarkPoints returns the efficiency-leader write-back over bucket 0 of snap,
// stamped ts: for each province (registry root) and each industry class with ranked
// workshops there, one industry_benchmark point per metric with ranked peers, and one
// workshop_benchmark point per ranked or ineligible workshop (with its class's median
// and threshold). The standings are those of /api/v1/workshops for a province token
// (Standings: one ranking per class).
func (s *Service) BenchmarkPoints(reg *registry.Registry, snap *Snapshot, ts int64) point.Batch {
	var b point.Batch
	for _, province := range reg.Roots() {
		st := s.Standings(reg, snap, province)
		ids := make([]string, 0, len(st))
		for id := range st {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		classes := map[string]*Standing{}
		for _, id := range ids {
			ws := st[id]
			if classes[ws.Industry] == nil {
				classes[ws.Industry] = ws
			}
			r := &ws.Result
			if r.Eligible && r.Energy.Rank == 0 && r.Water.Rank == 0 {
				continue // eligible but nothing to rank (no energy, no water): no standing to show
			}
			w := reg.Workshop(id)
			tags := []point.Tag{{Key: schema.TagEnterprise, Value: w.Enterprise}, {Key: schema.TagIndustry, Value: ws.Industry},
				{Key: schema.TagRegion, Value: w.Region}, {Key: schema.TagWorkshop, Value: w.ID}}
			if w.Park != "" {
				tags = append(tags, point.Tag{Key: schema.TagPark, Value: w.Park})
			}
			sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
			var f fields
			f.add(schema.FieldEligible, boolf(r.Eligible))
			s.standingFields(&f, &r.Energy, schema.FieldEnergyIntensity, schema.FieldEnergyPercentile, schema.FieldEnergyRank,
				schema.FieldEnergyGap, schema.FieldEnergyLeader)
			f.add(schema.FieldEnergyMedian, ws.Energy.Median)
			f.add(schema.FieldEnergyThreshold, ws.Energy.Threshold)
			s.standingFields(&f, &r.Water, schema.FieldWaterIntensity, schema.FieldWaterPercentile, schema.FieldWaterRank,
				schema.FieldWaterGap, schema.FieldWaterLeader)
			f.add(schema.FieldWaterMedian, ws.Water.Median)
			f.add(schema.FieldWaterThreshold, ws.Water.Threshold)
			b = append(b, point.Point{Measurement: schema.WorkshopBenchmark, Tags: tags, Fields: f, Time: ts})
		}
		names := make([]string, 0, len(classes))
		for c := range classes {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, c := range names {
			ws := classes[c]
			for _, m := range []struct {
				metric string
				bm     *rules.Benchmark
			}{{schema.MetricEnergy, &ws.Energy}, {schema.MetricWater, &ws.Water}} {
				if m.bm.Ranked == 0 {
					continue
				}
				var f fields
				f.add(schema.FieldRanked, float64(m.bm.Ranked))
				f.add(schema.FieldLeaders, float64(m.bm.Leaders))
				f.add(schema.FieldMedian, m.bm.Median)
				f.add(schema.FieldThreshold, m.bm.Threshold)
				b = append(b, point.Point{Measurement: schema.IndustryBenchmark, Tags: []point.Tag{{Key: schema.TagIndustry, Value: c},
					{Key: schema.TagMetric, Value: m.metric}, {Key: schema.TagRegion, Value: province}}, Fields: f, Time: ts})
			}
		}
	}
	return b
}

// standingFields adds one metric's standing: the intensity on the rule's basis and the
// percentile (when the workshop has an intensity), the rank and the leader flag (when
// ranked; the flag only with a threshold) and the gap to the threshold (when there is
// one). Absent figures are left out.
func (s *Service) standingFields(f *fields, st *rules.Standing, intensity, percentile, rank, gap, leader string) {
	f.add(intensity, s.rules.Leaders.Intensity(st))
	f.add(percentile, st.Percentile)
	if st.Rank > 0 {
		f.add(rank, float64(st.Rank))
	}
	f.add(gap, st.Gap)
	if st.Rank > 0 && !math.IsNaN(st.Gap) {
		f.add(leader, boolf(st.Leader))
	}
}
