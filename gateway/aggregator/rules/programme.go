package rules

import (
	"math"
	"sort"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
)

// Counts are the programme figures (万千百十) of one region's subtree.
type Counts struct {
	// SmartEquipment (万): smart equipment units with good data in the period.
	SmartEquipment float64
	// DigitalWorkshops (千): workshops meeting every digital-workshop criterion.
	DigitalWorkshops int
	// SmartEquipmentMakers (百): registered makers with equipment in service.
	SmartEquipmentMakers int
	// SmartBases (十): designated bases with enough digital workshops.
	SmartBases int
}

// WorkshopResult is one registered workshop's statistics and qualification.
type WorkshopResult struct {
	Workshop *registry.Workshop
	Stats    *WorkshopStats
	Qualification
}

// MakerResult says whether a registered smart-equipment maker has equipment in service.
type MakerResult struct {
	Enterprise *registry.Enterprise
	InService  bool
	// Vendors are the maker's vendor names seen in service, sorted.
	Vendors []string
}

// BaseResult is a designated base's digital workshops.
type BaseResult struct {
	Park             *registry.Park
	DigitalWorkshops int
	Qualified        bool
}

// Evaluation is the programme over one period.
type Evaluation struct {
	// Workshops holds every registered workshop, sorted by id.
	Workshops []*WorkshopResult
	// Unregistered lists workshop tag values with data but no registry entry, sorted.
	Unregistered []string
	// Makers holds every registered smart-equipment maker, sorted by id.
	Makers []*MakerResult
	// Bases holds every designated base, sorted by id.
	Bases []*BaseResult
	// ByRegion maps every region code to its subtree's counts.
	ByRegion map[string]*Counts
}

// Evaluate applies the rules for a period: stats per workshop tag value, online seconds
// per device vendor tag value (a vendor is in service when > 0) and the number of KPI
// windows in the period.
func (c *Config) Evaluate(reg *registry.Registry, stats map[string]*WorkshopStats, vendorOnline map[string]float64, expected int) *Evaluation {
	ev := &Evaluation{ByRegion: map[string]*Counts{}}
	for _, r := range reg.Regions() {
		ev.ByRegion[r.Code] = &Counts{}
	}
	addUp := func(region string, f func(*Counts)) {
		for _, code := range reg.Ancestors(region) {
			f(ev.ByRegion[code])
		}
	}
	digitalByPark := map[string]int{}
	for _, w := range reg.Workshops() {
		s := stats[w.ID]
		if s == nil {
			s = NoData()
		}
		res := &WorkshopResult{Workshop: w, Stats: s, Qualification: c.Qualify(s, expected)}
		ev.Workshops = append(ev.Workshops, res)
		smart := s.SmartInService
		if math.IsNaN(smart) {
			smart = 0
		}
		addUp(w.Region, func(k *Counts) {
			k.SmartEquipment += smart
			if res.Qualified {
				k.DigitalWorkshops++
			}
		})
		if res.Qualified && w.Park != "" {
			digitalByPark[w.Park]++
		}
	}
	for id := range stats {
		if reg.Workshop(id) == nil {
			ev.Unregistered = append(ev.Unregistered, id)
		}
	}
	sort.Strings(ev.Unregistered)
	for _, e := range reg.Enterprises() {
		if !e.SmartEquipmentMaker {
			continue
		}
		m := &MakerResult{Enterprise: e}
		for _, v := range e.Vendors {
			if vendorOnline[v] > 0 {
				m.InService = true
				m.Vendors = append(m.Vendors, v)
			}
		}
		sort.Strings(m.Vendors)
		ev.Makers = append(ev.Makers, m)
		if m.InService {
			addUp(e.Region, func(k *Counts) { k.SmartEquipmentMakers++ })
		}
	}
	for _, p := range reg.Parks() {
		if !p.DesignatedBase {
			continue
		}
		b := &BaseResult{Park: p, DigitalWorkshops: digitalByPark[p.ID]}
		b.Qualified = b.DigitalWorkshops >= c.BaseMinDigitalWorkshops
		ev.Bases = append(ev.Bases, b)
		if b.Qualified {
			addUp(p.Region, func(k *Counts) { k.SmartBases++ })
		}
	}
	return ev
}

// TargetsFor returns the region's targets: its own from the registry, else the
// configured ones for a province, else nil.
func (c *Config) TargetsFor(r *registry.Region) *registry.Targets {
	if r.Targets != nil {
		return r.Targets
	}
	if r.Level == registry.Province {
		t := c.Targets
		return &t
	}
	return nil
}
