package rules

import (
	"math"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
)

// KPI is a roll-up over a set of workshops (a region's subtree, a park, an enterprise)
// for one period or bucket. NaN marks a figure that cannot be computed.
type KPI struct {
	// Workshops is the number of registered workshops in the set; Reporting those with
	// KPI windows in the period.
	Workshops, Reporting int
	// Inventory sums (newest values) and the rates weighted by them.
	EquipmentTotal, EquipmentKey, EquipmentCNCKey, EquipmentDigital float64
	// CNCRate = Σ equipment_cnc_key ÷ Σ equipment_key. Rates and changes are rounded
	// by Round9.
	CNCRate float64
	// NetworkedRate = Σ equipment_networked ÷ Σ equipment_digital over all windows.
	NetworkedRate float64
	// SmartEquipmentInService = Σ of each workshop's SmartInService.
	SmartEquipmentInService float64
	// Sums.
	Parts, OutputValueYuan, EnergyKWh, EnergyTce, WaterM3 float64
	// SuspectSteps = Σ of the reporting workshops' Suspect.
	SuspectSteps float64
	// Intensities per 10 000 yuan of output, over the workshops that report both the
	// quantity and a positive output value.
	EnergyKgcePer10kYuan, WaterM3Per10kYuan float64
	// Baseline is the baseline applied (nil when none), from region BaselineRegion.
	Baseline       *registry.Baseline
	BaselineRegion string
	// EnergyChange and WaterChange are intensity ÷ baseline − 1; the targets are the
	// configured changes; Met when change ≤ target.
	EnergyChange, EnergyTarget float64
	EnergyMet                  bool
	WaterChange, WaterTarget   float64
	WaterMet                   bool
}

// nsum adds b to a, where NaN means "none yet".
func nsum(a, b float64) float64 {
	switch {
	case math.IsNaN(b):
		return a
	case math.IsNaN(a):
		return b
	}
	return a + b
}

// Rollup aggregates the statistics of a set of workshops. nil entries are workshops
// without data.
func (c *Config) Rollup(stats []*WorkshopStats) KPI {
	n := math.NaN()
	k := KPI{Workshops: len(stats), EquipmentTotal: n, EquipmentKey: n, EquipmentCNCKey: n, EquipmentDigital: n,
		SmartEquipmentInService: n, Parts: n, OutputValueYuan: n, EnergyKWh: n, EnergyTce: n, WaterM3: n,
		SuspectSteps: n, EnergyTarget: c.EnergyIntensityChange, WaterTarget: c.WaterIntensityChange}
	networked, digitalW := n, n
	var eKgce, eValue, wM3, wValue float64
	var eAny, wAny bool
	for _, s := range stats {
		if s == nil || s.Windows == 0 {
			continue
		}
		k.Reporting++
		k.EquipmentTotal = nsum(k.EquipmentTotal, s.EquipmentTotal)
		k.EquipmentKey = nsum(k.EquipmentKey, s.EquipmentKey)
		k.EquipmentCNCKey = nsum(k.EquipmentCNCKey, s.EquipmentCNCKey)
		k.EquipmentDigital = nsum(k.EquipmentDigital, s.EquipmentDigital)
		networked = nsum(networked, s.Networked)
		digitalW = nsum(digitalW, s.DigitalWindows)
		k.SmartEquipmentInService = nsum(k.SmartEquipmentInService, s.SmartInService)
		k.Parts = nsum(k.Parts, s.Parts)
		k.OutputValueYuan = nsum(k.OutputValueYuan, s.OutputValueYuan)
		k.EnergyKWh = nsum(k.EnergyKWh, s.EnergyKWh)
		k.EnergyTce = nsum(k.EnergyTce, s.EnergyKgce)
		k.WaterM3 = nsum(k.WaterM3, s.WaterM3)
		k.SuspectSteps = nsum(k.SuspectSteps, s.Suspect)
		if s.OutputValueYuan > 0 {
			if !math.IsNaN(s.EnergyKgce) {
				eKgce += s.EnergyKgce
				eValue += s.OutputValueYuan
				eAny = true
			}
			if !math.IsNaN(s.WaterM3) {
				wM3 += s.WaterM3
				wValue += s.OutputValueYuan
				wAny = true
			}
		}
	}
	k.EnergyTce /= 1000
	k.CNCRate = ratio(k.EquipmentCNCKey, k.EquipmentKey)
	k.NetworkedRate = ratio(networked, digitalW)
	k.EnergyKgcePer10kYuan, k.WaterM3Per10kYuan = n, n
	if eAny {
		k.EnergyKgcePer10kYuan = eKgce / (eValue / 1e4)
	}
	if wAny {
		k.WaterM3Per10kYuan = wM3 / (wValue / 1e4)
	}
	k.EnergyChange, k.WaterChange = n, n
	return k
}

// CompareBaseline sets the change against the baseline b (from region code from).
func (k *KPI) CompareBaseline(b *registry.Baseline, from string) {
	if b == nil {
		return
	}
	k.Baseline, k.BaselineRegion = b, from
	if !math.IsNaN(k.EnergyKgcePer10kYuan) {
		k.EnergyChange = Round9(k.EnergyKgcePer10kYuan/b.EnergyKgcePer10kYuan - 1)
		k.EnergyMet = k.EnergyChange <= k.EnergyTarget
	}
	if !math.IsNaN(k.WaterM3Per10kYuan) {
		k.WaterChange = Round9(k.WaterM3Per10kYuan/b.WaterM3Per10kYuan - 1)
		k.WaterMet = k.WaterChange <= k.WaterTarget
	}
}
