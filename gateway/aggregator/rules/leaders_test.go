package rules

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// peer builds a peer with output value yuan, energy kgce and water m³ (NaN: none),
// rate, coverage 1, no conflict, no suspect steps.
func peer(id string, output, energy, water, rate float64) Peer {
	return Peer{ID: id, OutputValueYuan: output, EnergyKgce: energy, WaterM3: water, ValueAddedRate: rate, Coverage: 1, Suspect: nan}
}

// fmtStanding prints a standing as "rank pct leader gap reduction unranked" with the
// intensities, NaN as "-".
func fmtStanding(s Standing) string {
	f := func(x float64) string {
		if math.IsNaN(x) {
			return "-"
		}
		return fmt.Sprint(x)
	}
	l := ""
	if s.Leader {
		l = " leader"
	}
	return fmt.Sprintf("%s/%s r%d p%s gap %s red %s%s%s", f(s.PerOutputValue), f(s.PerValueAdded), s.Rank, f(s.Percentile),
		f(s.Gap), f(s.Reduction), l, strings.TrimSuffix(" "+s.Unranked, " "))
}

func fmtBoard(b Board) (lines []string) {
	for _, p := range b.Peers {
		el := "eligible"
		if !p.Eligible {
			el = strings.Join(p.Reasons, ",")
		}
		lines = append(lines, fmt.Sprintf("%s %s | E %s | W %s", p.ID, el, fmtStanding(p.Energy), fmtStanding(p.Water)))
	}
	return lines
}

func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func sameBM(a, b Benchmark) bool {
	return a.Ranked == b.Ranked && a.Leaders == b.Leaders && a.LeadersWanted == b.LeadersWanted && same(a.Median, b.Median) && same(a.Threshold, b.Threshold)
}

// TestLeadersDefaultRule: 14 workshops of class C3421, output 100 000 yuan each (10 ×
// 10 000 yuan), so the energy intensity is kgce ÷ 10 and water = energy ÷ 5; value-added
// rate 0.2 (w06: 0.25). Eligible: 10 (w09 covered 0.85, w10 in conflict, w11 with
// suspect steps, w12 without output). Energy, sorted: 3 3 5 6 7 8 9 10 11 12 → median
// (7 + 8) ÷ 2 = 7.5; best 10 % of 10 = 1 → threshold 3, and w02 and w04 tie at it:
// two leaders. Percentile = share of the 10 ranked with a higher intensity.
func TestLeadersDefaultRule(t *testing.T) {
	r := DefaultLeaderRule()
	mk := func(id string, e float64) Peer { return peer(id, 100000, e*10, e*10/5, 0.2) }
	w06 := mk("w06", 6)
	w06.ValueAddedRate = 0.25
	w09, w10, w11, w12 := mk("w09", 4), mk("w10", 2), mk("w11", 1), mk("w12", 5)
	w09.Coverage = 0.85
	w10.Conflict = true
	w11.Suspect = 2
	w12.OutputValueYuan = 0
	w13 := mk("w13", 10)
	w13.Coverage = 0.9 // exactly the threshold: eligible
	w14 := mk("w14", 11)
	w14.WaterM3 = nan // no water meter: ranked for energy only
	peers := []Peer{mk("w01", 5), mk("w02", 3), mk("w03", 8), mk("w04", 3), mk("w05", 12), w06, mk("w07", 9), mk("w08", 7),
		w09, w10, w11, w12, w13, w14}
	b := r.Rank(peers)
	if want := (Benchmark{Ranked: 10, Leaders: 2, LeadersWanted: 1, Median: 7.5, Threshold: 3}); !sameBM(b.Energy, want) {
		t.Errorf("energy benchmark %+v, want %+v", b.Energy, want)
	}
	// Water, 9 ranked (w14 has none): 0.6 0.6 1 1.2 1.4 1.6 1.8 2 2.4 → median 1.4.
	if want := (Benchmark{Ranked: 9, Leaders: 2, LeadersWanted: 1, Median: 1.4, Threshold: 0.6}); !sameBM(b.Water, want) {
		t.Errorf("water benchmark %+v, want %+v", b.Water, want)
	}
	checkLines(t, fmtBoard(b), []string{
		"w02 eligible | E 3/15 r1 p0.8 gap 0 red 0 leader | W 0.6/3 r1 p0.777777778 gap 0 red 0 leader",
		"w04 eligible | E 3/15 r1 p0.8 gap 0 red 0 leader | W 0.6/3 r1 p0.777777778 gap 0 red 0 leader",
		"w01 eligible | E 5/25 r3 p0.7 gap 2 red 0.4 | W 1/5 r3 p0.666666667 gap 0.4 red 0.4",
		"w06 eligible | E 6/24 r4 p0.6 gap 3 red 0.5 | W 1.2/4.8 r4 p0.555555556 gap 0.6 red 0.5",
		"w08 eligible | E 7/35 r5 p0.5 gap 4 red 0.571428571 | W 1.4/7 r5 p0.444444444 gap 0.8 red 0.571428571",
		"w03 eligible | E 8/40 r6 p0.4 gap 5 red 0.625 | W 1.6/8 r6 p0.333333333 gap 1 red 0.625",
		"w07 eligible | E 9/45 r7 p0.3 gap 6 red 0.666666667 | W 1.8/9 r7 p0.222222222 gap 1.2 red 0.666666667",
		"w13 eligible | E 10/50 r8 p0.2 gap 7 red 0.7 | W 2/10 r8 p0.111111111 gap 1.4 red 0.7",
		"w14 eligible | E 11/55 r9 p0.1 gap 8 red 0.727272727 | W -/- r0 p- gap - red - no_data",
		"w05 eligible | E 12/60 r10 p0 gap 9 red 0.75 | W 2.4/12 r9 p0 gap 1.8 red 0.75",
		// Not eligible: placed against the ranked peers (percentile, gap), never ranked
		// nor leaders, even when below the threshold (w10, w11).
		"w09 low_coverage | E 4/20 r0 p0.8 gap 1 red 0.25 not_eligible | W 0.8/4 r0 p0.777777778 gap 0.2 red 0.25 not_eligible",
		"w10 conflict | E 2/10 r0 p1 gap -1 red 0 not_eligible | W 0.4/2 r0 p1 gap -0.2 red 0 not_eligible",
		"w11 suspect_steps | E 1/5 r0 p1 gap -2 red 0 not_eligible | W 0.2/1 r0 p1 gap -0.4 red 0 not_eligible",
		"w12 no_output | E -/- r0 p- gap - red - not_eligible | W -/- r0 p- gap - red - not_eligible",
	})
	for _, p := range b.Peers {
		if p.ID == "w06" && p.ValueAddedYuan != 25000 {
			t.Errorf("w06 value added %v, want 25000", p.ValueAddedYuan)
		}
	}
}

