package api

import (
	"fmt"
	"iter"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/gateway/aggregator/rules"
	"github.com/ganlink/ganlink/gateway/aggregator/service"
	"github.com/ganlink/ganlink/gateway/schema"
)

func target(t *registry.Targets, f func(*registry.Targets) float64) num {
	if t == nil {
		return num(math.NaN())
	}
	return num(f(t))
}

var (
	tSmart  = func(t *registry.Targets) float64 { return t.SmartEquipment }
	tShops  = func(t *registry.Targets) float64 { return t.DigitalWorkshops }
	tMakers = func(t *registry.Targets) float64 { return t.SmartEquipmentMakers }
	tBases  = func(t *registry.Targets) float64 { return t.SmartBases }
)

func (a *API) progressRow(r *registry.Region, c *rules.Counts) record {
	t := a.svc.Rules().TargetsFor(r)
	return record{{"region", r.Code}, {"name", r.Name}, {"level", r.Level.String()},
		{schema.FieldSmartEquipment, num(c.SmartEquipment)}, {schema.FieldSmartEquipmentTarget, target(t, tSmart)},
		{schema.FieldDigitalWorkshops, c.DigitalWorkshops}, {schema.FieldDigitalWorkshopsTarget, target(t, tShops)},
		{schema.FieldSmartEquipmentMakers, c.SmartEquipmentMakers}, {schema.FieldSmartEquipmentMakersTarget, target(t, tMakers)},
		{schema.FieldSmartBases, c.SmartBases}, {schema.FieldSmartBasesTarget, target(t, tBases)}}
}

// programme: progress of the region (default: the token's) and of its direct
// sub-regions, the makers and bases within it.
func (a *API) programme(rq *request) (*result, error) {
	region, err := rq.regionParam()
	if err != nil {
		return nil, err
	}
	p, err := a.period(rq, false)
	if err != nil {
		return nil, err
	}
	ev, reg, err := a.svc.Programme(rq.ctx, p)
	if err != nil {
		return nil, err
	}
	if reg.Region(region.Code) == nil {
		return nil, errorf(http.StatusNotFound, "unknown region %q", region.Code)
	}
	c := ev.ByRegion[region.Code]
	t := a.svc.Rules().TargetsFor(region)
	progress := func(v num, tf func(*registry.Targets) float64) record {
		return record{{"value", v}, {"target", target(t, tf)}}
	}
	env := a.periodRecord(p)
	env.add("region", regionRecord(region))
	env.add("progress", record{
		{schema.FieldSmartEquipment, progress(num(c.SmartEquipment), tSmart)},
		{schema.FieldDigitalWorkshops, progress(num(c.DigitalWorkshops), tShops)},
		{schema.FieldSmartEquipmentMakers, progress(num(c.SmartEquipmentMakers), tMakers)},
		{schema.FieldSmartBases, progress(num(c.SmartBases), tBases)},
	})
	rc := a.svc.Rules()
	env.add("rules", record{{"digital_equipment_ratio", num(rc.DigitalEquipmentRatio)}, {schema.FieldCNCRate, num(rc.CNCRate)},
		{schema.FieldNetworkedRate, num(rc.NetworkedRate)}, {"data_coverage", num(rc.DataCoverage)},
		{"base_min_digital_workshops", rc.BaseMinDigitalWorkshops}})
	makers := []record{}
	for _, m := range ev.Makers {
		if reg.Within(m.Enterprise.Region, region.Code) {
			vendors := m.Vendors
			if vendors == nil {
				vendors = []string{}
			}
			makers = append(makers, record{{"enterprise", m.Enterprise.ID}, {"name", m.Enterprise.Name},
				{"region", m.Enterprise.Region}, {"in_service", m.InService}, {"vendors_in_service", vendors}})
		}
	}
	env.add("makers", makers)
	bases := []record{}
	for _, b := range ev.Bases {
		if reg.Within(b.Park.Region, region.Code) {
			bases = append(bases, record{{"park", b.Park.ID}, {"name", b.Park.Name}, {"region", b.Park.Region},
				{schema.FieldDigitalWorkshops, b.DigitalWorkshops}, {"qualified", b.Qualified}})
		}
	}
	env.add("bases", bases)
	if region.Parent == "" {
		u := ev.Unregistered
		if u == nil {
			u = []string{}
		}
		env.add("unregistered_workshops", u)
	}
	rows := []record{a.progressRow(region, c)}
	for _, code := range reg.Children(region.Code) {
		rows = append(rows, a.progressRow(reg.Region(code), ev.ByRegion[code]))
	}
	return &result{envelope: env, rowsKey: "regions", rows: slices.Values(rows)}, nil
}

