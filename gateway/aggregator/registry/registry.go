// Package registry holds the province's hierarchy that telemetry cannot know: regions
// by GB/T 2260 code (province, city, county), parks and designated bases, enterprises
// (by unified social credit code, with the smart-equipment-maker flag) and workshops
// (matching the gateways' "workshop" tag), with baseline-year intensities per region.
//
// A Registry is loaded from one YAML file that may import enterprises and workshops from
// CSV files (Load); it is immutable and safe for concurrent use. A Store holds the
// current Registry and replaces it atomically on Reload.
package registry

import (
	"sort"
	"strconv"
)

// Baseline is a region's baseline-year intensity, the reference for the energy and
// water targets.
type Baseline struct {
	Year int `json:"year"`
	// EnergyKgcePer10kYuan is the energy use per 10 000 yuan of output (kgce).
	EnergyKgcePer10kYuan float64 `json:"energy_kgce_per_10k_yuan"`
	// WaterM3Per10kYuan is the fresh-water intake per 10 000 yuan of output (m³).
	WaterM3Per10kYuan float64 `json:"water_m3_per_10k_yuan"`
}

// Targets are the programme targets of a region (万千百十).
type Targets struct {
	SmartEquipment       float64 `json:"smart_equipment" yaml:"smart_equipment"`
	DigitalWorkshops     float64 `json:"digital_workshops" yaml:"digital_workshops"`
	SmartEquipmentMakers float64 `json:"smart_equipment_makers" yaml:"smart_equipment_makers"`
	SmartBases           float64 `json:"smart_bases" yaml:"smart_bases"`
}

// Region is an administrative division.
type Region struct {
	Code  string
	Name  string
	Level Level
	// Parent is the parent region's code, "" for a province.
	Parent string
	// Baseline is nil when the registry gives none for this region.
	Baseline *Baseline
	// Targets is nil when the registry gives none for this region.
	Targets *Targets
	// Pos is where the region was defined ("registry.yaml:12").
	Pos string
}

// Park is an industrial park; a designated base (智能制造基地) counts for the 十
// programme.
type Park struct {
	ID             string
	Name           string
	Region         string
	DesignatedBase bool
	Pos            string
}

// Enterprise is an enterprise identified by its unified social credit code.
type Enterprise struct {
	ID     string
	Name   string
	Region string
	// Park is "" for an enterprise outside any park.
	Park string
	// SmartEquipmentMaker marks a registered smart-equipment maker (百 programme).
	SmartEquipmentMaker bool
	// Vendors are the device "vendor" tag values naming this maker; default its ID.
	Vendors []string
	// Industry is the enterprise's class of GB/T 4754-2017 with its section letter
	// ("C3411"), "" when the registry gives none (then it is in no leader ranking).
	Industry string
	// ValueAddedRate is the share of output value that is value added (增加值率) used
	// for its intensities per value added, in (0, 1]; 0 when unknown (no rate and no
	// industry). ValueAddedRateFrom says where it came from: RateFromEnterprise, or
	// "value_added_rates C34" (the province's table, by the most precise code
	// covering the industry), or "default C34" (the documented national table).
	ValueAddedRate     float64
	ValueAddedRateFrom string
	Pos                string
}

// RateFromEnterprise marks a value-added rate given on the enterprise itself.
const RateFromEnterprise = "enterprise"

// Workshop is a workshop with a gateway; ID matches the gateway's "workshop" tag.
type Workshop struct {
	ID         string
	Name       string
	Enterprise string
	// Region and Park default to the enterprise's.
	Region string
	Park   string
	Pos    string
}

// Registry is a validated, immutable hierarchy.
type Registry struct {
	regions     map[string]*Region
	parks       map[string]*Park
	enterprises map[string]*Enterprise
	workshops   map[string]*Workshop
	vendors     map[string]*Enterprise
	children    map[string][]string
	rates       map[string]float64 // value_added_rates: canonical industry code → rate

	regionList     []*Region
	parkList       []*Park
	enterpriseList []*Enterprise
	workshopList   []*Workshop
}

// Regions returns every region, sorted by code.
func (r *Registry) Regions() []*Region { return r.regionList }

// Parks returns every park, sorted by id.
func (r *Registry) Parks() []*Park { return r.parkList }

// Enterprises returns every enterprise, sorted by id.
func (r *Registry) Enterprises() []*Enterprise { return r.enterpriseList }

