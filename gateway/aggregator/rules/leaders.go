package rules

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Efficiency leaders (能效、水效领跑者): the workshops (or enterprises) of one industry
// ranked by energy and by water intensity, with the industry's median and the leader
// threshold. The rule is documented in docs/aggregator.md ("Efficiency leaders").

// Bases of an intensity: per 10 000 yuan of output value (parts × unit value) or of
// value added (output value × the enterprise's value-added rate).
const (
	BasisOutputValue = "output_value"
	BasisValueAdded  = "value_added"
)

// Reasons a peer is not eligible for the ranking (bounded: these are the only values).
const (
	// ReasonLowCoverage: data coverage below LeaderRule.MinCoverage (or unknown).
	ReasonLowCoverage = "low_coverage"
	// ReasonConflict: two gateway instances reported the workshop in the period.
	ReasonConflict = "conflict"
	// ReasonSuspect: counter steps the gateway did not book (glitches, implausible
	// increases) in the period.
	ReasonSuspect = "suspect_steps"
	// ReasonNoOutput: no positive output value in the period.
	ReasonNoOutput = "no_output"
)

// Reasons one metric (energy or water) of an eligible-or-not peer is not ranked.
const (
	// UnrankedNotEligible: the peer is not eligible (see Standing.Reasons).
	UnrankedNotEligible = "not_eligible"
	// UnrankedNoData: the peer reported no energy (or water) in the period.
	UnrankedNoData = "no_data"
	// UnrankedNoRate: ranking per value added and the enterprise has no value-added
	// rate (no industry and no rate in the registry).
	UnrankedNoRate = "no_value_added_rate"
)

// LeaderRule configures the ranking (YAML section rules.leaders).
type LeaderRule struct {
	// Share is the share of the ranked peers that are leaders: the best
	// ceil(Share × N), at least one. Default 0.10 (the best 10 %).
	Share float64 `yaml:"share"`
	// Top, when positive, replaces Share: the best Top peers (all of them when fewer).
	Top int `yaml:"top"`
	// MinCoverage is the data coverage a peer needs to be eligible (Coverage: observed
	// share of the period). Default 0.90, as the digital-workshop rule.
	MinCoverage float64 `yaml:"min_coverage"`
	// MinPeers is the number of ranked peers an industry needs for a leader threshold
	// (fewer: ranks and percentiles, but no threshold and no leaders). Default 3.
	MinPeers int `yaml:"min_peers"`
	// Basis is the intensity ranked: BasisOutputValue (default) or BasisValueAdded.
	Basis string `yaml:"basis"`
}

// DefaultLeaderRule returns the documented defaults.
func DefaultLeaderRule() LeaderRule {
	return LeaderRule{Share: 0.10, MinCoverage: 0.90, MinPeers: 3, Basis: BasisOutputValue}
}

// Validate checks ranges; errors name the YAML key under "rules.leaders".
func (r *LeaderRule) Validate() error {
	var errs []error
	if !(r.Share > 0 && r.Share <= 1) {
		errs = append(errs, fmt.Errorf("rules.leaders.share: %v not in (0, 1]", r.Share))
	}
	if r.Top < 0 {
		errs = append(errs, fmt.Errorf("rules.leaders.top: %d is negative", r.Top))
	}
	if !(r.MinCoverage >= 0 && r.MinCoverage <= 1) {
		errs = append(errs, fmt.Errorf("rules.leaders.min_coverage: %v not in [0, 1]", r.MinCoverage))
	}
	if r.MinPeers < 1 {
		errs = append(errs, fmt.Errorf("rules.leaders.min_peers: %d is less than 1", r.MinPeers))
	}
	if r.Basis != BasisOutputValue && r.Basis != BasisValueAdded {
		errs = append(errs, fmt.Errorf("rules.leaders.basis: %q is not %s or %s", r.Basis, BasisOutputValue, BasisValueAdded))
	}
	return errors.Join(errs...)
}

// Peer is one workshop or enterprise's figures over the period. NaN marks a figure it
// did not report.
type Peer struct {
	ID string
	// EnergyKgce and WaterM3 are the sums over the period.
	EnergyKgce, WaterM3 float64
	OutputValueYuan     float64
	// ValueAddedRate is the enterprise's rate (registry), 0 when unknown.
	ValueAddedRate float64
	// Coverage is the observed share of the period (WorkshopStats.Coverage).
	Coverage float64
	// Conflict: two gateway instances reported it in the period.
	Conflict bool
	// Suspect is the number of counter steps not booked in the period (NaN: none
	// reported).
	Suspect float64
}

