package rules

import (
	"math"
	"os"
	"reflect"
	"testing"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
)

var nan = math.NaN()

// shop builds statistics for windows reported windows of a workshop with a fixed
// inventory and networked devices per window.
func shop(windows, total, key, cnc, digital, networked, smart float64) *WorkshopStats {
	s := NoData()
	s.Windows = windows
	if windows == 0 {
		return s
	}
	s.EquipmentTotal, s.EquipmentKey, s.EquipmentCNCKey, s.EquipmentDigital = total, key, cnc, digital
	s.Networked, s.DigitalWindows, s.SmartInService = networked*windows, digital*windows, smart
	return s
}

func same(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func TestQualify(t *testing.T) {
	c := Default()
	type crit struct {
		value, margin float64
		met           bool
		reason        string
	}
	tests := []struct {
		name     string
		s        *WorkshopStats
		expected int
		want     []crit
		missed   []string
	}{
		{"qualified", shop(24, 20, 10, 7, 16, 15, 3), 24, []crit{
			{0.8, 0.8 - 0.7, true, ""}, {0.7, 0.7 - 0.6, true, ""}, {0.9375, 0.9375 - 0.9, true, ""}, {1, 1 - 0.9, true, ""},
		}, nil},
		{"exactly at thresholds", shop(9, 10, 10, 6, 7, 6.3, 0), 10, []crit{
			{0.7, 0, true, ""}, {0.6, 0, true, ""}, {0.9, 0.9 - 0.9, true, ""}, {0.9, 0, true, ""},
		}, nil},
		{"misses cnc and coverage", shop(20, 20, 10, 5, 16, 16, 0), 24, []crit{
			{0.8, 0.8 - 0.7, true, ""}, {0.5, 0.5 - 0.6, false, ""}, {1, 1 - 0.9, true, ""}, {0.833333333, -0.066666667, false, ""},
		}, []string{CritCNCRate, CritDataCoverage}},
		{"no key equipment, no digital", shop(24, 5, 0, 0, 0, 0, 0), 24, []crit{
			{0, -0.7, false, ""}, {nan, nan, false, "no key-process equipment"}, {nan, nan, false, "no digital equipment"}, {1, 1 - 0.9, true, ""},
		}, []string{CritDigitalEquipmentRatio, CritCNCRate, CritNetworkedRate}},
		{"no data", shop(0, 0, 0, 0, 0, 0, 0), 24, []crit{
			{nan, nan, false, "no data in the period"}, {nan, nan, false, "no data in the period"},
			{nan, nan, false, "no data in the period"}, {0, -0.9, false, ""},
		}, []string{CritDigitalEquipmentRatio, CritCNCRate, CritNetworkedRate, CritDataCoverage}},
	}
	names := []string{CritDigitalEquipmentRatio, CritCNCRate, CritNetworkedRate, CritDataCoverage}
	thresholds := []float64{0.7, 0.6, 0.9, 0.9}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := c.Qualify(tt.s, tt.expected)
			if q.Qualified != (len(tt.missed) == 0) || !reflect.DeepEqual(q.Missed, tt.missed) {
				t.Errorf("qualified %v missed %v, want missed %v", q.Qualified, q.Missed, tt.missed)
			}
			for i, w := range tt.want {
				g := q.Criteria[i]
				if g.Name != names[i] || g.Threshold != thresholds[i] || !same(g.Value, w.value) || !same(g.Margin, w.margin) ||
					g.Met != w.met || g.Reason != w.reason {
					t.Errorf("criterion %d = %+v, want %s %+v", i, g, names[i], w)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.CNCRate = 1.5
	c.DataCoverage = nan
	c.BaseMinDigitalWorkshops = 0
	c.EnergyIntensityChange = 0.18
	c.Targets.SmartBases = -1
	want := "rules.cnc_rate: 1.5 not in [0, 1]\nrules.data_coverage: NaN not in [0, 1]\n" +
		"rules.base_min_digital_workshops: 0 is less than 1\nrules.energy_intensity_change: 0.18 not in (-1, 0]\n" +
		"rules.targets.smart_bases: -1 is negative"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate =\n%v\nwant\n%s", err, want)
	}
}

const testRegistry = `regions:
  - code: "360000"
    name: 江西省
    baseline: {year: 2020, energy_kgce_per_10k_yuan: 400, water_m3_per_10k_yuan: 10}
  - {code: "360100", name: 南昌市, targets: {smart_equipment: 3000, digital_workshops: 300, smart_equipment_makers: 30, smart_bases: 3}}
  - {code: "360102", name: 东湖区}
  - {code: "360200", name: 景德镇市}
parks:
  - {id: base1, name: 基地一, region: "360100", designated_base: true}
  - {id: base2, name: 基地二, region: "360200", designated_base: true}
  - {id: plain, name: 普通园区, region: "360200"}
enterprises:
  - {id: 91360100MA35HT001T, name: 甲, region: "360102", park: base1, smart_equipment_maker: true, vendors: [jia, 甲牌]}
  - {id: 91360200MA35JD001R, name: 乙, park: base2, smart_equipment_maker: true}
  - {id: 91360400MA35JJ0018, name: 丙, park: plain, smart_equipment_maker: true}
  - {id: 91360100MA35XXXX0W, name: 丁, region: "360200"}
workshops:
  - {id: a1, name: a1, enterprise: 91360100MA35HT001T}
  - {id: a2, name: a2, enterprise: 91360100MA35HT001T}
  - {id: a3, name: a3, enterprise: 91360100MA35HT001T}
  - {id: b1, name: b1, enterprise: 91360200MA35JD001R}
  - {id: b2, name: b2, enterprise: 91360200MA35JD001R}
  - {id: c1, name: c1, enterprise: 91360400MA35JJ0018}
  - {id: d1, name: d1, enterprise: 91360100MA35XXXX0W}
`

func loadTestRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	r, err := registry.Parse("r.yaml", []byte(testRegistry), func(n string) (string, []byte, error) { return n, nil, os.ErrNotExist })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEvaluate(t *testing.T) {
	reg := loadTestRegistry(t)
	c := Default()
	c.BaseMinDigitalWorkshops = 2
	good := func(smart float64) *WorkshopStats { return shop(24, 20, 10, 7, 16, 15, smart) }
	stats := map[string]*WorkshopStats{
		"a1": good(3), "a2": good(4), "a3": shop(24, 20, 10, 5, 16, 15, 1), // a3 misses cnc
		"b1": good(2), "b2": shop(10, 20, 10, 7, 16, 15, 0), // b2 misses coverage
		"c1": good(5), "d1": good(0), "x9": good(7), // x9 unregistered
	}
	vendors := map[string]float64{"甲牌": 10, "91360200MA35JD001R": 0, "91360400MA35JJ0018": 3600, "stranger": 50}
	ev := c.Evaluate(reg, stats, vendors, 24)

	counts := map[string]Counts{}
	for code, k := range ev.ByRegion {
		counts[code] = *k
	}
	want := map[string]Counts{
		"360000": {SmartEquipment: 15, DigitalWorkshops: 5, SmartEquipmentMakers: 2, SmartBases: 1},
		"360100": {SmartEquipment: 8, DigitalWorkshops: 2, SmartEquipmentMakers: 1, SmartBases: 1},
		"360102": {SmartEquipment: 8, DigitalWorkshops: 2, SmartEquipmentMakers: 1},
		"360200": {SmartEquipment: 7, DigitalWorkshops: 3, SmartEquipmentMakers: 1},
	}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("counts = %+v\nwant %+v", counts, want)
	}
	if !reflect.DeepEqual(ev.Unregistered, []string{"x9"}) {
		t.Errorf("unregistered = %v", ev.Unregistered)
	}
	var makers []string
	for _, m := range ev.Makers {
		makers = append(makers, m.Enterprise.ID+" "+map[bool]string{true: "in service", false: "not"}[m.InService]+" "+
			func() string {
				s := ""
				for _, v := range m.Vendors {
					s += v + ";"
				}
				return s
			}())
	}
	wantMakers := []string{"91360100MA35HT001T in service 甲牌;", "91360200MA35JD001R not ", "91360400MA35JJ0018 in service 91360400MA35JJ0018;"}
	if !reflect.DeepEqual(makers, wantMakers) {
		t.Errorf("makers = %q", makers)
	}
	var bases []string
	for _, b := range ev.Bases {
		bases = append(bases, b.Park.ID)
		if b.Park.ID == "base1" && (b.DigitalWorkshops != 2 || !b.Qualified) || b.Park.ID == "base2" && (b.DigitalWorkshops != 1 || b.Qualified) {
			t.Errorf("base %+v", b)
		}
	}
	if !reflect.DeepEqual(bases, []string{"base1", "base2"}) {
		t.Errorf("bases = %v", bases)
	}
	var missed []string
	for _, w := range ev.Workshops {
		if !w.Qualified {
			missed = append(missed, w.Workshop.ID+":"+w.Missed[0])
		}
	}
	if !reflect.DeepEqual(missed, []string{"a3:cnc_rate", "b2:data_coverage"}) {
		t.Errorf("missed = %v", missed)
	}
	if tg := c.TargetsFor(reg.Region("360000")); *tg != c.Targets {
		t.Errorf("province targets = %+v", tg)
	}
	if tg := c.TargetsFor(reg.Region("360100")); tg.SmartBases != 3 {
		t.Errorf("city targets = %+v", tg)
	}
	if tg := c.TargetsFor(reg.Region("360200")); tg != nil {
		t.Errorf("city without targets = %+v", tg)
	}
}

func TestRollup(t *testing.T) {
	c := Default()
	a := shop(24, 20, 10, 7, 16, 15, 3)
	a.Parts, a.OutputValueYuan, a.EnergyKWh, a.EnergyKgce, a.WaterM3 = 2400, 480000, 240000, 29496, 120
	b := shop(12, 10, 4, 1, 8, 4, 1)
	b.Parts, b.OutputValueYuan, b.EnergyKWh, b.EnergyKgce = 100, 20000, 10000, 1229 // no water meter
	cc := shop(24, 6, 2, 2, 6, 6, 0)
	cc.EnergyKWh, cc.EnergyKgce, cc.WaterM3 = 5000, 614.5, 7.5 // no parts counter
	a.Suspect, b.Suspect = 3, 0                                // cc: none (NaN) is not summed
	k := c.Rollup([]*WorkshopStats{a, b, cc, nil, NoData()})
	want := KPI{Workshops: 5, Reporting: 3, EquipmentTotal: 36, EquipmentKey: 16, EquipmentCNCKey: 10, EquipmentDigital: 30,
		CNCRate: 0.625, NetworkedRate: 0.884615385 /* 552 ÷ 624 */, SmartEquipmentInService: 4,
		Parts: 2500, OutputValueYuan: 500000, EnergyKWh: 255000, EnergyTce: (29496 + 1229 + 614.5) / 1000, WaterM3: 127.5,
		SuspectSteps: 3, EnergyKgcePer10kYuan: (29496 + 1229) / (500000.0 / 1e4), WaterM3Per10kYuan: 120 / (480000.0 / 1e4),
		EnergyChange: nan, WaterChange: nan, EnergyTarget: -0.18, WaterTarget: -0.1}
	if !kpiEqual(k, want) {
		t.Errorf("rollup\n%+v\nwant\n%+v", k, want)
	}
	bl := &registry.Baseline{Year: 2020, EnergyKgcePer10kYuan: 800, WaterM3Per10kYuan: 2.5}
	k.CompareBaseline(bl, "360000")
	want.Baseline, want.BaselineRegion = bl, "360000"
	want.EnergyChange, want.EnergyMet = -0.231875, true // 614.5 / 800 − 1
	want.WaterChange, want.WaterMet = 0, false
	if !kpiEqual(k, want) {
		t.Errorf("with baseline\n%+v\nwant\n%+v", k, want)
	}
	empty := c.Rollup(nil)
	empty.CompareBaseline(bl, "360000")
	if empty.Reporting != 0 || !math.IsNaN(empty.CNCRate) || !math.IsNaN(empty.EnergyChange) || empty.EnergyMet || !math.IsNaN(empty.Parts) {
		t.Errorf("empty rollup %+v", empty)
	}
}

func kpiEqual(a, b KPI) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		x, y := va.Field(i), vb.Field(i)
		if x.Kind() == reflect.Float64 {
			if !same(x.Float(), y.Float()) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(x.Interface(), y.Interface()) {
			return false
		}
	}
	return true
}
