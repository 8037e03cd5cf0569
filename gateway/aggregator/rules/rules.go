// Package rules applies the programme rules (万千百十) and computes the roll-ups from
// per-workshop statistics and the registry. It is pure: callers pass the statistics
// read from the TSDB and get plain values back.
package rules

import (
	"errors"
	"fmt"
	"math"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/schema"
)

// Config holds the thresholds and targets. The defaults and their sources are in
// docs/aggregator.md.
type Config struct {
	// DigitalEquipmentRatio: digital equipment ÷ all equipment, default 0.70
	// (GB/T 37393-2019 §6.1).
	DigitalEquipmentRatio float64 `yaml:"digital_equipment_ratio"`
	// CNCRate: numerically controlled key-process equipment ÷ key-process equipment,
	// default 0.60.
	CNCRate float64 `yaml:"cnc_rate"`
	// NetworkedRate: equipment with good data ÷ digital equipment over the period,
	// default 0.90.
	NetworkedRate float64 `yaml:"networked_rate"`
	// DataCoverage: the share of the period for which the workshop's gateway delivered
	// data (WorkshopStats.Coverage), default 0.90.
	DataCoverage float64 `yaml:"data_coverage"`
	// BaseMinDigitalWorkshops: digital workshops a designated base needs, default 5.
	BaseMinDigitalWorkshops int `yaml:"base_min_digital_workshops"`
	// EnergyIntensityChange and WaterIntensityChange are the targets for the change of
	// intensity per 10 000 yuan against the baseline year: −0.18 and −0.10.
	EnergyIntensityChange float64 `yaml:"energy_intensity_change"`
	WaterIntensityChange  float64 `yaml:"water_intensity_change"`
	// Targets apply to provinces whose registry entry gives none: 10 000 smart
	// equipment units, 1 000 digital workshops, 100 makers, 10 bases.
	Targets registry.Targets `yaml:"targets"`
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		DigitalEquipmentRatio:   0.70,
		CNCRate:                 0.60,
		NetworkedRate:           0.90,
		DataCoverage:            0.90,
		BaseMinDigitalWorkshops: 5,
		EnergyIntensityChange:   -0.18,
		WaterIntensityChange:    -0.10,
		Targets:                 registry.Targets{SmartEquipment: 10000, DigitalWorkshops: 1000, SmartEquipmentMakers: 100, SmartBases: 10},
	}
}

// Validate checks ranges; errors name the YAML key under "rules".
func (c *Config) Validate() error {
	var errs []error
	ratio := func(name string, v float64) {
		if !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("rules.%s: %v not in [0, 1]", name, v))
		}
	}
	ratio("digital_equipment_ratio", c.DigitalEquipmentRatio)
	ratio(schema.FieldCNCRate, c.CNCRate)
	ratio(schema.FieldNetworkedRate, c.NetworkedRate)
	ratio("data_coverage", c.DataCoverage)
	if c.BaseMinDigitalWorkshops < 1 {
		errs = append(errs, fmt.Errorf("rules.base_min_digital_workshops: %d is less than 1", c.BaseMinDigitalWorkshops))
	}
	change := func(name string, v float64) {
		if !(v > -1 && v <= 0) {
			errs = append(errs, fmt.Errorf("rules.%s: %v not in (-1, 0]", name, v))
		}
	}
	change(schema.FieldEnergyIntensityChange, c.EnergyIntensityChange)
	change(schema.FieldWaterIntensityChange, c.WaterIntensityChange)
	t := c.Targets
	for _, x := range []struct {
		name string
		v    float64
	}{{schema.FieldSmartEquipment, t.SmartEquipment}, {schema.FieldDigitalWorkshops, t.DigitalWorkshops},
		{schema.FieldSmartEquipmentMakers, t.SmartEquipmentMakers}, {schema.FieldSmartBases, t.SmartBases}} {
		if !(x.v >= 0) || math.IsInf(x.v, 0) {
			errs = append(errs, fmt.Errorf("rules.targets.%s: %v is negative", x.name, x.v))
		}
	}
	return errors.Join(errs...)
}