// kpiFields appends the KPI figures of k.
func kpiFields(r record, k *rules.KPI) record {
	r = append(r, record{
		{schema.FieldEquipmentTotal, num(k.EquipmentTotal)}, {schema.FieldEquipmentKey, num(k.EquipmentKey)},
		{schema.FieldEquipmentCNCKey, num(k.EquipmentCNCKey)}, {schema.FieldEquipmentDigital, num(k.EquipmentDigital)},
		{schema.FieldCNCRate, num(k.CNCRate)}, {schema.FieldNetworkedRate, num(k.NetworkedRate)},
		{schema.FieldSmartEquipmentInService, num(k.SmartEquipmentInService)},
		{schema.FieldParts, num(k.Parts)}, {schema.FieldOutputValueYuan, num(k.OutputValueYuan)},
		{schema.FieldEnergyKWh, num(k.EnergyKWh)}, {schema.FieldEnergyTce, num(k.EnergyTce)}, {schema.FieldWaterM3, num(k.WaterM3)},
		{"suspect_steps", num(k.SuspectSteps)},
		{schema.FieldEnergyKgcePer10kYuan, num(k.EnergyKgcePer10kYuan)}, {schema.FieldWaterM3Per10kYuan, num(k.WaterM3Per10kYuan)},
	}...)
	n := num(math.NaN())
	bl := record{{"baseline_region", ""}, {"baseline_year", n}, {"baseline_energy_kgce_per_10k_yuan", n},
		{"baseline_water_m3_per_10k_yuan", n}}
	if b := k.Baseline; b != nil {
		bl = record{{"baseline_region", k.BaselineRegion}, {"baseline_year", num(b.Year)},
			{"baseline_energy_kgce_per_10k_yuan", num(b.EnergyKgcePer10kYuan)},
			{"baseline_water_m3_per_10k_yuan", num(b.WaterM3Per10kYuan)}}
	}
	r = append(r, bl...)
	return append(r, record{
		{schema.FieldEnergyIntensityChange, num(k.EnergyChange)}, {schema.FieldEnergyIntensityChangeTarget, num(k.EnergyTarget)},
		{schema.FieldEnergyTargetMet, optBool{k.EnergyMet, !math.IsNaN(k.EnergyChange)}},
		{schema.FieldWaterIntensityChange, num(k.WaterChange)}, {schema.FieldWaterIntensityChangeTarget, num(k.WaterTarget)},
		{schema.FieldWaterTargetMet, optBool{k.WaterMet, !math.IsNaN(k.WaterChange)}},
	}...)
}

// kpiRows yields one row per key and bucket, built as it is written (a response's
// memory does not grow with its rows).
func (a *API) kpiRows(p service.Period, keys []string, head func(string) record, kpis map[string][]rules.KPI) iter.Seq[record] {
	loc := a.svc.Location()
	return func(yield func(record) bool) {
		for _, key := range keys {
			for i, k := range kpis[key] {
				from, to := p.Bucket(i)
				r := head(key)
				r = append(r, kv{"from", from.In(loc)}, kv{"to", to.In(loc)},
					kv{schema.FieldWorkshops, k.Workshops}, kv{schema.FieldWorkshopsReporting, k.Reporting})
				if !yield(kpiFields(r, &k)) {
					return
				}
			}
		}
	}
}

func kpiTemplate(head record) record {
	k := (&rules.Config{}).Rollup(nil)
	r := append(head, kv{"from", ""}, kv{"to", ""}, kv{schema.FieldWorkshops, 0}, kv{schema.FieldWorkshopsReporting, 0})
	return kpiFields(r, &k)
}

// kpiRegions: roll-ups of the region (default: the token's) and every region below it,
// optionally of one level only.
func (a *API) kpiRegions(rq *request) (*result, error) {
	region, err := rq.regionParam()
	if err != nil {
		return nil, err
	}
	var level registry.Level
	if s := rq.param("level"); s != "" {
		var ok bool
		if level, ok = registry.ParseLevel(s); !ok {
			return nil, errorf(http.StatusBadRequest, "level: %q is not province, city or county", clip(s))
		}
	}
	reg := rq.reg
	var codes []string
	for _, c := range reg.Subtree(region.Code) {
		if level == 0 || reg.Region(c).Level == level {
			codes = append(codes, c)
		}
	}
	p, snap, err := a.snapshot(rq, true, len(codes), "regions")
	if err != nil {
		return nil, err
	}
	kpis := a.svc.Rollups(reg, snap, service.ByRegion, codes)
	head := func(c string) record {
		r := reg.Region(c)
		return record{{"region", r.Code}, {"name", r.Name}, {"level", r.Level.String()}}
	}
	env := a.periodRecord(p)
	env.add("region", regionRecord(region))
	return &result{envelope: env, rowsKey: "rows", rows: a.kpiRows(p, codes, head, kpis),
		template: kpiTemplate(record{{"region", ""}, {"name", ""}, {"level", ""}})}, nil
}

