package api

import (
	"iter"
	"math"
	"net/http"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
	"github.com/ganlink/ganlink/gateway/aggregator/service"
	"github.com/ganlink/ganlink/gateway/schema"
)

// industryParam returns the industry parameter as a canonical GB/T 4754-2017 code of
// any level (a section "C", a division "C34", a group "C341" or a class "C3411"; the
// section letter may be left out).
func (rq *request) industryParam() (string, error) {
	s := rq.param("industry")
	if s == "" {
		return "", errorf(http.StatusBadRequest, "industry: required (a GB/T 4754-2017 section C, division C34, group C341 or class C3411)")
	}
	code, err := registry.ParseIndustry(s)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "industry: %v", err)
	}
	return code, nil
}

// industryLevel names the level of a canonical industry code.
func industryLevel(code string) string {
	switch len(code) {
	case 1:
		return "section"
	case 3:
		return "division"
	case 4:
		return "group"
	}
	return "class"
}

// standingRecord is one metric's standing of a peer with its industry's benchmark.
func standingRecord(s *rules.Standing, bm *rules.Benchmark) record {
	var rank any
	if s.Rank > 0 {
		rank = s.Rank
	}
	return record{{"per_10k_yuan_output_value", num(s.PerOutputValue)}, {"per_10k_yuan_value_added", num(s.PerValueAdded)},
		{"rank", rank}, {"ranked", bm.Ranked}, {"percentile", num(s.Percentile)}, {"leader", s.Leader},
		{"median", num(bm.Median)}, {"threshold", num(bm.Threshold)}, {"gap", num(s.Gap)}, {"reduction", num(s.Reduction)},
		{"unranked", s.Unranked}}
}

func benchmarkRecord(bm *rules.Benchmark) record {
	return record{{"ranked", bm.Ranked}, {"leaders", bm.Leaders}, {"leaders_wanted", bm.LeadersWanted},
		{"median", num(bm.Median)}, {"threshold", num(bm.Threshold)}}
}

// peerFields are the figures and eligibility of a ranked peer.
func peerFields(r record, p *rules.PeerResult, b *rules.Board) record {
	reasons := p.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	suspect := p.Suspect
	if math.IsNaN(suspect) {
		suspect = 0
	}
	return append(r, record{
		{"value_added_rate", num(p.ValueAddedRate)}, {schema.FieldOutputValueYuan, num(p.OutputValueYuan)},
		{schema.FieldValueAddedYuan, num(p.ValueAddedYuan)}, {schema.FieldEnergyKgce, num(p.EnergyKgce)}, {schema.FieldWaterM3, num(p.WaterM3)},
		{"coverage", num(p.Coverage)}, {"conflict", p.Conflict}, {"suspect_steps", num(suspect)},
		{"eligible", p.Eligible}, {"reasons", reasons},
		{"energy", standingRecord(&p.Energy, &b.Energy)}, {"water", standingRecord(&p.Water, &b.Water)},
	}...)
}

func leaderTemplate() record {
	b := (&rules.LeaderRule{}).Rank([]rules.Peer{{}})
	r := record{{"kind", ""}, {"id", ""}, {"name", ""}, {"enterprise", ""}, {"industry", ""}, {"region", ""}, {"park", ""},
		{"value_added_rate_from", ""}}
	return peerFields(r, &b.Peers[0], &b)
}

// leaders: the workshops and enterprises of an industry within the region (default:
// the token's), ranked by energy and water intensity (docs/aggregator.md "Efficiency
// leaders"). The ranking is among the peers within the region.
func (a *API) leaders(rq *request) (*result, error) {
	region, err := rq.regionParam()
	if err != nil {
		return nil, err
	}
	industry, err := rq.industryParam()
	if err != nil {
		return nil, err
	}
	reg := rq.reg
	n := 0
	for _, w := range reg.Workshops() {
		if e := reg.Enterprise(w.Enterprise); e != nil && registry.IndustryWithin(e.Industry, industry) && reg.Within(w.Region, region.Code) {
			n++
		}
	}
	for _, e := range reg.Enterprises() {
		if registry.IndustryWithin(e.Industry, industry) && reg.Within(e.Region, region.Code) {
			n++
		}
	}
	p, snap, err := a.snapshot(rq, false, n, "workshops and enterprises")
	if err != nil {
		return nil, err
	}
	shops, ents := a.svc.Leaders(reg, snap, region.Code, industry)
	lr := a.svc.Rules().Leaders
	env := a.periodRecord(p)
	env.add("region", regionRecord(region))
	env.add("industry", record{{"code", industry}, {"level", industryLevel(industry)}, {"section", industry[:1]}})
	env.add("expected_windows", snap.Expected[0])
	env.add("rule", record{{"basis", lr.Basis}, {"share", num(lr.Share)}, {"top", lr.Top},
		{"min_coverage", num(lr.MinCoverage)}, {"min_peers", lr.MinPeers}})
	env.add("workshops", record{{"energy", benchmarkRecord(&shops.Energy)}, {"water", benchmarkRecord(&shops.Water)}})
	env.add("enterprises", record{{"energy", benchmarkRecord(&ents.Energy)}, {"water", benchmarkRecord(&ents.Water)}})
	rows := func(yield func(record) bool) {
		for i := range shops.Peers {
			pr := &shops.Peers[i]
			w := reg.Workshop(pr.ID)
			e := reg.Enterprise(w.Enterprise)
			r := record{{"kind", "workshop"}, {"id", w.ID}, {"name", w.Name}, {"enterprise", w.Enterprise}, {"industry", e.Industry},
				{"region", w.Region}, {"park", w.Park}, {"value_added_rate_from", e.ValueAddedRateFrom}}
			if !yield(peerFields(r, pr, &shops)) {
				return
			}
		}
		for i := range ents.Peers {
			pr := &ents.Peers[i]
			e := reg.Enterprise(pr.ID)
			r := record{{"kind", "enterprise"}, {"id", e.ID}, {"name", e.Name}, {"enterprise", e.ID}, {"industry", e.Industry},
				{"region", e.Region}, {"park", e.Park}, {"value_added_rate_from", e.ValueAddedRateFrom}}
			if !yield(peerFields(r, pr, &ents)) {
				return
			}
		}
	}
	return &result{envelope: env, rowsKey: "rows", rows: iter.Seq[record](rows), template: leaderTemplate()}, nil
}

// unrankedNoIndustry: the workshop's enterprise has no industry in the registry.
const unrankedNoIndustry = "no_industry"

// workshopBenchmark is a workshop row's standing among the workshops of its industry
// class within the request's region: industry, eligibility and, per metric, its
// intensity per value added, rank, percentile, the class's median and leader
// threshold and its gap to the threshold. Null figures for a workshop whose
// enterprise has no industry.
func workshopBenchmark(st *service.Standing) record {
	if st == nil {
		b := (&rules.LeaderRule{}).Rank(nil)
		empty := rules.Standing{PerOutputValue: math.NaN(), PerValueAdded: math.NaN(), Percentile: math.NaN(),
			Gap: math.NaN(), Reduction: math.NaN(), Unranked: unrankedNoIndustry}
		return record{{"industry", ""}, {"eligible", optBool{}}, {"reasons", []string{}},
			{"energy", standingRecord(&empty, &b.Energy)}, {"water", standingRecord(&empty, &b.Water)}}
	}
	reasons := st.Result.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	return record{{"industry", st.Industry}, {"eligible", optBool{st.Result.Eligible, true}}, {"reasons", reasons},
		{"energy", standingRecord(&st.Result.Energy, &st.Energy)}, {"water", standingRecord(&st.Result.Water, &st.Water)}}
}