// TestLeadersValueAddedTopN: 10 workshops of class C1311 ranked per value added
// (output × rate), best 3. The ranking differs from the one per output value: f02 (6
// per output value, rate 0.4 → 15) beats f04 (4, rate 0.2 → 20).
func TestLeadersValueAddedTopN(t *testing.T) {
	r := DefaultLeaderRule()
	r.Basis, r.Top = BasisValueAdded, 3
	f09 := peer("f09", 100000, 10, nan, 0.5)
	f09.Coverage, f09.Conflict, f09.Suspect = 0.5, true, 1
	peers := []Peer{
		peer("f01", 200000, 100, 20, 0.25), // 5 per output value, 20 per value added; water 1 / 4
		peer("f02", 200000, 120, 40, 0.4),  // 6, 15; water 2 / 5
		peer("f03", 100000, 80, nan, 0.5),  // 8, 16
		peer("f04", 100000, 40, nan, 0.2),  // 4, 20
		peer("f05", 150000, 90, nan, 0.3),  // 6, 20
		peer("f06", 100000, 30, nan, 0),    // 3, no rate: not ranked per value added
		peer("f07", 100000, 150, nan, 0.3), // 15, 50
		peer("f08", 100000, 60, nan, 0.25), // 6, 24
		f09,                                // 1, 2: low coverage, conflict, suspect
		peer("f10", 100000, 70, nan, 0.7),  // 7, 10
	}
	b := r.Rank(peers)
	// Ranked per value added: 10 15 16 20 20 20 24 50 → median 20, the 3rd best 16.
	if want := (Benchmark{Ranked: 8, Leaders: 3, LeadersWanted: 3, Median: 20, Threshold: 16}); !sameBM(b.Energy, want) {
		t.Errorf("energy benchmark %+v, want %+v", b.Energy, want)
	}
	// Water: two ranked, fewer than min_peers 3: median, ranks and percentiles, no threshold.
	if want := (Benchmark{Ranked: 2, Median: 4.5, Threshold: nan}); !sameBM(b.Water, want) {
		t.Errorf("water benchmark %+v, want %+v", b.Water, want)
	}
	checkLines(t, fmtBoard(b), []string{
		"f10 eligible | E 7/10 r1 p0.875 gap -6 red 0 leader | W -/- r0 p- gap - red - no_data",
		"f02 eligible | E 6/15 r2 p0.75 gap -1 red 0 leader | W 2/5 r2 p0 gap - red -",
		"f03 eligible | E 8/16 r3 p0.625 gap 0 red 0 leader | W -/- r0 p- gap - red - no_data",
		"f01 eligible | E 5/20 r4 p0.25 gap 4 red 0.2 | W 1/4 r1 p0.5 gap - red -",
		"f04 eligible | E 4/20 r4 p0.25 gap 4 red 0.2 | W -/- r0 p- gap - red - no_data",
		"f05 eligible | E 6/20 r4 p0.25 gap 4 red 0.2 | W -/- r0 p- gap - red - no_data",
		"f08 eligible | E 6/24 r7 p0.125 gap 8 red 0.333333333 | W -/- r0 p- gap - red - no_data",
		"f07 eligible | E 15/50 r8 p0 gap 34 red 0.68 | W -/- r0 p- gap - red - no_data",
		"f06 eligible | E 3/- r0 p- gap - red - no_value_added_rate | W -/- r0 p- gap - red - no_data",
		"f09 low_coverage,conflict,suspect_steps | E 1/2 r0 p1 gap -14 red 0 not_eligible | W -/- r0 p- gap - red - not_eligible",
	})
}