// Workshops returns every workshop, sorted by id.
func (r *Registry) Workshops() []*Workshop { return r.workshopList }

// Region returns the region with the code, or nil.
func (r *Registry) Region(code string) *Region { return r.regions[code] }

// Park returns the park with the id, or nil.
func (r *Registry) Park(id string) *Park { return r.parks[id] }

// Enterprise returns the enterprise with the id, or nil.
func (r *Registry) Enterprise(id string) *Enterprise { return r.enterprises[id] }

// Workshop returns the workshop with the id, or nil.
func (r *Registry) Workshop(id string) *Workshop { return r.workshops[id] }

// MakerByVendor returns the smart-equipment maker a device "vendor" tag value names,
// or nil.
func (r *Registry) MakerByVendor(vendor string) *Enterprise { return r.vendors[vendor] }

// IndustryValueAddedRate returns the value-added rate of an industry class
// ("C3411"): the province's value_added_rates entry for the most precise code covering
// it (class, group, division, section), else the documented default of its division;
// and where it came from ("value_added_rates C34", "default C34"). 0 and "" for a code
// that is not a valid class.
func (r *Registry) IndustryValueAddedRate(class string) (float64, string) {
	if len(class) != 5 {
		return 0, ""
	}
	for n := len(class); n >= 1; n-- {
		if f, ok := r.rates[class[:n]]; ok {
			return f, "value_added_rates " + class[:n]
		}
	}
	div, err := strconv.Atoi(class[1:3])
	if err != nil || DefaultValueAddedRate(div) == 0 {
		return 0, ""
	}
	return DefaultValueAddedRate(div), "default " + class[:3]
}

// Children returns the codes of the region's direct sub-regions, sorted.
func (r *Registry) Children(code string) []string { return r.children[code] }

// Roots returns the codes of the regions without a parent (provinces), sorted.
func (r *Registry) Roots() []string { return r.children[""] }

// Within reports whether region code lies in the subtree of ancestor (a region is
// within itself).
func (r *Registry) Within(code, ancestor string) bool {
	for code != "" {
		if code == ancestor {
			return true
		}
		reg := r.regions[code]
		if reg == nil {
			return false
		}
		code = reg.Parent
	}
	return false
}

// Ancestors returns code and its ancestors, nearest first ("360102", "360100",
// "360000").
func (r *Registry) Ancestors(code string) []string {
	var out []string
	for code != "" {
		reg := r.regions[code]
		if reg == nil {
			break
		}
		out = append(out, code)
		code = reg.Parent
	}
	return out
}

// Subtree returns code and all its descendants, in depth-first code order.
func (r *Registry) Subtree(code string) []string {
	if r.regions[code] == nil {
		return nil
	}
	out := []string{code}
	for _, c := range r.children[code] {
		out = append(out, r.Subtree(c)...)
	}
	return out
}

// BaselineFor returns the baseline of the region or, when it has none, of its nearest
// ancestor with one, and the code of the region it came from; nil and "" when none.
func (r *Registry) BaselineFor(code string) (*Baseline, string) {
	for _, c := range r.Ancestors(code) {
		if b := r.regions[c].Baseline; b != nil {
			return b, c
		}
	}
	return nil, ""
}

func (r *Registry) index() {
	r.children = map[string][]string{}
	r.regionList = r.regionList[:0]
	for _, reg := range r.regions {
		r.regionList = append(r.regionList, reg)
		r.children[reg.Parent] = append(r.children[reg.Parent], reg.Code)
	}
	sort.Slice(r.regionList, func(i, j int) bool { return r.regionList[i].Code < r.regionList[j].Code })
	for _, c := range r.children {
		sort.Strings(c)
	}
	r.parkList = r.parkList[:0]
	for _, p := range r.parks {
		r.parkList = append(r.parkList, p)
	}
	sort.Slice(r.parkList, func(i, j int) bool { return r.parkList[i].ID < r.parkList[j].ID })
	r.enterpriseList = r.enterpriseList[:0]
	for _, e := range r.enterprises {
		r.enterpriseList = append(r.enterpriseList, e)
	}
	sort.Slice(r.enterpriseList, func(i, j int) bool { return r.enterpriseList[i].ID < r.enterpriseList[j].ID })
	r.workshopList = r.workshopList[:0]
	for _, w := range r.workshops {
		r.workshopList = append(r.workshopList, w)
	}
	sort.Slice(r.workshopList, func(i, j int) bool { return r.workshopList[i].ID < r.workshopList[j].ID })
}