// EnterprisePeer combines an enterprise's workshops: energy, water, output value and
// suspect steps are summed (NaN when no workshop reported the figure), the coverage is
// the lowest of its workshops (an enterprise is as trustworthy as its least covered
// workshop) and a conflict in one workshop is a conflict of the enterprise. Energy (or
// water) is NaN when a workshop with output value reports none: its output would
// dilute the enterprise's intensity (a workshop without a water meter).
func EnterprisePeer(id string, rate float64, shops []Peer) Peer {
	n := math.NaN()
	p := Peer{ID: id, EnergyKgce: n, WaterM3: n, OutputValueYuan: n, ValueAddedRate: rate, Coverage: n, Suspect: n}
	var noEnergy, noWater bool
	for i, s := range shops {
		if s.OutputValueYuan > 0 {
			noEnergy = noEnergy || math.IsNaN(s.EnergyKgce)
			noWater = noWater || math.IsNaN(s.WaterM3)
		}
		p.EnergyKgce = nsum(p.EnergyKgce, s.EnergyKgce)
		p.WaterM3 = nsum(p.WaterM3, s.WaterM3)
		p.OutputValueYuan = nsum(p.OutputValueYuan, s.OutputValueYuan)
		p.Suspect = nsum(p.Suspect, s.Suspect)
		p.Conflict = p.Conflict || s.Conflict
		switch {
		case math.IsNaN(s.Coverage):
			p.Coverage = 0
		case i == 0 || s.Coverage < p.Coverage:
			p.Coverage = s.Coverage
		}
	}
	if len(shops) == 0 {
		p.Coverage = 0
	}
	if noEnergy {
		p.EnergyKgce = n
	}
	if noWater {
		p.WaterM3 = n
	}
	return p
}

// Standing is one metric's place of a peer in its industry.
type Standing struct {
	// PerOutputValue and PerValueAdded are the intensities (kgce or m³ per 10 000
	// yuan), rounded by Round9; NaN when they cannot be computed.
	PerOutputValue, PerValueAdded float64
	// Rank is the competition rank among the ranked peers (1 = lowest intensity on
	// the rule's basis; equal intensities share a rank, the next rank skips: 1, 2, 2,
	// 4); 0 when the peer is not ranked (Unranked says why).
	Rank     int
	Unranked string
	// Percentile is the share of the ranked peers (the peer itself included in the
	// count when ranked) whose intensity is strictly higher: 0.9 = it beats 90 % of
	// its industry. Ties beat each other neither way. It is given for every peer with
	// an intensity, eligible or not, against the ranked peers; NaN otherwise.
	Percentile float64
	// Leader: ranked and intensity ≤ the leader threshold.
	Leader bool
	// Gap is intensity − the leader threshold (≤ 0 for a leader); Reduction is the
	// share of its intensity a peer must cut to reach the threshold, 1 − threshold ÷
	// intensity (0 for a leader). NaN without a threshold or an intensity.
	Gap, Reduction float64
}

// Benchmark is one metric's figures of the industry, on the rule's basis.
type Benchmark struct {
	// Ranked is the number of ranked peers; Leaders of them are leaders.
	Ranked, Leaders int
	// Median is the median intensity of the ranked peers (the mean of the two middle
	// ones for an even count); NaN when none.
	Median float64
	// Threshold is the leader threshold: the intensity of the K-th best ranked peer,
	// K = Top, or ceil(Share × Ranked) (at least 1), capped at Ranked; peers tied with
	// it are leaders too. NaN when fewer than MinPeers are ranked.
	Threshold float64
	// LeadersWanted is K (0 without a threshold).
	LeadersWanted int
}

// PeerResult is a peer's eligibility and standings.
type PeerResult struct {
	Peer
	// ValueAddedYuan = OutputValueYuan × ValueAddedRate (NaN without a rate).
	ValueAddedYuan float64
	Eligible       bool
	// Reasons are the Reason* codes, in their declaration order; empty when eligible.
	Reasons       []string
	Energy, Water Standing
}

// Board is the ranking of one industry's peers.
type Board struct {
	Basis         string
	Energy, Water Benchmark
	// Peers: ranked ones by energy rank, then the others; ties by ID.
	Peers []PeerResult
}

// Rank ranks peers of one industry.
func (r *LeaderRule) Rank(peers []Peer) Board {
	b := Board{Basis: r.Basis, Peers: make([]PeerResult, len(peers))}
	for i, p := range peers {
		res := PeerResult{Peer: p, ValueAddedYuan: math.NaN()}
		if p.ValueAddedRate > 0 && !math.IsNaN(p.OutputValueYuan) {
			res.ValueAddedYuan = p.OutputValueYuan * p.ValueAddedRate
		}
		if math.IsNaN(p.Coverage) || Round9(p.Coverage-r.MinCoverage) < 0 {
			res.Reasons = append(res.Reasons, ReasonLowCoverage)
		}
		if p.Conflict {
			res.Reasons = append(res.Reasons, ReasonConflict)
		}
		if p.Suspect > 0 {
			res.Reasons = append(res.Reasons, ReasonSuspect)
		}
		if !(p.OutputValueYuan > 0) {
			res.Reasons = append(res.Reasons, ReasonNoOutput)
		}
		res.Eligible = len(res.Reasons) == 0
		res.Energy = r.standing(res, p.EnergyKgce)
		res.Water = r.standing(res, p.WaterM3)
		b.Peers[i] = res
	}
	b.Energy = r.benchmark(b.Peers, func(p *PeerResult) *Standing { return &p.Energy })
	b.Water = r.benchmark(b.Peers, func(p *PeerResult) *Standing { return &p.Water })
	sort.SliceStable(b.Peers, func(i, j int) bool {
		ri, rj := b.Peers[i].Energy.Rank, b.Peers[j].Energy.Rank
		switch {
		case ri != rj && ri != 0 && rj != 0:
			return ri < rj
		case (ri == 0) != (rj == 0):
			return rj == 0
		}
		return b.Peers[i].ID < b.Peers[j].ID
	})
	return b
}