// TestLeadersShareRounding: 30 workshops of class D4411 with energy intensities 1…30
// per output value: 10 % of 30 is 3 (0.1 × 30 is 3.0000000000000004 in floating point,
// which must not make 4 leaders). A share of 0.25 gives ceil(7.5) = 8.
func TestLeadersShareRounding(t *testing.T) {
	var peers []Peer
	for i := 30; i >= 1; i-- {
		peers = append(peers, peer(fmt.Sprintf("d%02d", i), 10000, float64(i), nan, 0.286))
	}
	r := DefaultLeaderRule()
	b := r.Rank(peers)
	if want := (Benchmark{Ranked: 30, Leaders: 3, LeadersWanted: 3, Median: 15.5, Threshold: 3}); !sameBM(b.Energy, want) {
		t.Errorf("energy benchmark %+v, want %+v", b.Energy, want)
	}
	if p := b.Peers[0]; p.ID != "d01" || p.Energy.Rank != 1 || p.Energy.Percentile != 0.966666667 || !p.Energy.Leader {
		t.Errorf("best: %s %s", p.ID, fmtStanding(p.Energy))
	}
	if p := b.Peers[29]; p.ID != "d30" || p.Energy.Rank != 30 || p.Energy.Percentile != 0 || p.Energy.Gap != 27 || p.Energy.Reduction != 0.9 {
		t.Errorf("worst: %s %s", p.ID, fmtStanding(p.Energy))
	}
	if b.Water.Ranked != 0 || !math.IsNaN(b.Water.Median) || !math.IsNaN(b.Water.Threshold) {
		t.Errorf("water benchmark %+v", b.Water)
	}
	r.Share = 0.25
	if b := r.Rank(peers); b.Energy.LeadersWanted != 8 || b.Energy.Threshold != 8 || b.Energy.Leaders != 8 {
		t.Errorf("share 0.25: %+v", b.Energy)
	}
	r.Top = 50 // more than ranked: all of them
	if b := r.Rank(peers); b.Energy.LeadersWanted != 30 || b.Energy.Threshold != 30 || b.Energy.Leaders != 30 {
		t.Errorf("top 50: %+v", b.Energy)
	}
	if b := r.Rank(nil); b.Energy.Ranked != 0 || len(b.Peers) != 0 || !math.IsNaN(b.Energy.Threshold) {
		t.Errorf("empty board %+v", b)
	}
}

