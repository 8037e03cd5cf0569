package aggregator

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/service"
	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestLeadersWriteBack: one write-back round over the leaders registry (30 workshops
// in 3 industries, province 360000) writes industry_benchmark per class and metric and
// workshop_benchmark per ranked or ineligible workshop to VictoriaMetrics, with the
// figures of TestLeaders (checkLeaders) computed by hand.
func TestLeadersWriteBack(t *testing.T) {
	dir := t.TempDir()
	writeLeaders(t, dir)
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", leaderLines())
	vm.Flush()
	a, _, _ := startApp(t, dir, fmt.Sprintf("backend: {type: promql, url: %q}\n", vm.URL))
	w, err := service.NewWriter(service.WriterConfig{URL: vm.URL, Bucket: "ganlink"})
	if err != nil {
		t.Fatal(err)
	}
	// The clock is 2024-05-02 00:10: the period is 2024-05-01, stamped with its end.
	if err := a.Service().WriteBackOnce(context.Background(), w, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	ts := day.Add(24 * time.Hour).UnixMilli()
	keys := func(selector string) []string {
		var out []string
		for _, s := range vm.Export(selector) {
			out = append(out, s.Key())
		}
		sort.Strings(out)
		return out
	}

	// Province-wide: C1311 ranks f01–f08 and f10 (4 6 … 20, f09 covered half the day):
	// median 12, the best ⌈0.1 × 9⌉ = 1 at 4; water ÷ 16. C3071 ranks g01–g07 (40 …
	// 16; g08 has no output): median 28, threshold 16. C3421 as in checkLeaders: s02
	// and s04 tie at the threshold 12; s12 has no water meter (8 ranked).
	var want []string
	ind := func(class, metric string, ranked, leaders int, median, threshold float64) {
		tags := fmt.Sprintf("{industry=%s,metric=%s,region=360000} %d=", class, metric, ts)
		want = append(want, "industry_benchmark_ranked"+tags+fmt.Sprint(ranked), "industry_benchmark_leaders"+tags+fmt.Sprint(leaders),
			fmt.Sprintf("industry_benchmark_median%s%g", tags, median), fmt.Sprintf("industry_benchmark_threshold%s%g", tags, threshold))
	}
	ind("C1311", "energy", 9, 1, 12, 4)
	ind("C1311", "water", 9, 1, 0.75, 0.25)
	ind("C3071", "energy", 7, 1, 28, 16)
	ind("C3071", "water", 7, 1, 1.75, 1)
	ind("C3421", "energy", 9, 2, 20, 12)
	ind("C3421", "water", 8, 2, 1.1875, 0.75)
	sort.Strings(want)
	if got := keys(`{__name__=~"industry_benchmark_.*"}`); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("industry_benchmark:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// C3421's workshops: eligibility, then per metric intensity, percentile, rank (0:
	// not ranked, no field), gap and leader (ranked only); "" leaves the metric out.
	want = nil
	// Every C3421 workshop also carries the class's medians and thresholds.
	bench := map[string][2]float64{"energy": {20, 12}, "water": {1.1875, 0.75}}
	shop := func(id, ent, region string, eligible int, energy, water string) {
		tags := fmt.Sprintf("{enterprise=%s,industry=C3421,region=%s,workshop=%s} %d=", leaderUSCC(ent), region, id, ts)
		want = append(want, fmt.Sprintf("workshop_benchmark_eligible%s%d", tags, eligible))
		for metric, v := range map[string]string{"energy": energy, "water": water} {
			want = append(want, fmt.Sprintf("workshop_benchmark_%s_median%s%g", metric, tags, bench[metric][0]),
				fmt.Sprintf("workshop_benchmark_%s_threshold%s%g", metric, tags, bench[metric][1]))
			if v == "" {
				continue
			}
			var intensity, percentile, gap float64
			var rank, leader int
			if _, err := fmt.Sscanf(v, "%g %g %d %g %d", &intensity, &percentile, &rank, &gap, &leader); err != nil {
				t.Fatalf("%s %q: %v", id, v, err)
			}
			want = append(want, fmt.Sprintf("workshop_benchmark_%s_intensity%s%g", metric, tags, intensity),
				fmt.Sprintf("workshop_benchmark_%s_percentile%s%g", metric, tags, percentile),
				fmt.Sprintf("workshop_benchmark_%s_gap%s%g", metric, tags, gap))
			if rank > 0 {
				want = append(want, fmt.Sprintf("workshop_benchmark_%s_rank%s%d", metric, tags, rank),
					fmt.Sprintf("workshop_benchmark_%s_leader%s%d", metric, tags, leader))
			}
		}
	}
	shop("s01", "E1", "360100", 1, "20 0.444444444 5 8 0", "1.25 0.375 5 0.5 0")
	shop("s02", "E1", "360100", 1, "12 0.777777778 1 0 1", "0.75 0.75 1 0 1")
	shop("s03", "E1", "360100", 1, "16 0.666666667 3 4 0", "1 0.625 3 0.25 0")
	shop("s04", "E1", "360100", 1, "12 0.777777778 1 0 1", "0.75 0.75 1 0 1")
	shop("s05", "E1", "360100", 0, "30 0 0 18 0", "1.875 0 0 1.125 0")
	shop("s06", "E2", "360200", 1, "24 0.222222222 7 12 0", "1.5 0.125 7 0.75 0")
	shop("s07", "E2", "360200", 0, "10 1 0 -2 0", "0.625 1 0 -0.125 0")
	shop("s08", "E2", "360200", 1, "28 0 9 16 0", "1.75 0 8 1 0")
	shop("s09", "E2", "360200", 0, "8 1 0 -4 0", "0.5 1 0 -0.25 0")
	shop("s10", "E3", "360100", 1, "18 0.555555556 4 6 0", "1.125 0.5 4 0.375 0")
	shop("s11", "E3", "360100", 1, "22 0.333333333 6 10 0", "1.375 0.25 6 0.625 0")
	shop("s12", "E3", "360100", 1, "26 0.111111111 8 14 0", "")
	sort.Strings(want)
	if got := keys(`{__name__=~"workshop_benchmark_.*",industry="C3421"}`); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("workshop_benchmark C3421:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// g08 (no output value) is ineligible without any intensity: eligible = 0 and its
	// class's figures (C3071: energy median 28, threshold 16; water ÷ 16).
	gw := fmt.Sprintf("{enterprise=%s,industry=C3071,region=360200,workshop=g08} %d=", leaderUSCC("G2"), ts)
	want = []string{"workshop_benchmark_eligible" + gw + "0", "workshop_benchmark_energy_median" + gw + "28",
		"workshop_benchmark_energy_threshold" + gw + "16", "workshop_benchmark_water_median" + gw + "1.75",
		"workshop_benchmark_water_threshold" + gw + "1"}
	sort.Strings(want)
	if got := keys(`{__name__=~"workshop_benchmark_.*",workshop="g08"}`); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("workshop_benchmark g08:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every workshop here is ranked or ineligible: 30 points; workshop_info carries the
	// class (E2 registered "3421", canonical C3421).
	if got := vm.Export(`workshop_benchmark_eligible`); len(got) != 30 {
		t.Errorf("%d workshop_benchmark points, want 30", len(got))
	}
	if got := vm.Export(`workshop_info_registered{workshop="s06"}`); len(got) != 1 || got[0].Labels["industry"] != "C3421" {
		t.Errorf("workshop_info s06: %+v", got)
	}

	// The same round into InfluxDB 1.8: measurements, tags and fields as above.
	in := testsrv.StartInflux(t, "ganlink")
	iw, err := service.NewWriter(service.WriterConfig{URL: in.URL, Bucket: "ganlink"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Service().WriteBackOnce(context.Background(), iw, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	res := in.Query("ganlink", `SELECT ranked, leaders, median, threshold FROM industry_benchmark WHERE industry = 'C3421' AND region = '360000' GROUP BY metric`)
	var rows []string
	for _, r := range res {
		rows = append(rows, fmt.Sprint(r.Tags["metric"], r.Values))
	}
	its := float64(ts) // epoch ms, a JSON number
	if want := fmt.Sprintf("energy[[%v 9 2 20 12]]|water[[%v 8 2 1.1875 0.75]]", its, its); strings.Join(rows, "|") != want {
		t.Errorf("influx industry_benchmark: %s, want %s", strings.Join(rows, "|"), want)
	}
	res = in.Query("ganlink", `SELECT eligible, energy_intensity, energy_rank, energy_leader, energy_median, energy_threshold, water_rank FROM workshop_benchmark WHERE workshop = 's04'`)
	if len(res) != 1 || fmt.Sprint(res[0].Values) != fmt.Sprintf("[[%v 1 12 1 1 20 12 1]]", its) {
		t.Errorf("influx workshop_benchmark s04: %+v", res)
	}
}

// TestLeadersWriteBackValueAdded: with rules.leaders basis value_added and top 3, the
// written intensities, medians and thresholds are per 10 000 yuan of value added (E1
// × 4, E2 and E3 × 5: 48 48 64 80 90 110 120 130 140 as in TestLeadersRule).
func TestLeadersWriteBackValueAdded(t *testing.T) {
	dir := t.TempDir()
	writeLeaders(t, dir)
	vm := testsrv.StartVictoria(t)
	post(t, vm.URL+"/api/v2/write?bucket=ganlink", leaderLines())
	vm.Flush()
	a, _, _ := startApp(t, dir, fmt.Sprintf("backend: {type: promql, url: %q}\nrules: {leaders: {top: 3, basis: value_added}}\n", vm.URL))
	w, err := service.NewWriter(service.WriterConfig{URL: vm.URL, Bucket: "ganlink"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Service().WriteBackOnce(context.Background(), w, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	ts := day.Add(24 * time.Hour).UnixMilli()
	var got []string
	for _, sel := range []string{`{__name__=~"industry_benchmark_.*",industry="C3421",metric="energy"}`,
		`{__name__=~"workshop_benchmark_energy_.*",workshop=~"s03|s10"}`} {
		for _, s := range vm.Export(sel) {
			got = append(got, s.Key())
		}
	}
	sort.Strings(got)
	ib := fmt.Sprintf("{industry=C3421,metric=energy,region=360000} %d=", ts)
	s03 := fmt.Sprintf("{enterprise=%s,industry=C3421,region=360100,workshop=s03} %d=", leaderUSCC("E1"), ts)
	s10 := fmt.Sprintf("{enterprise=%s,industry=C3421,region=360100,workshop=s10} %d=", leaderUSCC("E3"), ts)
	want := []string{"industry_benchmark_leaders" + ib + "3", "industry_benchmark_median" + ib + "90", "industry_benchmark_ranked" + ib + "9",
		"industry_benchmark_threshold" + ib + "64",
		"workshop_benchmark_energy_gap" + s03 + "0", "workshop_benchmark_energy_intensity" + s03 + "64", "workshop_benchmark_energy_leader" + s03 + "1",
		"workshop_benchmark_energy_median" + s03 + "90", "workshop_benchmark_energy_percentile" + s03 + "0.666666667",
		"workshop_benchmark_energy_rank" + s03 + "3", "workshop_benchmark_energy_threshold" + s03 + "64",
		"workshop_benchmark_energy_gap" + s10 + "26", "workshop_benchmark_energy_intensity" + s10 + "90", "workshop_benchmark_energy_leader" + s10 + "0",
		"workshop_benchmark_energy_median" + s10 + "90", "workshop_benchmark_energy_percentile" + s10 + "0.444444444",
		"workshop_benchmark_energy_rank" + s10 + "5", "workshop_benchmark_energy_threshold" + s10 + "64"}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("value added:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