// per returns quantity per 10 000 yuan of value, NaN when it cannot be computed.
func per(quantity, value float64) float64 {
	if math.IsNaN(quantity) || !(value > 0) {
		return math.NaN()
	}
	return Round9(quantity / (value / 1e4))
}

func (r *LeaderRule) standing(res PeerResult, quantity float64) Standing {
	n := math.NaN()
	s := Standing{PerOutputValue: per(quantity, res.OutputValueYuan), PerValueAdded: per(quantity, res.ValueAddedYuan),
		Percentile: n, Gap: n, Reduction: n}
	switch {
	case !res.Eligible:
		s.Unranked = UnrankedNotEligible
	case math.IsNaN(quantity):
		s.Unranked = UnrankedNoData
	case r.Basis == BasisValueAdded && math.IsNaN(s.PerValueAdded):
		s.Unranked = UnrankedNoRate
	}
	return s
}

// Intensity is the standing's intensity on the rule's basis (per output value or per
// value added): what peers are ranked by.
func (r *LeaderRule) Intensity(s *Standing) float64 {
	if r.Basis == BasisValueAdded {
		return s.PerValueAdded
	}
	return s.PerOutputValue
}

func (r *LeaderRule) benchmark(peers []PeerResult, get func(*PeerResult) *Standing) Benchmark {
	var ranked []float64
	for i := range peers {
		if s := get(&peers[i]); s.Unranked == "" {
			ranked = append(ranked, r.Intensity(s))
		}
	}
	sort.Float64s(ranked)
	n := len(ranked)
	bm := Benchmark{Ranked: n, Median: math.NaN(), Threshold: math.NaN()}
	switch {
	case n == 0:
	case n%2 == 1:
		bm.Median = ranked[n/2]
	default:
		bm.Median = Round9((ranked[n/2-1] + ranked[n/2]) / 2)
	}
	if n > 0 && n >= r.MinPeers {
		k := r.Top
		if k <= 0 {
			k = int(math.Ceil(Round9(r.Share * float64(n))))
		}
		k = max(1, min(k, n))
		bm.LeadersWanted, bm.Threshold = k, ranked[k-1]
	}
	for i := range peers {
		s := get(&peers[i])
		v := r.Intensity(s)
		if math.IsNaN(v) {
			continue
		}
		lower := sort.SearchFloat64s(ranked, v)                                 // ranked peers strictly below v
		higher := n - sort.Search(n, func(j int) bool { return ranked[j] > v }) // strictly above v
		if n > 0 {
			s.Percentile = Round9(float64(higher) / float64(n))
		}
		if s.Unranked == "" {
			s.Rank = lower + 1
		}
		if !math.IsNaN(bm.Threshold) {
			s.Gap = Round9(v - bm.Threshold)
			s.Reduction = 0
			if s.Gap > 0 {
				s.Reduction = Round9(1 - bm.Threshold/v)
			}
			if s.Unranked == "" && v <= bm.Threshold {
				s.Leader = true
				bm.Leaders++
			}
		}
	}
	return bm
}

// PerValueAdded returns, for a set of workshops and their enterprises' value-added
// rates (0: unknown), Σ value added (output value × rate) and the energy and water
// intensities per 10 000 yuan of value added, by the rule of Rollup: each intensity
// over the workshops that report the quantity, a positive output value and a rate.
// NaN for a figure no workshop can give. nil entries are workshops without data.
func PerValueAdded(stats []*WorkshopStats, rates []float64) (valueAddedYuan, energyKgcePer10k, waterM3Per10k float64) {
	valueAddedYuan = math.NaN()
	var eKgce, eVA, wM3, wVA float64
	var eAny, wAny bool
	for i, s := range stats {
		if s == nil || s.Windows == 0 || !(s.OutputValueYuan > 0) || !(rates[i] > 0) {
			continue
		}
		va := s.OutputValueYuan * rates[i]
		valueAddedYuan = nsum(valueAddedYuan, va)
		if !math.IsNaN(s.EnergyKgce) {
			eKgce, eVA, eAny = eKgce+s.EnergyKgce, eVA+va, true
		}
		if !math.IsNaN(s.WaterM3) {
			wM3, wVA, wAny = wM3+s.WaterM3, wVA+va, true
		}
	}
	energyKgcePer10k, waterM3Per10k = math.NaN(), math.NaN()
	if eAny {
		energyKgcePer10k = eKgce / (eVA / 1e4)
	}
	if wAny {
		waterM3Per10k = wM3 / (wVA / 1e4)
	}
	return valueAddedYuan, energyKgcePer10k, waterM3Per10k
}