// WorkshopStats are one workshop's workshop_kpi aggregates over a period (or one
// bucket of it). NaN marks a value the workshop did not report.
type WorkshopStats struct {
	// Windows is the number of KPI windows reported (points with equipment_total).
	Windows float64
	// Inventory counts: the newest values in the period.
	EquipmentTotal, EquipmentKey, EquipmentCNCKey, EquipmentDigital float64
	// Networked and DigitalWindows are Σ equipment_networked and Σ equipment_digital
	// over the windows: their ratio is the networking rate over the period.
	Networked, DigitalWindows float64
	// SmartInService is the number of distinct smart-tagged devices online in the
	// period; for workshops without smart-tagged device data, the largest
	// smart_equipment_in_service of any window.
	SmartInService float64
	// Sums over the windows.
	Parts, OutputValueYuan, EnergyKWh, EnergyKgce, WaterM3 float64
	// Suspect is Σ suspect: the counter steps the gateway did not book (glitches and
	// implausible increases) in the windows.
	Suspect float64
	// UnknownS and StateS are Σ device_kpi unknown_s and Σ of all device_kpi state
	// seconds of the workshop's devices (NaN: none); see Coverage.
	UnknownS, StateS float64
}

// NoData returns the statistics of a workshop that reported nothing.
func NoData() *WorkshopStats {
	n := math.NaN()
	return &WorkshopStats{EquipmentTotal: n, EquipmentKey: n, EquipmentCNCKey: n, EquipmentDigital: n,
		Networked: n, DigitalWindows: n, SmartInService: n, Parts: n, OutputValueYuan: n, EnergyKWh: n,
		EnergyKgce: n, WaterM3: n, Suspect: n, UnknownS: n, StateS: n}
}

// Criterion names, in the order Qualify returns them.
const (
	CritDigitalEquipmentRatio = "digital_equipment_ratio"
	CritCNCRate               = schema.FieldCNCRate
	CritNetworkedRate         = schema.FieldNetworkedRate
	CritDataCoverage          = "data_coverage"
)

// Criterion is one digital-workshop criterion for one workshop: the value (NaN when it
// cannot be computed, with Reason saying why), the threshold, whether it is met and the
// margin value − threshold (negative: missed by that much).
type Criterion struct {
	Name      string
	Value     float64
	Threshold float64
	Met       bool
	Margin    float64
	Reason    string
}

// Qualification is a workshop's result against the digital-workshop criteria.
type Qualification struct {
	Qualified bool
	Criteria  []Criterion
	// Missed names the criteria not met, in order.
	Missed []string
}

// Round9 rounds a ratio to 9 decimal places. Ratios, changes and margins are reported
// rounded so that float noise neither shows (0.8 − 0.7 is 0.1, not 0.10000000000000009)
// nor decides a criterion (63 of 70 devices networked is exactly 0.9 and meets 0.9).
func Round9(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	return math.Round(x*1e9) / 1e9
}

// ratio returns num ÷ den rounded by Round9, NaN when it cannot be computed.
func ratio(num, den float64) float64 {
	if math.IsNaN(num) || math.IsNaN(den) || den == 0 {
		return math.NaN()
	}
	return Round9(num / den)
}

// Qualify applies the digital-workshop criteria to s; expected is the number of KPI
// windows in the period.
func (c *Config) Qualify(s *WorkshopStats, expected int) Qualification {
	crit := func(name string, v, threshold float64, reason string) Criterion {
		cr := Criterion{Name: name, Value: v, Threshold: threshold, Margin: math.NaN()}
		if math.IsNaN(v) {
			cr.Reason = reason
			if s.Windows == 0 {
				cr.Reason = "no data in the period"
			}
			return cr
		}
		cr.Margin = Round9(v - threshold)
		cr.Met = cr.Margin >= 0
		return cr
	}
	coverage := s.Coverage(expected)
	q := Qualification{Criteria: []Criterion{
		crit(CritDigitalEquipmentRatio, ratio(s.EquipmentDigital, s.EquipmentTotal), c.DigitalEquipmentRatio, "empty inventory"),
		crit(CritCNCRate, ratio(s.EquipmentCNCKey, s.EquipmentKey), c.CNCRate, "no key-process equipment"),
		crit(CritNetworkedRate, ratio(s.Networked, s.DigitalWindows), c.NetworkedRate, "no digital equipment"),
		crit(CritDataCoverage, coverage, c.DataCoverage, "empty period"),
	}}
	q.Qualified = true
	for _, cr := range q.Criteria {
		if !cr.Met {
			q.Qualified = false
			q.Missed = append(q.Missed, cr.Name)
		}
	}
	return q
}