// kpiParks: roll-ups of the parks within the region (default: the token's).
func (a *API) kpiParks(rq *request) (*result, error) {
	region, err := rq.regionParam()
	if err != nil {
		return nil, err
	}
	park, err := rq.parkParam()
	if err != nil {
		return nil, err
	}
	reg := rq.reg
	var ids []string
	for _, pk := range reg.Parks() {
		if reg.Within(pk.Region, region.Code) && (park == nil || pk == park) {
			ids = append(ids, pk.ID)
		}
	}
	p, snap, err := a.snapshot(rq, true, len(ids), "parks")
	if err != nil {
		return nil, err
	}
	kpis := a.svc.Rollups(reg, snap, service.ByPark, ids)
	head := func(id string) record {
		pk := reg.Park(id)
		return record{{"park", pk.ID}, {"name", pk.Name}, {"region", pk.Region}, {"designated_base", pk.DesignatedBase}}
	}
	env := a.periodRecord(p)
	env.add("region", regionRecord(region))
	return &result{envelope: env, rowsKey: "rows", rows: a.kpiRows(p, ids, head, kpis),
		template: kpiTemplate(record{{"park", ""}, {"name", ""}, {"region", ""}, {"designated_base", false}})}, nil
}

// kpiEnterprises: roll-ups of the enterprises within the region (default: the token's),
// optionally of one park or one enterprise.
func (a *API) kpiEnterprises(rq *request) (*result, error) {
	region, err := rq.regionParam()
	if err != nil {
		return nil, err
	}
	park, err := rq.parkParam()
	if err != nil {
		return nil, err
	}
	ent, err := rq.enterpriseParam()
	if err != nil {
		return nil, err
	}
	reg := rq.reg
	var ids []string
	for _, e := range reg.Enterprises() {
		if reg.Within(e.Region, region.Code) && (park == nil || e.Park == park.ID) && (ent == nil || e == ent) {
			ids = append(ids, e.ID)
		}
	}
	p, snap, err := a.snapshot(rq, true, len(ids), "enterprises")
	if err != nil {
		return nil, err
	}
	kpis := a.svc.Rollups(reg, snap, service.ByEnterprise, ids)
	head := func(id string) record {
		e := reg.Enterprise(id)
		return record{{"enterprise", e.ID}, {"name", e.Name}, {"region", e.Region}, {"park", e.Park},
			{"smart_equipment_maker", e.SmartEquipmentMaker}}
	}
	env := a.periodRecord(p)
	env.add("region", regionRecord(region))
	return &result{envelope: env, rowsKey: "rows", rows: a.kpiRows(p, ids, head, kpis),
		template: kpiTemplate(record{{"enterprise", ""}, {"name", ""}, {"region", ""}, {"park", ""}, {"smart_equipment_maker", false}})}, nil
}

var criterionNames = []string{rules.CritDigitalEquipmentRatio, rules.CritCNCRate, rules.CritNetworkedRate, rules.CritDataCoverage}

func workshopRow(w *registry.Workshop, s *rules.WorkshopStats, expected int, q rules.Qualification, k *rules.KPI) record {
	missed := q.Missed
	if missed == nil {
		missed = []string{}
	}
	r := record{{"workshop", w.ID}, {"name", w.Name}, {"enterprise", w.Enterprise}, {"park", w.Park}, {"region", w.Region},
		{"windows", num(s.Windows)}, {"window_coverage", num(s.WindowCoverage(expected))},
		{"unobserved_share", num(rules.Round9(s.UnobservedShare()))}, {"coverage", num(s.Coverage(expected))},
		{"qualified", q.Qualified}, {"missed", missed}}
	var crit record
	for _, c := range q.Criteria {
		crit.add(c.Name, record{{"value", num(c.Value)}, {"threshold", num(c.Threshold)}, {"met", c.Met},
			{"margin", num(c.Margin)}, {"reason", c.Reason}})
	}
	r.add("criteria", crit)
	return kpiFields(r, k)
}