func TestEnterprisePeer(t *testing.T) {
	a := peer("a", 100000, 50, nan, 0)
	a.Coverage, a.Suspect = 0.95, 0
	b := peer("b", 50000, 30, 4, 0)
	b.Coverage, b.Conflict = 0.92, true
	p := EnterprisePeer("E1", 0.3, []Peer{a, b})
	// a has no water meter: the enterprise's water would be diluted by a's output.
	want := Peer{ID: "E1", EnergyKgce: 80, WaterM3: nan, OutputValueYuan: 150000, ValueAddedRate: 0.3, Coverage: 0.92, Conflict: true, Suspect: 0}
	if p.ID != want.ID || p.EnergyKgce != 80 || !math.IsNaN(p.WaterM3) || p.OutputValueYuan != 150000 || p.ValueAddedRate != 0.3 ||
		p.Coverage != 0.92 || !p.Conflict || p.Suspect != 0 {
		t.Errorf("EnterprisePeer = %+v, want %+v", p, want)
	}
	a.WaterM3 = 6
	if p := EnterprisePeer("E1", 0.3, []Peer{a, b}); p.WaterM3 != 10 {
		t.Errorf("EnterprisePeer water = %v, want 10", p.WaterM3)
	}
	c := peer("c", 100000, 1, 1, 0)
	c.Coverage = nan // no data: the enterprise is not covered
	if p := EnterprisePeer("E2", 0, []Peer{a, c}); p.Coverage != 0 || p.Suspect != 0 || p.EnergyKgce != 51 {
		t.Errorf("EnterprisePeer with an uncovered workshop = %+v", p)
	}
	if p := EnterprisePeer("E3", 0, nil); p.Coverage != 0 || !math.IsNaN(p.EnergyKgce) || !math.IsNaN(p.Suspect) {
		t.Errorf("EnterprisePeer without workshops = %+v", p)
	}
}

func TestLeaderRuleValidate(t *testing.T) {
	r := DefaultLeaderRule()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	r = LeaderRule{Share: 0, Top: -1, MinCoverage: 1.5, MinPeers: 0, Basis: "parts"}
	want := `rules.leaders.share: 0 not in (0, 1]
rules.leaders.top: -1 is negative
rules.leaders.min_coverage: 1.5 not in [0, 1]
rules.leaders.min_peers: 0 is less than 1
rules.leaders.basis: "parts" is not output_value or value_added`
	if err := r.Validate(); err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	r = DefaultLeaderRule()
	r.Share = math.NaN()
	if err := r.Validate(); err == nil || err.Error() != "rules.leaders.share: NaN not in (0, 1]" {
		t.Errorf("NaN share: %v", err)
	}
}

// TestPerValueAdded: three workshops, rates 0.2, 0.25 and unknown. Value added 200 000
// × 0.2 + 100 000 × 0.25 = 65 000 yuan; energy (100 + 50) kgce ÷ 6.5 = 23.0769…; water
// only from the first: 20 m³ ÷ 4 = 5. The third (no rate) and the one without windows
// count in no value-added figure.
func TestPerValueAdded(t *testing.T) {
	a, b, c, d := shop(24, 1, 1, 1, 1, 1, 0), shop(24, 1, 1, 1, 1, 1, 0), shop(24, 1, 1, 1, 1, 1, 0), shop(0, 0, 0, 0, 0, 0, 0)
	a.OutputValueYuan, a.EnergyKgce, a.WaterM3 = 200000, 100, 20
	b.OutputValueYuan, b.EnergyKgce = 100000, 50
	c.OutputValueYuan, c.EnergyKgce, c.WaterM3 = 100000, 999, 999
	va, e, w := PerValueAdded([]*WorkshopStats{a, b, c, d, nil}, []float64{0.2, 0.25, 0, 0.3, 0.3})
	if va != 65000 || e != 150/6.5 || w != 5 {
		t.Errorf("PerValueAdded = %v, %v, %v; want 65000, %v, 5", va, e, w, 150/6.5)
	}
	va, e, w = PerValueAdded([]*WorkshopStats{c}, []float64{0})
	if !math.IsNaN(va) || !math.IsNaN(e) || !math.IsNaN(w) {
		t.Errorf("PerValueAdded without rates = %v, %v, %v; want NaN", va, e, w)
	}
}

// BenchmarkRank ranks one industry of 10 000 workshops.
func BenchmarkRank(b *testing.B) {
	peers := make([]Peer, 10000)
	for i := range peers {
		peers[i] = peer(fmt.Sprintf("w%05d", i), 100000, float64((i*7919)%10000), float64(i%97), 0.2)
	}
	r := DefaultLeaderRule()
	b.ReportAllocs()
	for b.Loop() {
		r.Rank(peers)
	}
}