// workshops: every registered workshop within the region (default: the token's), with
// its qualification and KPIs over the period; filters by park, enterprise, qualified
// and a missed criterion.
func (a *API) workshops(rq *request) (*result, error) {
	region, err := rq.regionParam()
	if err != nil {
		return nil, err
	}
	park, err := rq.parkParam()
	if err != nil {
		return nil, err
	}
	ent, err := rq.enterpriseParam()
	if err != nil {
		return nil, err
	}
	qualified := rq.param("qualified")
	if qualified != "" && qualified != "true" && qualified != "false" {
		return nil, errorf(http.StatusBadRequest, "qualified: %q is not true or false", clip(qualified))
	}
	missed := rq.param("missed")
	if missed != "" && !contains(criterionNames, missed) {
		return nil, errorf(http.StatusBadRequest, "missed: %q is not one of %s", clip(missed), strings.Join(criterionNames, ", "))
	}
	reg := rq.reg
	var shops []*registry.Workshop
	for _, w := range reg.Workshops() {
		if reg.Within(w.Region, region.Code) && (park == nil || w.Park == park.ID) && (ent == nil || w.Enterprise == ent.ID) {
			shops = append(shops, w)
		}
	}
	p, snap, err := a.snapshot(rq, false, len(shops), "workshops")
	if err != nil {
		return nil, err
	}
	rc := a.svc.Rules()
	var rows []record
	for _, w := range shops {
		s := snap.Shops[0][w.ID]
		if s == nil {
			s = rules.NoData()
		}
		qu := rc.Qualify(s, snap.Expected[0])
		if (qualified == "true" && !qu.Qualified) || (qualified == "false" && qu.Qualified) ||
			(missed != "" && !contains(qu.Missed, missed)) {
			continue
		}
		k := a.svc.WorkshopKPI(reg, snap, w, 0)
		row := workshopRow(w, s, snap.Expected[0], qu, &k)
		row.add("conflict", conflictRecord(snap.Conflicts[w.ID], a.svc.Location()))
		row.add("corrections", appliedRecord(snap.Applied[w.ID]))
		rows = append(rows, row)
	}
	env := a.periodRecord(p)
	env.add("region", regionRecord(region))
	env.add("expected_windows", snap.Expected[0])
	k := rc.Rollup(nil)
	template := workshopRow(&registry.Workshop{}, rules.NoData(), 1, rc.Qualify(rules.NoData(), 1), &k)
	template.add("conflict", conflictRecord(nil, nil))
	template.add("corrections", appliedRecord(nil))
	return &result{envelope: env, rowsKey: "rows", rows: slices.Values(rows), template: template}, nil
}

// regions: the registry's regions within the region (default: the token's).
func (a *API) regions(rq *request) (*result, error) {
	region, err := rq.regionParam()
	if err != nil {
		return nil, err
	}
	row := func(r *registry.Region) record {
		n := num(math.NaN())
		out := record{{"region", r.Code}, {"name", r.Name}, {"level", r.Level.String()}, {"parent", r.Parent}}
		if b := r.Baseline; b != nil {
			return append(out, kv{"baseline_year", num(b.Year)}, kv{"baseline_energy_kgce_per_10k_yuan", num(b.EnergyKgcePer10kYuan)},
				kv{"baseline_water_m3_per_10k_yuan", num(b.WaterM3Per10kYuan)})
		}
		return append(out, kv{"baseline_year", n}, kv{"baseline_energy_kgce_per_10k_yuan", n}, kv{"baseline_water_m3_per_10k_yuan", n})
	}
	var rows []record
	for _, c := range rq.reg.Subtree(region.Code) {
		rows = append(rows, row(rq.reg.Region(c)))
	}
	return &result{envelope: record{{"region", regionRecord(region)}}, rowsKey: "rows", rows: slices.Values(rows),
		template: row(&registry.Region{})}, nil
}

// appliedRecord shows the corrections that left windows of a workshop out.
func appliedRecord(ap *service.Applied) record {
	if ap == nil {
		return record{{"ids", []string{}}, {"windows_left_out", 0}}
	}
	return record{{"ids", ap.IDs}, {"windows_left_out", num(ap.WindowsLeftOut)}}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// snapshot reads the request's period (with buckets when withStep) and the TSDB data
// for it, without the vendor counts. groups (of the kind what) is the number of rows per
// bucket the response will have: a request for more than MaxRows rows is refused before the TSDB
// is asked.
func (a *API) snapshot(rq *request, withStep bool, groups int, what string) (service.Period, *service.Snapshot, error) {
	p, err := a.period(rq, withStep)
	if err != nil {
		return service.Period{}, nil, err
	}
	if n := groups * p.Buckets(); n > a.opt.MaxRows {
		return service.Period{}, nil, &apiError{code: http.StatusBadRequest, reason: rejectTooManyRows,
			msg: fmt.Sprintf("the response would have %d rows (%d %s × %d buckets), at most %d: narrow the selection, raise step or shorten the period",
				n, groups, what, p.Buckets(), a.opt.MaxRows)}
	}
	snap, err := a.svc.Snapshot(rq.ctx, p, false)
	if err != nil {
		return service.Period{}, nil, err
	}
	return p, snap, nil
}
